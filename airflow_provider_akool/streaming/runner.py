"""Retelling runner: speak scripts verbatim through Akool sessions, from create to a confirmed close.

One :class:`RetellingRunner` turns scripts into one or more sessions (see ``planning``): for each
it creates the session (mode 1 + voice, language, background, voice_params, stream_type,
duration), joins its data channel at once (an Agora token is valid ~5 minutes, akool-api.md §2.4),
waits for the avatar, sends set-params and waits for the ack, then speaks the segments one by one
(``speaker``). Whatever happens - failure, timeout, cancellation of the task - the session is
closed in ``finally`` with retries and confirmed through its detail (``lifecycle``); a session that
a create attempt given up on opened later is closed too, or recorded in ``result.orphan_candidates``.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_akool.client.errors import AkoolAmbiguousCreateError
from airflow_provider_akool.client.models import CreateSessionRequest
from airflow_provider_akool.client.models.common import build_request
from airflow_provider_akool.streaming.errors import StreamingError, TransportClosedError, TransportError
from airflow_provider_akool.streaming.lifecycle import CreateWatch, close_session
from airflow_provider_akool.streaming.limits import TransportLimits, check_set_params_fits, transport_limits
from airflow_provider_akool.streaming.planning import (
    Duration,
    DurationPolicy,
    RetellingInputError,
    SessionPlan,
    check_duration,
    check_speed,
    estimate_speaking_seconds,
    normalise_scripts,
    plan_sessions,
)
from airflow_provider_akool.streaming.protocol import SetParams, VoiceParams, retelling_set_params
from airflow_provider_akool.streaming.speaker import SetParamsRejectedError, Speaker, SpeakerTimings
from airflow_provider_akool.streaming.speech import SpeakingTimeModel, SpeechRates
from airflow_provider_akool.streaming.transcript import (
    FAILED,
    NOT_SENT,
    PENDING,
    RetellingResult,
    SegmentRecord,
    SessionRecord,
)
from airflow_provider_akool.streaming.transports.factory import check_stream_type_supported, create_transport

if TYPE_CHECKING:
    from airflow_provider_akool.client import AsyncAkoolClient

__all__ = ["NullObserver", "RetellingFailedError", "RetellingObserver", "RetellingRunner", "RetellingSettings"]

log = logging.getLogger(__name__)
RETELLING_MODE = 1


class RetellingFailedError(StreamingError):
    """The run did not speak every segment or could not close a session. ``result`` has the details."""

    def __init__(self, message: str, result: RetellingResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class RetellingSettings:
    """Session settings and waits. Seconds are real seconds.

    ``join_timeout`` bounds joining the data channel (keep it well under the ~5 minute token life);
    ``ready_timeout`` waiting for the avatar to publish; ``ack_timeout`` the set-params ack;
    ``segment_timeout`` the wait for a segment's ``audio_end`` (None: 1.5 x its estimated speaking
    time + 30 s); ``fallback_grace`` how long past the estimate to wait for a first audio event.
    ``time_scale`` divides estimated speaking times, for akool-sim run faster than real time.
    ``max_message_bytes`` / ``bytes_per_second`` override the data channel's limits (opt-in, up to
    what the service allows; ``limits.transport_limits``).
    """

    avatar_id: str
    stream_type: str
    voice_id: str | None = None
    language: str | None = None
    background_url: str | None = None
    speed: float = 1.0
    pron_map: Mapping[str, str] | None = None
    duration: Duration = "auto"
    segment_timeout: float | None = None
    join_timeout: float = 60.0
    ready_timeout: float = 90.0
    ack_timeout: float = 15.0
    fallback_grace: float = 5.0
    time_scale: float = 1.0
    close_attempts: int = 4
    speech_rates: Mapping[str, Any] | None = None
    duration_policy: DurationPolicy = field(default_factory=DurationPolicy)
    max_message_bytes: int | None = None  # opt-in transport overrides (limits.transport_limits)
    bytes_per_second: int | None = None

    @property
    def speech(self) -> SpeakingTimeModel:
        """The speaking-time model every estimate, timeout and plan of this run uses."""
        return self.duration_policy.speech

    def checked(self) -> RetellingSettings:
        """A normalised copy, or RetellingInputError / UnsupportedStreamTypeError naming the field."""
        if not isinstance(self.avatar_id, str) or not self.avatar_id.strip():
            raise RetellingInputError("avatar_id: must be a non-empty string")
        if any(ch.isspace() or not ch.isprintable() for ch in self.avatar_id.strip()):
            raise RetellingInputError("avatar_id: must not contain whitespace or control characters")
        if not isinstance(self.stream_type, str) or not self.stream_type:
            raise RetellingInputError("stream_type: must be set (or set 'stream_type' in the connection extra)")
        check_stream_type_supported(self.stream_type)
        for name in ("voice_id", "language", "background_url"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise RetellingInputError(f"{name}: must be a non-empty string or None")
        if self.background_url is not None:
            parts = urlsplit(self.background_url.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise RetellingInputError("background_url: must be an http:// or https:// URL")
        pron_map = self.pron_map
        if pron_map is not None and (
            not isinstance(pron_map, Mapping)
            or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in pron_map.items())
        ):
            raise RetellingInputError("pron_map: must map words (strings) to pronunciations (strings)")
        for name in ("join_timeout", "ready_timeout", "ack_timeout", "time_scale"):
            if not getattr(self, name) > 0:
                raise RetellingInputError(f"{name}: must be > 0")
        if self.segment_timeout is not None and not self.segment_timeout > 0:
            raise RetellingInputError("segment_timeout: must be > 0 seconds or None")
        if self.fallback_grace < 0 or self.close_attempts < 1:
            raise RetellingInputError("fallback_grace must be >= 0 and close_attempts >= 1")
        rates = self.speech_rates
        if isinstance(rates, Mapping) and isinstance(rates.get("rates"), Mapping):
            rates = rates["rates"]  # a transcript's measured ``speech_rates`` block, as it is
        overrides = SpeechRates.parse(rates, "speech_rates") if rates is not None else {}
        policy = dataclasses.replace(self.duration_policy, speech=self.duration_policy.speech.with_rates(overrides))
        checked = dataclasses.replace(
            self,
            speech_rates={str(k): v for k, v in overrides.items()} or None,
            duration_policy=policy,
            avatar_id=self.avatar_id.strip(),
            speed=check_speed(self.speed),
            duration=check_duration(self.duration),
            pron_map=dict(pron_map) if pron_map else None,
        )
        check_set_params_fits(checked.set_params_preview(), checked.transport_limits(), checked.stream_type)
        return checked

    def transport_limits(self) -> TransportLimits:
        """The data channel's limits with the opt-in overrides (RetellingInputError naming a bad one)."""
        return transport_limits(
            self.stream_type, max_message_bytes=self.max_message_bytes, bytes_per_second=self.bytes_per_second
        )

    def set_params_preview(self) -> SetParams:
        """The set-params these settings send (sized before the session is created)."""
        return retelling_set_params(
            voice_id=self.voice_id, language=self.language, background_url=self.background_url,
            speed=self.speed, pron_map=dict(self.pron_map) if self.pron_map else None,
        )

    def summary(self) -> dict[str, Any]:
        """The settings a manifest records (no secrets exist here)."""
        return {
            "avatar_id": self.avatar_id,
            "stream_type": self.stream_type,
            "voice_id": self.voice_id,
            "language": self.language,
            "background_url": self.background_url,
            "speed": self.speed,
            "pron_map": dict(self.pron_map) if self.pron_map else None,
            "duration": self.duration,
            "speech_rates": dict(self.speech_rates) if self.speech_rates else None,
        }


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings.checked()
        self.segments = normalise_scripts(scripts)
        self.plans: list[SessionPlan] = plan_sessions(
            self.segments,
            speed=self.settings.speed,
            duration=self.settings.duration,
            policy=self.settings.duration_policy,
        )
        self._bodies = [self._create_body(plan) for plan in self.plans]
        self._observer: RetellingObserver = observer or NullObserver()
        self._clock = clock
        self._open: dict[str, None] = {}
        records = [s for plan in self.plans for s in plan.segments]
        self.result = RetellingResult(
            settings=self.settings.summary(),
            segments=[
                SegmentRecord(i, s.id, s.text,
                              estimate_speaking_seconds(s.text, self.settings.speed, self.settings.speech))
                for i, s in enumerate(records)
            ],
        )
        self._started = False

    @property
    def open_session_ids(self) -> list[str]:
        """Sessions created and not yet confirmed closed (what to close if the task is killed)."""
        return list(self._open)

    def _create_body(self, plan: SessionPlan) -> dict[str, Any]:
        s = self.settings
        voice_params: dict[str, Any] = {"speed": s.speed}
        if s.pron_map:
            voice_params["pron_map"] = dict(s.pron_map)
        body = {
            "avatar_id": s.avatar_id,
            "duration": plan.duration,
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
        s = self.settings
        vparams = VoiceParams(vid=s.voice_id, speed=s.speed, pron_map=dict(s.pron_map) if s.pron_map else None)
        return SetParams(mode=RETELLING_MODE, lang=s.language, bgurl=s.background_url, vparams=vparams)

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
        offset = 0
        try:
            for index, plan in enumerate(self.plans):
                records = result.segments[offset : offset + len(plan.segments)]
                offset += len(plan.segments)
                await self._run_session(client, index, plan, records)
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
        unclosed = [s.session_id for s in result.sessions if s.session_id and not s.close.get("closed")]
        if unclosed:
            result.error = f"could not close session(s) {', '.join(map(str, unclosed))}"
            raise RetellingFailedError(result.error, result)
        return result

    def _add_orphans(self, session_ids: list[str]) -> None:
        new = [i for i in session_ids if i not in self.result.orphan_candidates]
        if new:
            log.warning("Possible orphan session(s) %s left by lost session creates; for the sweeper", new)
            self.result.orphan_candidates.extend(new)

    def _abandon(self, error: str) -> None:
        self.result.error = self.result.error or error
        for record in self.result.segments:
            if record.status == PENDING:
                record.status = NOT_SENT

    async def _run_session(
        self, client: AsyncAkoolClient, index: int, plan: SessionPlan, records: list[SegmentRecord]
    ) -> None:
        session_record = SessionRecord(index, plan.duration, [s.id for s in plan.segments])
        self.result.sessions.append(session_record)
        watch = CreateWatch(client)  # a create attempt given up on may still open a session
        try:
            session = await watch.open(self._bodies[index])
        except BaseException:
            self._add_orphans(watch.leftovers)
            raise
        session_record.session_id = session.id
        session_record.opened_at = self._clock()
        self._open[session.id] = None
        log.info("Opened session %s (%d/%d, duration %d s, %d segment(s))",
                 session.id, index + 1, len(self.plans), plan.duration, len(records))
        cancelled = False
        try:
            self._observer.session_opened(session.id, index, len(self.plans))
            await self._converse(session.id, session.credentials.reveal() if session.credentials else {},
                                 session_record, records)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                cancelled = True
                session_record.error = "cancelled (the task was killed or timed out)"
            else:
                session_record.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            for record in records:
                if record.status == PENDING and record.sent_at is not None:
                    record.status = FAILED
                    record.error = record.error or session_record.error
            raise
        finally:
            outcome = await close_session(client, session.id, attempts=self.settings.close_attempts)
            session_record.closed_at = self._clock()
            session_record.close = outcome.to_dict()
            if outcome.closed:
                self._open.pop(session.id, None)
                log.info("Closed session %s (attempts %d, status %s)", session.id, outcome.attempts,
                         outcome.confirmed_status)
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

    async def _converse(
        self,
        session_id: str,
        credentials: dict[str, Any],
        session_record: SessionRecord,
        records: list[SegmentRecord],
    ) -> None:
        s = self.settings
        transport = create_transport(s.stream_type, credentials, limits=s.transport_limits())
        try:
            try:
                await asyncio.wait_for(transport.connect(), timeout=s.join_timeout)
            except TimeoutError:
                raise TransportError(f"could not join the data channel within {s.join_timeout:g} s") from None
            await transport.wait_ready(timeout=s.ready_timeout)
            session_record.ready_at = self._clock()
            timings = SpeakerTimings(
                ack_timeout=s.ack_timeout,
                segment_timeout=s.segment_timeout,
                fallback_grace=s.fallback_grace,
                time_scale=s.time_scale,
            )
            speaker = Speaker(transport, timings, clock=self._clock)
            try:
                acked = await speaker.configure(self._set_params())
            except SetParamsRejectedError:
                session_record.params_ack = "rejected"
                raise
            session_record.params_ack = "ok" if acked else "timeout"
            if not acked:
                log.warning("No set-params ack within %g s in session %s; going on", s.ack_timeout, session_id)
            for record in records:
                record.session_id = session_id
                try:
                    await speaker.speak(record)
                except TransportClosedError as exc:
                    record.status = FAILED
                    record.error = f"{type(exc).__name__}: {exc}"
                    raise
                done = sum(1 for r in self.result.segments if r.done)
                self._observer.segment_finished(record, done, len(self.result.segments))
        finally:
            await _close_transport(transport)


async def _close_transport(transport: Any) -> None:
    """Leave the channel even if cancelled meanwhile (the session close follows)."""
    closing = asyncio.ensure_future(transport.close())
    try:
        await asyncio.shield(closing)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(closing, timeout=5)
        raise
