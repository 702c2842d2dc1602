"""Retelling progress in Airflow terms: task log lines, XCom pushes and the session ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_akool.operators._session_ledger import SessionLedger
    from airflow_provider_akool.streaming.transcript import SegmentRecord, SessionRecord

SESSION_IDS_KEY = "session_ids"
SESSION_ID_KEY = "session_id"


class TaskProgress:
    """Runner progress -> task log lines and XCom (session ids are pushed the moment they exist)."""

    def __init__(self, operator: Any, context: Context) -> None:
        self._log = operator.log
        self._ti = context["ti"]
        self._ids: list[str] = []
        self._ledger: SessionLedger | None = None
        self._unclosed: dict[str, None] = {}  # earlier tries' unconfirmed ids, then this try's open ones

    def track(self, ledger: SessionLedger, carried: list[str]) -> None:
        """Keep ``ledger`` up to date with the sessions not confirmed closed, starting with ``carried``."""
        self._ledger = ledger
        self._unclosed = dict.fromkeys(carried)

    def save_ledger(self) -> None:
        if self._ledger is not None:
            self._ledger.save(self._unclosed)

    def session_opened(self, session_id: str, index: int, count: int) -> None:
        self._ids.append(session_id)
        self._ti.xcom_push(key=SESSION_IDS_KEY, value=list(self._ids))
        self._ti.xcom_push(key=SESSION_ID_KEY, value=session_id)
        self._unclosed[session_id] = None
        self.save_ledger()  # a SIGKILL from here on: the next try closes it (XCom is cleared by then)
        self._log.info("Session %d/%d opened: %s", index + 1, count, session_id)

    def segment_finished(self, record: SegmentRecord, done: int, total: int) -> None:
        took = (record.finished_at or 0.0) - (record.sent_at or 0.0)
        self._log.info(
            "Spoken %d/%d: segment %r (%d chars, %d chunk(s)) in %.1f s [%s]",
            done, total, record.id, len(record.text), record.chunks, took, record.completion,
        )

    def session_closed(self, record: SessionRecord) -> None:
        close = record.close
        if close.get("closed"):
            self._log.info("Session %s closed (status %s)", record.session_id, close.get("confirmed_status"))
            self._unclosed.pop(str(record.session_id), None)
            self.save_ledger()
        else:
            self._log.error("Session %s could NOT be closed: %s", record.session_id, close.get("error"))
