"""Close a session and confirm it: written once, driven blocking (sweeper) and async (runner).

A close is confirmed by the close reply: code 1000, or 1216/1219 (no such session / already closed,
which the client reports as ``already_closed``). After a 1000 reply the detail is read once more:
status 1/2 means the close has not taken effect, so it is sent again; any other status, or a
detail that fails, leaves the reply as the confirmation. A status that is not open is never taken
as confirmation on its own: after a close that failed the attempt is repeated, because status 3 may
mean a session still running (docs/reference/akool-api.md §2.5, §3).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_akool.client.calls import Pause, Steps
from airflow_provider_akool.client.errors import ACCOUNT_ERRORS, AkoolClosedError, AkoolError, AkoolNotFoundError
from airflow_provider_akool.client.operations import AkoolOperations
from airflow_provider_akool.sessions.drive import SYSTEM_CLOCK, Clock, run_sync, run_to_end

if TYPE_CHECKING:
    from airflow_provider_akool.client import AkoolClient, AsyncAkoolClient

__all__ = ["CloseOutcome", "aclose_session", "close_and_confirm", "close_session"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CloseOutcome:
    """How closing one session went. ``closed`` is False only when no attempt was confirmed.

    ``already_closed``: Akool answered 1216/1219. ``confirmed_status``: the status the detail read
    after a 1000 reply (None when not read). ``error``: the last failure, or a note on a close
    confirmed by its reply whose detail could not be read. ``cancelled``: a cancellation arrived
    while closing (the async driver finished the close first).
    """

    session_id: str
    closed: bool
    already_closed: bool = False
    attempts: int = 0
    confirmed_status: int | None = None
    error: str | None = None
    cancelled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "closed": self.closed,
            "already_closed": self.already_closed,
            "attempts": self.attempts,
            "confirmed_status": self.confirmed_status,
            "error": self.error,
        }


def close_and_confirm(
    ops: AkoolOperations,
    session_id: str,
    *,
    attempts: int,
    backoff: float,
    fatal: tuple[type[AkoolError], ...] = (),
) -> Steps[CloseOutcome]:
    """Up to ``attempts`` closes, ``backoff`` seconds apart and doubling, until one is confirmed.

    Errors of a type in ``fatal`` (the account, not the session) are raised at once; any other
    Akool error counts as a failed attempt.
    """
    error: str | None = None
    for attempt in range(1, attempts + 1):
        try:
            result = yield from AkoolOperations.close_session.steps(ops, session_id)
        except fatal:
            raise
        except AkoolError as exc:
            error = f"close failed: {exc}"
        else:
            if result.already_closed:
                return CloseOutcome(session_id, True, True, attempt)
            try:
                detail = yield from AkoolOperations.get_session.steps(ops, session_id)
            except fatal:
                raise
            except (AkoolNotFoundError, AkoolClosedError):  # 1216/1219 on the detail agree with the reply
                return CloseOutcome(session_id, True, False, attempt)
            except AkoolError as exc:
                return CloseOutcome(session_id, True, False, attempt, None, f"closed, detail not read: {exc}")
            if not detail.is_open:
                return CloseOutcome(session_id, True, False, attempt, detail.status)
            error = f"session still reported open (status {detail.status}) after a successful close reply"
        log.warning("closing session %s failed (attempt %d/%d): %s", session_id, attempt, attempts, error)
        if attempt < attempts:
            yield Pause(backoff * 2 ** (attempt - 1))
    return CloseOutcome(session_id, False, False, attempts, None, error)


def close_session(
    client: AkoolClient,
    session_id: str,
    *,
    attempts: int = 3,
    backoff: float = 0.5,
    fatal: tuple[type[AkoolError], ...] = ACCOUNT_ERRORS,
    clock: Clock = SYSTEM_CLOCK,
) -> CloseOutcome:
    """Close ``session_id`` and confirm it, blocking. Account errors propagate (``fatal``)."""
    steps = close_and_confirm(client, session_id, attempts=attempts, backoff=backoff, fatal=fatal)
    return run_sync(client, steps, clock)


async def aclose_session(
    client: AsyncAkoolClient,
    session_id: str,
    *,
    attempts: int = 4,
    backoff: float = 1.0,
    clock: Clock = SYSTEM_CLOCK,
) -> CloseOutcome:
    """Close ``session_id`` and confirm it; never raises an Akool error, and not even a cancellation.

    Each close call is itself retried by the client's policy. A cancellation arriving meanwhile
    does not stop the attempts: the call it cut short counts as failed, the outcome says
    ``cancelled`` and the caller re-raises the cancellation once the outcome is recorded.
    """
    steps = close_and_confirm(client, session_id, attempts=attempts, backoff=backoff)
    outcome, cancelled = await run_to_end(client, steps, clock)
    return dataclasses.replace(outcome, cancelled=cancelled)
