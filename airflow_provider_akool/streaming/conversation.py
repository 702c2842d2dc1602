"""One session's conversation: join, set-params, then the queued segments while they fit.

Segments are taken from the head of the run's queue, one at a time, in order. Before each one the
session's remaining time is checked (``rollover``); a segment that would not finish in time is
left for the next session (ended by ``rollover``). A segment cut short - the channel closed, the
avatar left, the session ended, it started and never finished, or it showed no sign of being
taken even when sent again - stays at the head of the queue and is spoken again, whole, in a new
session (ended by ``cut``), at most ``max_segment_attempts`` sessions in all. A new session has
nothing queued from the old one, so nothing is spoken whole twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_akool.streaming.errors import TransportClosedError, TransportError
from airflow_provider_akool.streaming.evidence import SpeakerTimings
from airflow_provider_akool.streaming.protocol import SetParams
from airflow_provider_akool.streaming.rollover import Rollover, SessionTimer
from airflow_provider_akool.streaming.settings import RetellingSettings
from airflow_provider_akool.streaming.speaker import SegmentFailedError, SetParamsRejectedError, Speaker
from airflow_provider_akool.streaming.transcript import (
    ATTEMPT_CUT,
    ATTEMPT_NOT_SENT,
    ATTEMPT_SPOKEN,
    BY_AUDIO_END,
    FAILED,
    SegmentRecord,
    SessionRecord,
)
from airflow_provider_akool.streaming.transports.base import Transport
from airflow_provider_akool.streaming.transports.factory import create_transport

__all__ = ["CUT", "DONE", "ROLLOVER", "Conversation", "SegmentAttemptsExhaustedError"]

log = logging.getLogger(__name__)
DONE, ROLLOVER, CUT = "done", "rollover", "cut"


@dataclass
class Conversation:
    """Speaks from ``queue`` over one session's data channel; :meth:`run` returns how it ended."""

    settings: RetellingSettings
    rollover: Rollover
    timer: SessionTimer
    session_record: SessionRecord
    queue: deque[SegmentRecord]
    on_spoken: Callable[[SegmentRecord], None]
    clock: Callable[[], float]
    evidence_in_run: bool = False
    transport_factory: Callable[..., Transport] = create_transport

    def _timings(self) -> SpeakerTimings:
        s = self.settings
        return SpeakerTimings(
            ack_timeout=s.ack_timeout,
            segment_timeout=s.segment_timeout,
            fallback_grace=s.fallback_grace,
            taken_timeout=s.taken_timeout,
            max_resends=s.max_resends,
            time_scale=s.time_scale,
        )

    async def run(self, credentials: dict[str, Any], params: SetParams) -> str:
        s = self.settings
        transport = self.transport_factory(s.stream_type, credentials, limits=s.transport_limits())
        try:
            try:
                await asyncio.wait_for(transport.connect(), timeout=s.join_timeout)
            except TimeoutError:
                raise TransportError(f"could not join the data channel within {s.join_timeout:g} s") from None
            await transport.wait_ready(timeout=s.ready_timeout)
            self.session_record.ready_at = self.clock()
            speaker = Speaker(transport, self._timings(), clock=self.clock)
            try:
                acked = await speaker.configure(params)
            except SetParamsRejectedError:
                self.session_record.params_ack = "rejected"
                raise
            self.session_record.params_ack = "ok" if acked else "timeout"
            if not acked:
                log.warning(
                    "No set-params ack within %g s in session %s; going on",
                    s.ack_timeout,
                    self.session_record.session_id,
                )
            return await self._speak_queue(speaker)
        finally:
            await _close_transport(transport)

    async def _speak_queue(self, speaker: Speaker) -> str:
        session_id = str(self.session_record.session_id)
        finished = 0
        while self.queue:
            record = self.queue[0]
            events = self.rollover.session_events(speaker.audio_events_seen, finished)
            if not self.rollover.fits(self.timer, record.text, events, speaker.send_seconds(record.text)):
                if finished == 0:  # not even the first fits (a slow join): counts as an attempt
                    record.session_id = session_id
                    record.end_attempt(ATTEMPT_NOT_SENT, "too little session time left after joining")
                    self._check_attempts(record, "too little session time left after joining")
                log.info(
                    "Segment %r would not finish before session %s runs out (%.0f s left); rolling over",
                    record.id,
                    session_id,
                    self.timer.remaining(),
                )
                return ROLLOVER
            record.begin_attempt(session_id)
            waits = self._timings().waits(record.text, self.rollover.model, self.settings.speed)
            check = speaker.evidence_seen or self.evidence_in_run
            try:
                await speaker.speak(record, waits, check_taken=check)
            except (TransportClosedError, SegmentFailedError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                record.end_attempt(ATTEMPT_CUT if record.sent_at is not None else ATTEMPT_NOT_SENT, reason)
                log.warning(
                    "Segment %r was cut in session %s (%s); it will be spoken again in a new session",
                    record.id,
                    session_id,
                    reason,
                )
                self._check_attempts(record, reason, exc)
                return CUT
            record.end_attempt(ATTEMPT_SPOKEN)
            self.evidence_in_run = self.evidence_in_run or speaker.evidence_seen
            speaking = None
            if record.audio_start_at is not None and record.audio_end_at is not None:
                speaking = record.audio_end_at - record.audio_start_at
            self.rollover.observe(record.text, speaking, record.completion == BY_AUDIO_END or speaker.audio_events_seen)
            self.queue.popleft()
            finished += 1
            self.session_record.audio_events = speaker.audio_events_seen
            self.on_spoken(record)
        return DONE

    def _check_attempts(self, record: SegmentRecord, reason: str, cause: BaseException | None = None) -> None:
        """Give up on a segment tried in ``max_segment_attempts`` sessions already."""
        limit = self.settings.max_segment_attempts
        if len(record.attempts) < limit:
            return
        record.status = FAILED
        record.error = f"segment {record.id!r} was not spoken whole in {limit} session(s); last: {reason}"
        raise SegmentAttemptsExhaustedError(record.error) from cause


class SegmentAttemptsExhaustedError(SegmentFailedError):
    """A segment was tried in ``max_segment_attempts`` sessions and never spoken whole."""


async def _close_transport(transport: Any) -> None:
    """Leave the channel even if cancelled meanwhile (the session close follows)."""
    closing = asyncio.ensure_future(transport.close())
    try:
        await asyncio.shield(closing)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(closing, timeout=5)
        raise
