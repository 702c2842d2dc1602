"""Open and close Akool sessions so that a cancelled task never leaves a paid session behind.

``open_session`` runs the create call in its own task and shields it: if the caller is cancelled
while the request is in flight, the request still completes and the session it opened (if any)
is closed before the cancellation goes on. ``close_session`` retries until a close is confirmed
(``close_steps``, shared with the sync sweeper), and finishes even when the caller is cancelled
meanwhile (the cancellation is re-raised afterwards). ``CreateWatch`` keeps looking for a
session that a create attempt given up on may still open (``client/reconcile.py``): a bounded poll
in the background while the session is used, and one more look when it is closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_akool.client.errors import AkoolClosedError, AkoolError, AkoolNotFoundError
from airflow_provider_akool.client.reconcile import PendingCreates

if TYPE_CHECKING:
    from airflow_provider_akool.client import AsyncAkoolClient
    from airflow_provider_akool.client.models import Session

__all__ = ["Backoff", "CloseOutcome", "CloseStep", "CreateWatch", "close_session", "close_steps", "open_session"]

log = logging.getLogger(__name__)

# A create still in flight when the task is cancelled gets this long to land before we give up on it.
CREATE_DRAIN_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class CloseOutcome:
    """How closing one session went. ``closed`` is False only when no attempt was confirmed.

    ``already_closed``: Akool answered 1216/1219. ``confirmed_status``: the status the detail read
    after a 1000 reply (None when not read). ``error``: the last failure, or a note on a close
    confirmed by its reply whose detail could not be read.
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


class CloseStep(enum.Enum):
    """What :func:`close_steps` asks its driver to do next."""

    CLOSE = "close"  # call client.close_session(session_id), send back the CloseResult
    DETAIL = "detail"  # call client.get_session(session_id), send back the Session


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait ``seconds`` before the next attempt (the driver sends back None)."""

    seconds: float


class CloseInterrupted(AkoolError):
    """Thrown into :func:`close_steps` when a call was cut short by a cancellation."""


CloseSteps = Generator[CloseStep | Backoff, Any, CloseOutcome]


def close_steps(
    session_id: str,
    *,
    attempts: int,
    backoff: float,
    fatal: tuple[type[AkoolError], ...] = (),
) -> CloseSteps:
    """The close-and-confirm decisions, written once for the async runner and the sync sweeper.

    A close is confirmed by the close reply: code 1000, or 1216/1219 (no such session / already
    closed, which the client reports as ``already_closed``). After a 1000 reply the detail is read
    once more: status 1/2 means the close has not taken effect, so it is sent again; any other
    status, or a detail that fails, leaves the reply as the confirmation. A status that is not open
    is never taken as confirmation on its own: after a close that failed, the attempt is repeated,
    because status 3 may mean a session still running (akool-api.md §2.5, §3). Errors of a type in
    ``fatal`` (the account, not the session) are raised at once.
    """
    error: str | None = None
    for attempt in range(1, attempts + 1):
        try:
            result = yield CloseStep.CLOSE
        except fatal:
            raise
        except AkoolError as exc:
            error = f"close failed: {exc}"
        else:
            if result.already_closed:
                return CloseOutcome(session_id, True, True, attempt)
            try:
                detail = yield CloseStep.DETAIL
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
            yield Backoff(backoff * 2 ** (attempt - 1))
    return CloseOutcome(session_id, False, False, attempts, None, error)


async def close_session(
    client: AsyncAkoolClient,
    session_id: str,
    *,
    attempts: int = 4,
    backoff: float = 1.0,
) -> CloseOutcome:
    """Close ``session_id`` and confirm it (see :func:`close_steps`); never raises, not even on
    cancellation.

    Each close call is itself retried by the client's policy. A cancellation arriving meanwhile
    does not stop the attempts: the call it cut short counts as failed, the outcome says
    ``cancelled`` and the caller re-raises the cancellation once the outcome is recorded.
    """
    steps = close_steps(session_id, attempts=attempts, backoff=backoff)
    cancelled = False
    reply: Any = None
    failure: AkoolError | None = None
    try:
        while True:
            step = steps.send(reply) if failure is None else steps.throw(failure)
            reply, failure = None, None
            if isinstance(step, Backoff):
                cancelled = await _sleep_through_cancel(step.seconds) or cancelled
                continue
            call = client.close_session if step is CloseStep.CLOSE else client.get_session
            try:
                reply = await call(session_id)
            except asyncio.CancelledError:
                cancelled = True
                failure = CloseInterrupted("interrupted by cancellation")
            except AkoolError as exc:
                failure = exc
    except StopIteration as stop:
        outcome: CloseOutcome = stop.value
        return dataclasses.replace(outcome, cancelled=cancelled)


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
