"""Retelling runner: speak scripts verbatim through Akool sessions, from create to a confirmed close.

One :class:`RetellingRunner` speaks the scripts' segments in order through as many sessions as it
takes. For each session it checks the cost caps, creates it (mode 1 + voice, language,
background, voice_params, stream_type, duration), joins its data channel at once (an Agora token
is valid ~5 minutes, docs/reference/akool-api.md §2.4), waits for the avatar, sends set-params and waits for the
ack, then speaks segments while they fit (``conversation``). The run learns the avatar's real rate
from its audio events (``speech.RateMeter``): timeouts, the rollover check and the size of the
next session all use it (``rollover``). A segment cut short is spoken again, whole, in a new
session. Whatever happens - failure, timeout, cancellation of the task - each session is closed in
``finally`` with retries and confirmed (``sessions.close``); a session that a create attempt given
up on opened later is closed too, or recorded as a candidate (``sessions.opening``). What is open
and unclosed is kept in one :class:`~airflow_provider_akool.sessions.book.SessionBook`
(``runner.book``), which ``result.orphan_candidates`` is fed from.

Everything is validated in the constructor, before any remote call. Airflow-free::

    runner = RetellingRunner(RetellingSettings(avatar_id="dvp_Tristan_cloth2_1080P", stream_type="agora"),
                             ["Hello there.", {"id": "outro", "text": "Goodbye."}])
    async with AsyncAkoolClient(ClientConfig(api_key=...)) as client:
        result = await runner.run(client)          # RetellingFailedError carries .result
    print(result.to_manifest())
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_akool.client.errors import AkoolAmbiguousCreateError
from airflow_provider_akool.client.models import CreateSessionRequest
from airflow_provider_akool.client.models.common import build_request
from airflow_provider_akool.sessions.book import SessionBook
from airflow_provider_akool.sessions.close import aclose_session
from airflow_provider_akool.sessions.drive import SYSTEM_CLOCK, Clock
from airflow_provider_akool.sessions.opening import CreateWatch
from airflow_provider_akool.streaming.conversation import CUT, Conversation
from airflow_provider_akool.streaming.errors import StreamingError
from airflow_provider_akool.streaming.planning import (
    SessionPlan,
    check_session_budget,
    estimate_speaking_seconds,
    normalise_scripts,
    plan_sessions,
)
from airflow_provider_akool.streaming.protocol import SetParams
from airflow_provider_akool.streaming.rollover import Rollover, SessionCapReachedError, SessionTimer
from airflow_provider_akool.streaming.settings import RetellingSettings
from airflow_provider_akool.streaming.speech import RateMeter
from airflow_provider_akool.streaming.transcript import (
    FAILED,
    NOT_SENT,
    PENDING,
    RetellingResult,
    SegmentRecord,
    SessionRecord,
)
from airflow_provider_akool.streaming.transports.factory import create_transport

if TYPE_CHECKING:
    from airflow_provider_akool.client import AsyncAkoolClient

__all__ = [
    "NullObserver",
    "RetellingFailedError",
    "RetellingObserver",
    "RetellingRunner",
    "RetellingSettings",
    "SessionCapReachedError",
    "UnconfirmedSpeechError",
]

log = logging.getLogger(__name__)
RETELLING_MODE = 1


class RetellingFailedError(StreamingError):
    """The run did not speak every segment or could not close a session. ``result`` has the details."""

    def __init__(self, message: str, result: RetellingResult) -> None:
        super().__init__(message)
        self.result = result


class UnconfirmedSpeechError(StreamingError):
    """Segments were spoken by estimate alone and ``require_confirmation`` is ``fail``."""


class RetellingObserver(Protocol):
    """Progress callbacks, called on the event loop. Keep them quick.

    ``session_opened`` runs right after create, before joining: the place to record the id (to
    close it if the task is killed). An exception raised there fails the run (the session is closed).
    """

    def session_opened(self, session_id: str, index: int, count: int) -> None:
        """Session ``index`` (0-based) of ``count`` now exists and is being paid for."""

    def segment_finished(self, record: SegmentRecord, done: int, total: int) -> None:
        """A segment was spoken; ``done`` of ``total`` segments are now spoken."""

    def session_closed(self, record: SessionRecord) -> None:
        """A session was closed (see ``record.close``), successfully or not."""


class NullObserver:
    """Ignores progress."""

    def session_opened(self, session_id: str, index: int, count: int) -> None:
        return None

    def segment_finished(self, record: SegmentRecord, done: int, total: int) -> None:
        return None

    def session_closed(self, record: SessionRecord) -> None:
        return None


class RetellingRunner:
    """Validates and plans at construction; ``await run(client)`` does the work once."""

    def __init__(
        self,
        settings: RetellingSettings,
        scripts: Sequence[str | Mapping[str, Any]],
        *,
        observer: RetellingObserver | None = None,
        book: SessionBook | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        session_clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = s = settings.checked()
        self.segments = normalise_scripts(scripts)
        self._observer: RetellingObserver = observer or NullObserver()
        self._clock = clock
        self._monotonic = monotonic
        self._session_clock = session_clock  # the lifecycle's waits: lost-create poll, close backoff
        #: The sessions this run opened and has not confirmed closed, and its orphan candidates.
        self.book = book if book is not None else SessionBook()
        self.rollover = Rollover(
            policy=s.duration_policy,
            speed=s.speed,
            duration=s.duration,
            time_scale=s.time_scale,
            margin_seconds=s.rollover_margin,
            grace_seconds=s.fallback_grace,
            max_sessions=s.max_sessions,
            max_total_session_seconds=s.max_total_session_seconds,
            meter=RateMeter(model=s.speech),
        )
        #: The plan at the configured rates, each session sized as the run would size it before
        #: knowing the avatar: what the caps are checked against before anything is created. The
        #: run sizes its sessions as it goes, from the rates it measures.
        self.plans: list[SessionPlan] = [
            dataclasses.replace(plan, duration=self.rollover.next_duration([seg.text for seg in plan.segments]))
            for plan in plan_sessions(self.segments, speed=s.speed, duration=s.duration, policy=s.duration_policy)
        ]
        check_session_budget(
            self.plans, max_sessions=s.max_sessions, max_total_session_seconds=s.max_total_session_seconds
        )
        for plan in self.plans:
            self._create_body(plan.duration)  # AkoolRequestError names the field, before any call
        records = [seg for plan in self.plans for seg in plan.segments]
        self.result = RetellingResult(
            settings=s.summary(),
            segments=[
                SegmentRecord(i, seg.id, seg.text, estimate_speaking_seconds(seg.text, s.speed, s.speech))
                for i, seg in enumerate(records)
            ],
        )
        self._queue: deque[SegmentRecord] = deque(self.result.segments)
        self._evidence_in_run = False
        self._started = False

    @property
    def open_session_ids(self) -> list[str]:
        """Sessions created and not yet confirmed closed (what to close if the task is killed)."""
        return self.book.open_ids

    def _create_body(self, duration: int) -> dict[str, Any]:
        s = self.settings
        voice_params: dict[str, Any] = {"speed": s.speed}
        if s.pron_map:
            voice_params["pron_map"] = dict(s.pron_map)
        body = {
            "avatar_id": s.avatar_id,
            "duration": duration,
            "mode_type": RETELLING_MODE,
            "voice_id": s.voice_id,
            "language": s.language,
            "background_url": s.background_url,
            "voice_params": voice_params,
            "stream_type": s.stream_type,
        }
        body = {k: v for k, v in body.items() if v is not None}
        build_request(CreateSessionRequest, "session create request", body)  # AkoolRequestError names the field
        return body

    def _set_params(self) -> SetParams:
        return self.settings.set_params_preview()

    # --- running --------------------------------------------------------------------------------

    async def run(self, client: AsyncAkoolClient) -> RetellingResult:
        """Speak every segment; return the result, or raise RetellingFailedError carrying it.

        ``asyncio.CancelledError`` propagates after the open session is closed.
        """
        if self._started:
            raise RuntimeError("a RetellingRunner runs once; create a new one")
        self._started = True
        result = self.result
        result.started_at = self._clock()
        try:
            opened_for = "plan"
            while self._queue:
                self._fit_queue()
                duration = self.rollover.next_duration([r.text for r in self._queue])
                self.rollover.check_caps(duration)
                ended_by = await self._run_session(client, len(result.sessions), duration, opened_for)
                opened_for = "recovery" if ended_by == CUT else "rollover"
        except asyncio.CancelledError:
            self._abandon("cancelled before every segment was spoken")
            raise
        except Exception as exc:
            if isinstance(exc, AkoolAmbiguousCreateError):
                self._add_orphans(exc.candidates)
            self._abandon(f"{type(exc).__name__}: {exc}")
            raise RetellingFailedError(result.error or str(exc), result) from exc
        finally:
            result.finished_at = self._clock()
            result.speech_rates = self._speech_rates()
        unclosed = [s.session_id for s in result.sessions if s.session_id and not s.close.get("closed")]
        if unclosed:
            result.error = f"could not close session(s) {', '.join(map(str, unclosed))}"
            raise RetellingFailedError(result.error, result)
        self._check_confirmation()
        return result

    def _speech_rates(self) -> dict[str, Any]:
        """The transcript's measured block; as it is, a later run's ``speech_rates``."""
        s = self.settings
        return {
            "avatar_id": s.avatar_id,
            "voice_id": s.voice_id,
            "language": s.language,
            "speed": s.speed,
            **self.rollover.meter.summary(),
        }

    def _check_confirmation(self) -> None:
        unconfirmed = self.result.unconfirmed
        rule = self.settings.require_confirmation
        if not unconfirmed or rule == "off":
            return
        ids = ", ".join(repr(r.id) for r in unconfirmed[:10]) + (" ..." if len(unconfirmed) > 10 else "")
        message = (
            f"{len(unconfirmed)} segment(s) completed by estimate alone (no audio_end, no echo): unconfirmed: {ids}"
        )
        if rule == "fail":
            self.result.error = f"require_confirmation='fail': {message}"
            cause = UnconfirmedSpeechError(self.result.error)
            raise RetellingFailedError(self.result.error, self.result) from cause
        log.warning("%s (require_confirmation='fail' fails the run instead)", message)

    def _fit_queue(self) -> None:
        """Split every queued segment too long for a fresh session at the rates known now."""
        fitted: list[SegmentRecord] = []
        changed = False
        for record in self._queue:
            pieces = self.rollover.split_for_fresh(record.text)
            if len(pieces) == 1:
                fitted.append(record)
                continue
            changed = True
            log.info("Segment %r is too long for one session at the measured rate; split in %d", record.id, len(pieces))
            for n, text in enumerate(pieces, start=1):
                piece = SegmentRecord(
                    0,
                    f"{record.id}#{n}",
                    text,
                    estimate_speaking_seconds(text, self.settings.speed, self.settings.speech),
                )
                piece.split_from = record.id
                if n == 1:  # a cut segment's earlier attempts stay on record
                    piece.attempts = list(record.attempts)
                fitted.append(piece)
        if not changed:
            return
        done = [r for r in self.result.segments if r not in self._queue]
        self.result.segments = done + fitted
        for index, record in enumerate(self.result.segments):
            record.index = index
        self._queue = deque(fitted)

    def _add_orphans(self, session_ids: list[str]) -> None:
        new = self.book.add_candidates(session_ids)
        if new:
            log.warning("Possible orphan session(s) %s left by lost session creates; for the sweeper", new)
        self.result.orphan_candidates = list(self.book.candidates)

    def _abandon(self, error: str) -> None:
        self.result.error = self.result.error or error
        for record in self.result.segments:
            if record.status == PENDING:
                record.status = NOT_SENT

    def _spoken(self, record: SegmentRecord) -> None:
        done = sum(1 for r in self.result.segments if r.done)
        self._observer.segment_finished(record, done, len(self.result.segments))

    async def _run_session(self, client: AsyncAkoolClient, index: int, duration: int, opened_for: str) -> str:
        session_record = SessionRecord(index, duration, [], opened_for=opened_for)
        self.result.sessions.append(session_record)
        watch = CreateWatch(client, self._session_clock)  # a create attempt given up on may still open a session
        started = self._monotonic()
        self.rollover.opened(duration)  # counts toward the caps even if the create fails after applying
        try:
            session = await watch.open(self._create_body(duration))
        except BaseException:
            self._add_orphans(watch.leftovers)
            raise
        session_record.session_id = session.id
        session_record.opened_at = self._clock()
        self.book.session_opened(session.id)  # in the ledger before it is used: a killed try's next closes it
        count = max(len(self.plans), index + 1)
        log.info(
            "Opened session %s (%d/%d, for %s, duration %d s, %d segment(s) left)",
            session.id,
            index + 1,
            count,
            opened_for,
            duration,
            len(self._queue),
        )
        conversation = Conversation(
            settings=self.settings,
            rollover=self.rollover,
            timer=SessionTimer(duration, started, self.settings.time_scale, self._monotonic),
            session_record=session_record,
            queue=self._queue,
            on_spoken=self._spoken,
            clock=self._clock,
            evidence_in_run=self._evidence_in_run,
            transport_factory=create_transport,  # looked up here, so a test or benchmark can wrap it
        )
        cancelled = False
        try:
            self._observer.session_opened(session.id, index, count)
            credentials = session.credentials.reveal() if session.credentials else {}
            ended_by = await conversation.run(credentials, self._set_params())
            session_record.ended_by = ended_by
            return ended_by
        except BaseException as exc:
            session_record.ended_by = "error"
            if isinstance(exc, asyncio.CancelledError):
                cancelled = True
                session_record.error = "cancelled (the task was killed or timed out)"
            else:
                session_record.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            for record in self.result.segments:
                if record.status == PENDING and record.sent_at is not None and record.session_id == session.id:
                    record.status = FAILED
                    record.error = record.error or session_record.error
            raise
        finally:
            self._evidence_in_run = conversation.evidence_in_run
            session_record.segment_ids = _spoken_in(self.result.segments, session.id)
            outcome = await aclose_session(
                client, session.id, attempts=self.settings.close_attempts, clock=self._session_clock
            )
            session_record.closed_at = self._clock()
            session_record.close = outcome.to_dict()
            if outcome.closed:
                self.book.session_closed(session.id)
                log.info(
                    "Closed session %s (attempts %d, status %s)", session.id, outcome.attempts, outcome.confirmed_status
                )
            else:
                log.error("Could not close session %s: %s", session.id, outcome.error)
            with contextlib.suppress(Exception):
                self._observer.session_closed(session_record)
            try:  # a cancellation while waiting for the poll must not lose what it found
                await watch.finish(wait=not (cancelled or outcome.cancelled))
            finally:
                self._add_orphans(watch.leftovers)
            if outcome.cancelled:
                raise asyncio.CancelledError


def _spoken_in(records: Sequence[SegmentRecord], session_id: str) -> list[str]:
    """Ids of the segments tried in ``session_id``, in order."""
    return [
        r.id
        for r in records
        if any(a["session_id"] == session_id for a in r.attempts)
        or (r.session_id == session_id and r.sent_at is not None)
    ]
