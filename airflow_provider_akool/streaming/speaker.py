"""Drive one connected data channel in retelling mode: set-params + ack, then segment after segment.

Everything received is handled inline while waiting, in arrival order: command acks, ``audio_start``
/ ``audio_end`` events (undocumented by Akool, sent by its demo's peer and by akool-sim; §4.3), bot
chat reassembled by ``mid``, and akool-sim's ``sim-error`` reports of dropped messages. Events and
replies are matched to a segment by the ``mid`` we sent; one with an unknown or missing ``mid`` is
taken to belong to the segment being spoken (segments are sent one at a time).

Completion (akool-api.md §8.9): a segment is done at its ``audio_end``. Until a session has shown
any audio event we wait at most the estimated speaking time plus ``fallback_grace`` for one; when
none comes the segment counts as spoken by estimate, and so do later segments of that session
(each still takes an event if one turns up).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from airflow_provider_akool.streaming.assembly import ChatAssembler
from airflow_provider_akool.streaming.chunker import chunk_text
from airflow_provider_akool.streaming.errors import ReceiveTimeoutError, StreamingError
from airflow_provider_akool.streaming.protocol import (
    AUDIO_END,
    AUDIO_START,
    ChatMessage,
    CommandAck,
    EventMessage,
    SetParams,
    SimErrorMessage,
    decode,
    encode,
    new_mid,
    set_params_command,
)
from airflow_provider_akool.streaming.transcript import (
    BY_AUDIO_END,
    BY_ESTIMATE,
    FAILED,
    SPOKEN,
    TIMEOUT,
    SegmentRecord,
)
from airflow_provider_akool.streaming.transports.base import Transport

__all__ = [
    "SegmentFailedError",
    "SegmentTimeoutError",
    "SetParamsRejectedError",
    "Speaker",
    "SpeakerTimings",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class SetParamsRejectedError(StreamingError):
    """The avatar answered set-params with a code other than 1000."""

    def __init__(self, code: int, msg: str | None) -> None:
        super().__init__(f"set-params was rejected by the avatar with code {code}: {msg or 'no message'}")
        self.code = code


class SegmentFailedError(StreamingError):
    """A segment could not be delivered (the channel dropped one of its messages)."""


class SegmentTimeoutError(SegmentFailedError, TimeoutError):
    """The avatar did not finish speaking a segment in time."""


@dataclass(frozen=True, slots=True)
class SpeakerTimings:
    """Waits, in real seconds. ``time_scale`` divides estimated speaking times (akool-sim only).

    ``segment_timeout``: most seconds from the end of sending to ``audio_end``; None derives it as
    1.5 x the estimate + ``segment_margin``.
    """

    ack_timeout: float = 15.0
    segment_timeout: float | None = None
    segment_margin: float = 30.0
    fallback_grace: float = 5.0
    time_scale: float = 1.0

    def real(self, estimated_seconds: float) -> float:
        return estimated_seconds / self.time_scale

    def timeout_for(self, estimated_seconds: float) -> float:
        if self.segment_timeout is not None:
            return self.segment_timeout
        return 1.5 * self.real(estimated_seconds) + self.segment_margin


class Speaker:
    """Speaks segments over one ready transport. Not reusable across sessions."""

    def __init__(
        self,
        transport: Transport,
        timings: SpeakerTimings,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._timings = timings
        self._clock = clock
        self._monotonic = monotonic
        self._assembler = ChatAssembler()
        self._by_mid: dict[str, SegmentRecord] = {}
        self._current: SegmentRecord | None = None
        self._acks: dict[str | None, CommandAck] = {}
        self._params_mid: str | None = None
        self._events_seen = False
        self._events_absent = False
        self.ignored = 0

    @property
    def audio_events_seen(self) -> bool:
        """True once the avatar sent any audio_start/audio_end in this session."""
        return self._events_seen

    # --- set-params ---------------------------------------------------------------------------

    async def configure(self, params: SetParams) -> bool:
        """Send set-params and wait for its ack.

        Returns False when no ack came within ``ack_timeout`` (the same settings went into the
        session create body, so the run goes on).

        Raises:
            SetParamsRejectedError: the ack carried a code other than 1000.
        """
        mid = new_mid()
        self._params_mid = mid
        await self._transport.send(encode(set_params_command(params, mid=mid)))
        ack = await self._wait(self._timings.ack_timeout, lambda: self._params_ack(mid))
        if ack is None:
            return False
        if not ack.ok:
            raise SetParamsRejectedError(ack.pld.code, ack.pld.msg)
        return True

    def _params_ack(self, mid: str) -> CommandAck | None:
        ack = self._acks.get(mid)
        if ack is None:
            ack = next((a for a in self._acks.values() if a.pld.cmd == "set-params"), None)
        return ack

    # --- segments -----------------------------------------------------------------------------

    async def speak(self, record: SegmentRecord) -> None:
        """Send one segment and wait until it is spoken. Fills ``record`` as it goes.

        Raises:
            SegmentFailedError / SegmentTimeoutError: the record's status says which.
            TransportClosedError: the channel closed or the avatar left.
        """
        mid = new_mid()
        record.mid = mid
        self._by_mid[mid] = record
        self._current = record
        chunks = chunk_text(record.text, max_message_bytes=self._transport.limits.max_message_bytes, mid=mid)
        record.sent_at = self._clock()
        for chunk in chunks:
            payload = encode(chunk)
            await self._transport.send(payload)
            record.chunks += 1
            record.bytes_sent += len(payload)
        record.send_finished_at = self._clock()
        self._check_rejected(record)

        estimate = self._timings.real(record.estimated_seconds)
        timeout = self._timings.timeout_for(record.estimated_seconds)
        started = self._monotonic()
        if not self._events_seen:
            # Without events, the estimate plus grace (for the avatar's start-up latency) is all we
            # have; an event arriving meanwhile switches to waiting for audio_end.
            first_wait = min(timeout, estimate + self._timings.fallback_grace)
            await self._wait(first_wait, lambda: self._heard(record))
            if record.audio_start_at is None and record.audio_end_at is None:
                self._check_rejected(record)
                if not self._events_absent:
                    log.info("no audio events from the avatar; completing segments by estimated speaking time")
                self._events_absent = True
                self._finish(record, BY_ESTIMATE)
                return
        remaining = timeout - (self._monotonic() - started)
        await self._wait(remaining, lambda: self._ended(record))
        if record.audio_end_at is None:
            self._check_rejected(record)
            record.status = TIMEOUT
            state = "started but did not finish" if record.audio_start_at else "did not start"
            record.error = f"the avatar {state} speaking segment {record.id!r} within {timeout:.1f} s"
            raise SegmentTimeoutError(record.error)
        self._finish(record, BY_AUDIO_END)

    def _finish(self, record: SegmentRecord, completion: str) -> None:
        record.completion = completion
        record.finished_at = self._clock()
        record.status = SPOKEN
        self._current = None

    def _heard(self, record: SegmentRecord) -> bool:
        return record.audio_start_at is not None or record.audio_end_at is not None or record.error is not None

    def _ended(self, record: SegmentRecord) -> bool:
        return record.audio_end_at is not None or record.error is not None

    def _check_rejected(self, record: SegmentRecord) -> None:
        if record.error is not None and record.status != SPOKEN:
            record.status = FAILED
            raise SegmentFailedError(record.error)

    # --- receiving ----------------------------------------------------------------------------

    async def _wait(self, seconds: float, condition: Callable[[], T]) -> T | None:
        """Handle incoming payloads until ``condition()`` is truthy or ``seconds`` pass."""
        deadline = self._monotonic() + max(0.0, seconds)
        while True:
            result = condition()
            if result:
                return result
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return None
            try:
                payload = await self._transport.recv(timeout=remaining)
            except ReceiveTimeoutError:
                return None
            self._handle(payload)

    def _owner(self, mid: str | None) -> SegmentRecord | None:
        if mid is not None and mid in self._by_mid:
            return self._by_mid[mid]
        if mid is not None and mid == self._params_mid:
            return None
        return self._current

    def _handle(self, payload: bytes) -> None:
        message = decode(payload)
        now = self._clock()
        if isinstance(message, CommandAck):
            self._acks[message.mid] = message
        elif isinstance(message, EventMessage):
            record = self._owner(message.mid)
            name = message.pld.event
            if name in (AUDIO_START, AUDIO_END):
                self._events_seen = True
                self._events_absent = False
            if record is None:
                return
            if name == AUDIO_START and record.audio_start_at is None:
                record.audio_start_at = now
            elif name == AUDIO_END and record.audio_end_at is None:
                record.audio_end_at = now
        elif isinstance(message, ChatMessage):
            if message.pld.from_ != "bot":
                return
            assembled = self._assembler.add(message)
            record = self._owner(message.mid)
            if assembled is not None and record is not None:
                record.bot_text += assembled.text
        elif isinstance(message, SimErrorMessage):
            record = self._owner(message.pld.mid)
            reason = message.pld.reason
            if record is not None and record.error is None:
                record.error = f"the data channel dropped a message of segment {record.id!r} ({reason})"
            elif message.pld.mid == self._params_mid:
                log.warning("the data channel dropped set-params (%s)", reason)
        else:
            self.ignored += 1
