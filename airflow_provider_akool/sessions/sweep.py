"""Close sessions left open (status 1 queueing / 2 processing) - they hold pre-charged credits.

docs/reference/akool-api.md §2.7 / §8.4: list ``status=1`` and ``status=2`` and close leftovers. Filters: only
given ids (the ones a deployment recorded as its own), and only sessions older than N minutes -
which needs a creation time in the list response. The documented SessionResponse has none, so a
session whose age cannot be told is skipped (reported), never closed on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_akool.client.calls import Steps
from airflow_provider_akool.client.errors import ACCOUNT_ERRORS
from airflow_provider_akool.client.operations import AkoolOperations
from airflow_provider_akool.sessions.close import close_and_confirm
from airflow_provider_akool.sessions.drive import SYSTEM_CLOCK, Clock, run_sync
from airflow_provider_akool.sessions.listing import open_sessions

if TYPE_CHECKING:
    from airflow_provider_akool.client import AkoolClient
    from airflow_provider_akool.client.models import Session

__all__ = ["SweepReport", "session_created_at", "sweep", "sweep_open_sessions"]

log = logging.getLogger(__name__)

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


def sweep(
    ops: AkoolOperations,
    *,
    only_ids: Collection[str] | None,
    older_than_seconds: float | None,
    dry_run: bool,
    attempts: int,
    backoff: float,
    now: Callable[[], float],
) -> Steps[SweepReport]:
    """The sweep as steps (see :func:`sweep_open_sessions`)."""
    report = SweepReport(dry_run=dry_run)
    wanted = None if only_ids is None else set(only_ids)
    if wanted is not None and not wanted:
        return report
    sessions = yield from open_sessions(ops)
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
        outcome = yield from close_and_confirm(
            ops, session_id, attempts=attempts, backoff=backoff, fatal=ACCOUNT_ERRORS
        )
        if outcome.closed:
            report.closed.append(entry)
            log.info("Closed stale session %s (status %s)", session_id, session.status)
        else:
            report.failed.append({**entry, "reason": outcome.error})
            log.error("Could not close stale session %s: %s", session_id, outcome.error)
    return report


def sweep_open_sessions(
    client: AkoolClient,
    *,
    only_ids: Collection[str] | None = None,
    older_than_seconds: float | None = None,
    dry_run: bool = False,
    attempts: int = 3,
    backoff: float = 0.5,
    clock: Clock = SYSTEM_CLOCK,
) -> SweepReport:
    """Close open sessions, optionally only ``only_ids`` and only those older than a threshold.

    ``only_ids`` None means every open session of the account; an empty collection means none.
    A close counts only when confirmed (``close.close_and_confirm``: by the close reply, not by a
    status alone); each session gets ``attempts`` tries, ``backoff`` seconds apart, doubling.
    An account-level error (wrong key, no permission, no credit) propagates, also during a close.
    """
    steps = sweep(
        client,
        only_ids=only_ids,
        older_than_seconds=older_than_seconds,
        dry_run=dry_run,
        attempts=attempts,
        backoff=backoff,
        now=clock.wall,
    )
    return run_sync(client, steps, clock)
