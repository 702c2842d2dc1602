"""Retelling progress in Airflow terms: task log lines and XCom pushes.

The runner logs each session's opening and closing itself (once); this adds the segment lines and
pushes the session ids from the run's :class:`~airflow_provider_akool.sessions.book.SessionBook`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_akool.sessions.keys import SESSION_ID_KEY, SESSION_IDS_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_akool.sessions.book import SessionBook
    from airflow_provider_akool.streaming.transcript import SegmentRecord, SessionRecord


class TaskProgress:
    """Runner progress -> task log lines and XCom (session ids are pushed the moment they exist)."""

    def __init__(self, operator: Any, context: Context, book: SessionBook) -> None:
        self._log = operator.log
        self._ti = context["ti"]
        self._book = book

    def session_opened(self, session_id: str, index: int, count: int) -> None:
        self._ti.xcom_push(key=SESSION_IDS_KEY, value=list(self._book.opened))
        self._ti.xcom_push(key=SESSION_ID_KEY, value=session_id)

    def segment_finished(self, record: SegmentRecord, done: int, total: int) -> None:
        took = (record.finished_at or 0.0) - (record.sent_at or 0.0)
        self._log.info(
            "Spoken %d/%d: segment %r (%d chars, %d chunk(s)) in %.1f s [%s]",
            done,
            total,
            record.id,
            len(record.text),
            record.chunks,
            took,
            record.completion,
        )

    def session_closed(self, record: SessionRecord) -> None:
        return None  # logged by the runner; the book has already updated the ledger
