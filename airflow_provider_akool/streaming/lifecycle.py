"""Open and close Akool sessions so that a cancelled task never leaves a paid session behind.

``open_session`` runs the create call in its own task and shields it: if the caller is cancelled
while the request is in flight, the request still completes and the session it opened (if any)
is closed before the cancellation goes on. ``close_session`` retries, treats 1216/1219 as closed
(the client maps them), confirms with the session detail, and finishes even when the caller is
cancelled meanwhile (the cancellation is re-raised afterwards). ``CreateWatch`` keeps looking for a
session that a create attempt given up on may still open (``client/reconcile.py``): a bounded poll
in the background while the session is used, and one more look when it is closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_akool.client.errors import AkoolError, AkoolNotFoundError
from airflow_provider_akool.client.reconcile import PendingCreates

if TYPE_CHECKING:
    from airflow_provider_akool.client import AsyncAkoolClient
    from airflow_provider_akool.client.models import Session

__all__ = ["CloseOutcome", "CreateWatch", "close_session", "open_session"]

log = logging.getLogger(__name__)

# A create still in flight when the task is cancelled gets this long to land before we give up on it.
CREATE_DRAIN_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class CloseOutcome:
    """How closing one session went. ``closed`` is False only when every attempt failed."""

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


async def open_session(
    client: AsyncAkoolClient, body: dict[str, Any], pending: PendingCreates | None = None
) -> Session:
    """Create a session; if cancelled meanwhile, wait for the create to land and close its session."""
    create = asyncio.ensure_future(client.create_session(**body, pending=pending))
    try:
        return await asyncio.shield(create)
    except asyncio.CancelledError:
        session = await _drain(create)
        if session is not None:
            log.warning("cancelled while session %s was being created; closing it", session.id)
            outcome = await close_session(client, session.id)
            if not outcome.closed:
                log.error("could not close session %s: %s", session.id, outcome.error)
        raise


class CreateWatch:
    """Opens one session and accounts for create attempts that may still open another one.

    When a create attempt was given up on after it may have applied, a bounded poll runs in the
    background (the session is used meanwhile: its duration is already running) and ``finish``
    looks once more. ``leftovers`` are sessions that could not be attributed or closed: for the
    sweeper. On the happy path none of this makes a call.
    """

    def __init__(self, client: AsyncAkoolClient) -> None:
        self._client = client
        self.pending = PendingCreates()
        self._poll: asyncio.Future[PendingCreates] | None = None

    @property
    def leftovers(self) -> list[str]:
        return self.pending.leftovers

    async def open(self, body: dict[str, Any]) -> Session:
        """Create the session; if that fails, settle what its attempts may have opened, then raise."""
        try:
            session = await open_session(self._client, body, self.pending)
        except BaseException as exc:
            await self.finish(wait=not isinstance(exc, asyncio.CancelledError))
            raise
        if self.pending.unresolved:
            self._poll = asyncio.ensure_future(self._client.settle_session_creates(self.pending))
        return session

    async def finish(self, *, wait: bool = True) -> list[str]:
        """Let the bounded poll run out (``wait``; else stop it), look once more; return the leftovers.

        Never raises but for a cancellation of the caller; then ``leftovers`` still holds what was
        found so far (the caller should read it in a ``finally``). A failure of the poll is logged.
        """
        poll, self._poll = self._poll, None
        try:
            if poll is None and wait and self.pending.unresolved:  # the create failed: nothing polled yet
                await self._client.settle_session_creates(self.pending)
            elif poll is not None and not poll.done() and wait:
                await asyncio.wait({poll})  # ends with the window; its outcome is read below
            else:
                if poll is not None and not poll.done():
                    poll.cancel()
                    await asyncio.wait({poll})
                await self._client.recheck_session_creates(self.pending)
        except asyncio.CancelledError:
            if poll is not None:
                poll.cancel()
            raise
        except Exception:
            log.exception("Looking for a session a lost session create may have opened failed")
        finally:
            if poll is not None:  # read its outcome now, or once the cancellation has stopped it
                if poll.done():
                    _report_poll(poll)
                else:
                    poll.add_done_callback(_report_poll)
        return self.leftovers


def _report_poll(poll: asyncio.Future[PendingCreates]) -> None:
    """Retrieve the bounded poll's outcome so that a failure is logged (not "never retrieved")."""
    if not poll.cancelled() and (exc := poll.exception()) is not None:
        log.error("Polling for a session a lost session create may have opened failed", exc_info=exc)


async def _drain(create: asyncio.Future[Session]) -> Session | None:
    try:
        done, _ = await asyncio.wait({create}, timeout=CREATE_DRAIN_SECONDS)
    except asyncio.CancelledError:  # cancelled again: keep draining, the session may exist
        return await _drain(create)
    if not done or create.cancelled() or create.exception() is not None:
        return None
    return create.result()


async def close_session(
    client: AsyncAkoolClient,
    session_id: str,
    *,
    attempts: int = 4,
    backoff: float = 1.0,
) -> CloseOutcome:
    """Close ``session_id`` and confirm with its detail; never raises (not even on cancellation).

    Each attempt is one ``close_session`` call (itself retried by the client's policy) followed by
    ``get_session``; a session still reported open (status 1/2) is closed again. A cancellation
    arriving meanwhile does not stop the attempts: it is reported as ``outcome.cancelled`` and the
    caller re-raises it once the outcome is recorded.
    """
    cancelled = False
    already = False
    error: str | None = None
    for attempt in range(1, attempts + 1):
        try:
            result = await client.close_session(session_id)
            already = already or result.already_closed
            try:
                detail = await client.get_session(session_id)
            except AkoolNotFoundError:
                return CloseOutcome(session_id, True, already, attempt, None, cancelled=cancelled)
            except AkoolError as exc:  # closed, but not confirmed: good enough, say so
                return CloseOutcome(session_id, True, already, attempt, None, f"not confirmed: {exc}", cancelled)
            if not detail.is_open:
                return CloseOutcome(session_id, True, already, attempt, detail.status, cancelled=cancelled)
            error = f"session still reported open (status {detail.status}) after close"
        except asyncio.CancelledError:
            cancelled = True
            error = "interrupted by cancellation"
        except AkoolError as exc:
            error = str(exc)
        log.warning("closing session %s failed (attempt %d/%d): %s", session_id, attempt, attempts, error)
        if attempt < attempts:
            cancelled = await _sleep_through_cancel(backoff * 2 ** (attempt - 1)) or cancelled
    return CloseOutcome(session_id, False, already, attempts, None, error, cancelled)


async def _sleep_through_cancel(seconds: float) -> bool:
    """Sleep ``seconds`` even if cancelled meanwhile; return whether a cancellation arrived."""
    cancelled = False
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            await asyncio.sleep(left)
        except asyncio.CancelledError:
            cancelled = True
    return cancelled
