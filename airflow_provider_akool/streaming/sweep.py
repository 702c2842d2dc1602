"""Close sessions left open (status 1 queueing / 2 processing) - they hold pre-charged credits.

akool-api.md §2.7 / §8.4: list ``status=1`` and ``status=2`` and close leftovers. Filters: only
given ids (the ones a deployment recorded as its own), and only sessions older than N minutes -
which needs a creation time in the list response. The documented SessionResponse has none, so a
session whose age cannot be told is skipped (reported), never closed on a guess.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_akool.client.errors import (
    AkoolAuthError,
    AkoolError,
    AkoolPermissionError,
    AkoolQuotaError,
)
from airflow_provider_akool.client.models.sessions import OPEN_SESSION_STATUSES
from airflow_provider_akool.streaming.lifecycle import Backoff, CloseOutcome, CloseStep, close_steps

if TYPE_CHECKING:
    from airflow_provider_akool.client import AkoolClient
    from airflow_provider_akool.client.models import Session

__all__ = ["SweepReport", "session_created_at", "sweep_open_sessions"]

log = logging.getLogger(__name__)

# The account, not one session: no other close would do better (the caller fails fast).
_ACCOUNT_ERRORS: tuple[type[AkoolError], ...] = (AkoolAuthError, AkoolPermissionError, AkoolQuotaError)

# Field names a creation time might come under (none is documented; §2.4 SessionResponse).
_TIME_FIELDS = ("create_time", "created_at", "createdAt", "create_at", "createTime", "start_time")


@dataclass
class SweepReport:
    """What a sweep saw and did. Every entry is ``{"session_id", "status", "reason"?}``."""

    dry_run: bool
    considered: int = 0
    closed: list[dict[str, Any]] = field(default_factory=list)
    would_close: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "considered": self.considered,
            "closed": self.closed,
            "would_close": self.would_close,
            "skipped": self.skipped,
            "failed": self.failed,
        }


def session_created_at(session: Session) -> float | None:
    """Epoch seconds the session was created, if the response carries a time field we recognise."""
    extra = session.model_extra or {}
    for name in _TIME_FIELDS:
        value = extra.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value) / 1000.0 if value > 1e11 else float(value)  # ms or s
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _open_sessions(client: AkoolClient) -> dict[str, Session]:
    found: dict[str, Session] = {}
    for status in OPEN_SESSION_STATUSES:
        for session in client.paginate(client.list_sessions, status=int(status)):
            found.setdefault(session.id, session)
    return found


def _close(client: AkoolClient, session_id: str, attempts: int, backoff: float) -> CloseOutcome:
    """Blocking driver of the shared close-and-confirm steps (``lifecycle.close_steps``)."""
    steps = close_steps(session_id, attempts=attempts, backoff=backoff, fatal=_ACCOUNT_ERRORS)
    reply: Any = None
    failure: AkoolError | None = None
    try:
        while True:
            step = steps.send(reply) if failure is None else steps.throw(failure)
            reply, failure = None, None
            if isinstance(step, Backoff):
                time.sleep(step.seconds)
                continue
            call = client.close_session if step is CloseStep.CLOSE else client.get_session
            try:
                reply = call(session_id)
            except AkoolError as exc:
                failure = exc
    except StopIteration as stop:
        outcome: CloseOutcome = stop.value
        return outcome


def sweep_open_sessions(
    client: AkoolClient,
    *,
    only_ids: Collection[str] | None = None,
    older_than_seconds: float | None = None,
    dry_run: bool = False,
    attempts: int = 3,
    backoff: float = 0.5,
    now: Callable[[], float] = time.time,
) -> SweepReport:
    """Close open sessions, optionally only ``only_ids`` and only those older than a threshold.

    ``only_ids`` None means every open session of the account; an empty collection means none.
    A close counts only when confirmed (``lifecycle.close_steps``: by the close reply, not by a
    status alone); each session gets ``attempts`` tries, ``backoff`` seconds apart, doubling.
    An account-level error (wrong key, no permission, no credit) propagates, also during a close.
    """
    report = SweepReport(dry_run=dry_run)
    wanted = None if only_ids is None else set(only_ids)
    if wanted is not None and not wanted:
        return report
    sessions = _open_sessions(client)
    for session_id, session in sessions.items():
        if wanted is not None and session_id not in wanted:
            continue
        report.considered += 1
        entry: dict[str, Any] = {"session_id": session_id, "status": session.status}
        if older_than_seconds is not None:
            created = session_created_at(session)
            if created is None:
                report.skipped.append({**entry, "reason": "age unknown: the API gave no creation time"})
                continue
            age = now() - created
            entry["age_seconds"] = round(age, 1)
            if age < older_than_seconds:
                report.skipped.append({**entry, "reason": "younger than the threshold"})
                continue
        if dry_run:
            report.would_close.append(entry)
            continue
        outcome = _close(client, session_id, attempts, backoff)
        if outcome.closed:
            report.closed.append(entry)
            log.info("Closed stale session %s (status %s)", session_id, session.status)
        else:
            report.failed.append({**entry, "reason": outcome.error})
            log.error("Could not close stale session %s: %s", session_id, outcome.error)
    return report
