"""Open a session so that nothing a create may have opened goes unaccounted for.

``open_session`` (blocking) and ``aopen_session`` (async) run the reconciled create of
``reconcile``. The async one shields it: if the caller is cancelled while the request is in flight,
the request still completes and the session it opened (if any) is closed before the cancellation
goes on. ``CreateWatch`` keeps looking for a session that a create attempt given up on may still
open: a bounded poll in the background while the session is used, and one more look when it is
closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_akool.client.errors import AkoolRequestError
from airflow_provider_akool.client.models import CreateSessionRequest
from airflow_provider_akool.client.models.common import build_request
from airflow_provider_akool.sessions import reconcile
from airflow_provider_akool.sessions.close import aclose_session
from airflow_provider_akool.sessions.drive import SYSTEM_CLOCK, Clock, run_async, run_sync
from airflow_provider_akool.sessions.reconcile import PendingCreates

if TYPE_CHECKING:
    from airflow_provider_akool.client import AkoolClient, AsyncAkoolClient
    from airflow_provider_akool.client.models import Session

__all__ = ["CREATE_DRAIN_SECONDS", "CreateWatch", "aopen_session", "open_session"]

log = logging.getLogger(__name__)

# A create still in flight when the task is cancelled gets this long to land before we give up on it.
CREATE_DRAIN_SECONDS = 120.0


def _request(
    request: CreateSessionRequest | Mapping[str, Any] | None, fields: Mapping[str, Any]
) -> CreateSessionRequest:
    """The validated create request (AkoolRequestError names the field, before any call)."""
    if isinstance(request, CreateSessionRequest):
        if fields:
            raise AkoolRequestError("pass either a CreateSessionRequest or keyword fields, not both")
        return request
    return build_request(CreateSessionRequest, "session create request", {**(request or {}), **fields})


def open_session(
    client: AkoolClient,
    request: CreateSessionRequest | Mapping[str, Any] | None = None,
    /,
    *,
    pending: PendingCreates | None = None,
    clock: Clock = SYSTEM_CLOCK,
    **fields: Any,
) -> Session:
    """Create a session (blocking), closing one a lost create response surely opened.

    Several unknown new sessions raise ``AkoolAmbiguousCreateError`` naming them. Pass
    ``pending=PendingCreates()`` to keep looking afterwards: ``run_sync(client, reconcile.settle(client,
    pending))`` polls for a bounded time, ``reconcile.recheck`` looks once more.
    """
    body = _request(request, fields)
    return run_sync(client, reconcile.create(client, body, pending or PendingCreates(clock=clock.monotonic)), clock)


async def aopen_session(
    client: AsyncAkoolClient,
    request: CreateSessionRequest | Mapping[str, Any],
    pending: PendingCreates | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Session:
    """Create a session; if cancelled meanwhile, wait for the create to land and close its session."""
    body = _request(request, {})
    steps = reconcile.create(client, body, pending or PendingCreates(clock=clock.monotonic))
    create = asyncio.ensure_future(run_async(client, steps, clock))
    try:
        return await asyncio.shield(create)
    except asyncio.CancelledError:
        session = await _drain(create)
        if session is not None:
            log.warning("cancelled while session %s was being created; closing it", session.id)
            outcome = await aclose_session(client, session.id, clock=clock)
            if not outcome.closed:
                log.error("could not close session %s: %s", session.id, outcome.error)
        raise


async def _drain(create: asyncio.Future[Session]) -> Session | None:
    try:
        done, _ = await asyncio.wait({create}, timeout=CREATE_DRAIN_SECONDS)
    except asyncio.CancelledError:  # cancelled again: keep draining, the session may exist
        return await _drain(create)
    if not done or create.cancelled() or create.exception() is not None:
        return None
    return create.result()


class CreateWatch:
    """Opens one session and accounts for create attempts that may still open another one.

    When a create attempt was given up on after it may have applied, a bounded poll runs in the
    background (the session is used meanwhile: its duration is already running) and ``finish``
    looks once more. ``leftovers`` are sessions that could not be attributed or closed: for the
    sweeper. On the happy path none of this makes a call.
    """

    def __init__(self, client: AsyncAkoolClient, clock: Clock = SYSTEM_CLOCK) -> None:
        self._client = client
        self._clock = clock
        self.pending = PendingCreates(clock=clock.monotonic)
        self._poll: asyncio.Future[PendingCreates] | None = None

    @property
    def leftovers(self) -> list[str]:
        return self.pending.leftovers

    async def open(self, body: CreateSessionRequest | Mapping[str, Any]) -> Session:
        """Create the session; if that fails, settle what its attempts may have opened, then raise."""
        try:
            session = await aopen_session(self._client, body, self.pending, self._clock)
        except BaseException as exc:
            await self.finish(wait=not isinstance(exc, asyncio.CancelledError))
            raise
        if self.pending.unresolved:
            self._poll = asyncio.ensure_future(self._settle())
        return session

    async def _settle(self) -> PendingCreates:
        return await run_async(self._client, reconcile.settle(self._client, self.pending), self._clock)

    async def _recheck(self) -> PendingCreates:
        return await run_async(self._client, reconcile.recheck(self._client, self.pending), self._clock)

    async def finish(self, *, wait: bool = True) -> list[str]:
        """Let the bounded poll run out (``wait``; else stop it), look once more; return the leftovers.

        Never raises but for a cancellation of the caller; then ``leftovers`` still holds what was
        found so far (the caller should read it in a ``finally``). A failure of the poll is logged.
        """
        poll, self._poll = self._poll, None
        try:
            if poll is None and wait and self.pending.unresolved:  # the create failed: nothing polled yet
                await self._settle()
            elif poll is not None and not poll.done() and wait:
                await asyncio.wait({poll})  # ends with the window; its outcome is read below
            else:
                if poll is not None and not poll.done():
                    poll.cancel()
                    await asyncio.wait({poll})
                await self._recheck()
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
