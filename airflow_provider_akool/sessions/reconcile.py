"""Session creates whose outcome is unknown: find the paid session they may open and close it.

Akool's session create takes no idempotency key (docs/reference/akool-api.md §2.4) and its list shows nothing that
ties a session to the request that opened it (§2.7). When an attempt fails in a way that may have
applied (read timeout, reset, 5xx), the only evidence is the set of open sessions. Right after the
failed attempt the rule is: a session open now that was not open before the first attempt and is
the *only* such session is the lost one — it is closed. Several cannot be attributed (other
workers open sessions too): they are reported as candidates and never closed here.

A server may apply a request after the client gave up on it (queues, proxies), so an ambiguous
attempt stays pending after a later attempt succeeds: :func:`settle` polls until
``timeout + lost_create_grace`` after the last ambiguous attempt was sent, and :func:`recheck`
looks once more (the retelling runner does when it closes the session). Those later looks span
seconds to minutes, long enough for a sibling task or a person on the same account to open a
session, so they cannot tell our session from another's: every new unknown session they see is
recorded as a candidate (each id once), none is closed, and none counts as the pending attempt's
(``unresolved`` is lowered only by the close right after a failed attempt), so the poll runs to the
end of its window and the recheck still looks. The stale-session sweeper, run once the DAG's
sessions are done (``trigger_rule="all_done"``), closes the candidates still open. The open
sessions are listed once before every create (the baseline the rule needs); after a create that
succeeded at its first attempt nothing lists them again: only an ambiguous attempt leads to more
listings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from airflow_provider_akool.client.calls import Pause, Steps
from airflow_provider_akool.client.errors import (
    AkoolAmbiguousCreateError,
    AkoolError,
    AkoolRequestError,
    AkoolTransientError,
)
from airflow_provider_akool.client.models import CreateSessionRequest, Session
from airflow_provider_akool.client.operations import AkoolOperations
from airflow_provider_akool.sessions.listing import open_sessions

__all__ = ["PendingCreates", "create", "recheck", "settle"]

log = logging.getLogger(__name__)

# Polls per window (timeout + grace), within these bounds in seconds.
POLLS_PER_WINDOW = 8
MIN_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 5.0


@dataclass
class PendingCreates:
    """What one ``create_session`` call may still have opened, and what was done about it.

    Pass a fresh instance to ``open_session(..., pending=...)`` to keep it after the call returns or
    raises; :func:`settle` and :func:`recheck` then look for what it may have opened. ``clock`` is
    the monotonic clock the poll window is measured with.
    ``unresolved`` counts ambiguous attempts whose session was not closed by the look right after
    a failed attempt (later looks cannot attribute a session, so they never lower it);
    ``candidates`` are the new unknown sessions seen since; ``leftovers`` are the ids to hand to the
    stale-session sweeper.
    """

    before: frozenset[str] | None = None
    window: float = 0.0
    last_sent: float | None = None
    unresolved: int = 0
    ours: str | None = None
    closed: list[str] = field(default_factory=list)
    unclosed: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def start(self, window: float) -> None:
        """Claim this record for one create call that keeps looking ``window`` seconds after an attempt."""
        if self.window or self.before is not None:
            raise AkoolRequestError("a PendingCreates serves one session create; pass a new one")
        self.window = window

    def attempt_failed(self, sent_at: float) -> None:
        """An attempt sent at ``sent_at`` (by ``clock``) failed and may have applied."""
        self.unresolved += 1
        self.last_sent = sent_at

    def seconds_left(self) -> float:
        """Seconds until the bounded poll stops (0 when nothing is pending)."""
        if not self.unresolved or self.last_sent is None:
            return 0.0
        return max(0.0, self.last_sent + self.window - self.clock())

    def attribute(self, open_ids: Iterable[str], *, may_close: bool) -> str | None:
        """Apply the rule to a listing: the id to close, or None (new unknowns become candidates).

        ``may_close`` is true only for the look right after a failed attempt. A later look turns
        every new unknown session, even a lone one, into a candidate and leaves ``unresolved`` as
        it is: it may be a sibling task's session, and ours may still land afterwards.
        """
        known = {*(self.before or ()), *self.closed, *self.unclosed, *self.candidates}
        unknown = sorted(set(open_ids) - known - {self.ours or ""})
        if not unknown or not self.unresolved:
            return None
        if may_close and not self.candidates and len(unknown) == 1:
            return unknown[0]
        self.candidates.extend(unknown)
        log.warning(
            "Session(s) %s opened while a session create was unaccounted for; they may be that create's or "
            "another caller's, so they are not closed here but left to the stale-session sweeper",
            ", ".join(unknown),
        )
        return None

    @property
    def leftovers(self) -> list[str]:
        """Sessions that may be open and paid for with nobody closing them: for the sweeper."""
        return list(dict.fromkeys([*self.candidates, *self.unclosed]))


def create(ops: AkoolOperations, request: CreateSessionRequest, pending: PendingCreates) -> Steps[Session]:
    """Send the create up to ``max_attempts`` times; return the session of the attempt that succeeded.

    The open sessions are listed before the first attempt. An attempt that may have applied is
    followed by a listing and the rule; several unknown new sessions raise
    :class:`AkoolAmbiguousCreateError` (as they would at any later look).
    """
    pending.start(ops.config.timeout + ops.config.lost_create_grace)
    pending.before = frozenset((yield from open_sessions(ops)))
    attempts = ops.config.max_attempts
    for attempt in range(1, attempts + 1):
        sent_at = pending.clock()
        try:
            session = yield from AkoolOperations.create_session.steps(ops, request)
        except AkoolTransientError as exc:
            if not exc.maybe_applied:
                raise
            pending.attempt_failed(sent_at)
            yield from _look(ops, pending, may_close=True)
            if pending.candidates:
                raise AkoolAmbiguousCreateError(
                    "session create response was lost and several new sessions appeared meanwhile; "
                    "not closing sessions that may belong to other callers",
                    endpoint="session.create",
                    candidates=list(pending.candidates),
                ) from None
            if attempt == attempts:
                raise
            if pending.unresolved:
                log.warning(
                    "Session create attempt %d/%d failed (%s) and no session it may have opened is listed yet; "
                    "retrying, and looking for a late one until %.1f s after the attempt was sent",
                    attempt,
                    attempts,
                    exc,
                    pending.window,
                )
        else:
            pending.ours = session.id
            return session
    raise AssertionError("unreachable")  # pragma: no cover


def settle(ops: AkoolOperations, pending: PendingCreates) -> Steps[PendingCreates]:
    """Poll until the window after the last ambiguous attempt is over, recording candidates.

    No call when nothing is pending (no ambiguous attempt, or its session was closed at once).
    Finding a candidate does not stop the poll: it may be another caller's session.
    """
    interval = min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, pending.window / POLLS_PER_WINDOW))
    while (left := pending.seconds_left()) > 0:
        yield Pause(min(interval, left))
        yield from recheck(ops, pending)
    return pending


def recheck(ops: AkoolOperations, pending: PendingCreates) -> Steps[PendingCreates]:
    """Look once for sessions the ambiguous attempts may have opened; failures are logged, not raised."""
    if pending.unresolved:
        try:
            yield from _look(ops, pending, may_close=False)
        except AkoolError as exc:
            log.warning("Looking for a session a lost session create may have opened failed: %s", exc)
    return pending


def _look(ops: AkoolOperations, pending: PendingCreates, *, may_close: bool) -> Steps[None]:
    lost = pending.attribute((yield from open_sessions(ops)), may_close=may_close)
    if lost is None:
        return
    log.warning("Session %s was opened by a session create whose response was lost; closing it", lost)
    pending.unresolved -= 1
    try:
        yield from AkoolOperations.close_session.steps(ops, lost)
    except AkoolError as exc:
        log.error("Closing session %s failed (%s); left to the stale-session sweeper", lost, exc)
        pending.unclosed.append(lost)
    else:
        pending.closed.append(lost)
