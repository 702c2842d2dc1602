"""Drive one connected data channel in retelling mode: set-params + ack, then segment after segment.

Everything received is handled inline while waiting, in arrival order: command acks, ``audio_start``
/ ``audio_end`` events (undocumented by Akool, sent by its demo's peer and by akool-sim; §4.3), bot
chat reassembled by ``mid``, and akool-sim's ``sim-error`` reports of dropped messages. Events and
replies are matched to a segment by the ``mid`` we sent; one with an unknown or missing ``mid`` is
taken to belong to the segment being spoken (segments are sent one at a time), a bot text only if
it is part of that segment's text. A segment sent again gets a new ``mid``; the old one's late
events are ignored.

When a segment counts as taken and as finished, and how long each wait is: ``evidence``. A segment
the avatar shows no sign of taking, when signs are expected, is sent again whole after an
``interrupt`` (so that a copy still queued cannot be spoken as well), at most ``max_resends`` times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from airflow_provider_akool.streaming.assembly import ChatAssembler
from airflow_provider_akool.streaming.chunker import chunk_text
from airflow_provider_akool.streaming.errors import ReceiveTimeoutError, StreamingError
from airflow_provider_akool.streaming.evidence import SegmentWaits, SpeakerTimings
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
    interrupt_command,
    new_mid,
    set_params_command,
)
from airflow_provider_akool.streaming.transcript import (
    BY_AUDIO_END,
    BY_ECHO,
    BY_ESTIMATE,
    FAILED,
    SPOKEN,
    TIMEOUT,
    SegmentRecord,
)
from airflow_provider_akool.streaming.transports.base import Transport

__all__ = [
    "SegmentFailedError",
    "SegmentNotTakenError",
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
    """The avatar started a segment and did not finish it in time."""


class SegmentNotTakenError(SegmentFailedError):
    """The avatar showed no sign of taking a segment, sent again after an interrupt, in a session that
    gives such signs."""


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
        self._stale: set[str] = set()
        self._current: SegmentRecord | None = None
        self._echo_mono: float | None = None
        self._acks: dict[str | None, CommandAck] = {}
        self._params_mid: str | None = None
        self._events_seen = False
        self._echo_seen = False
        self.ignored = 0

    @property
    def audio_events_seen(self) -> bool:
        """True once the avatar sent any audio_start/audio_end in this session."""
        return self._events_seen

    @property
    def evidence_seen(self) -> bool:
        """True once the avatar showed, in this session, that it takes segments (an event or an echo)."""
        return self._events_seen or self._echo_seen

    def send_seconds(self, text: str) -> float:
        """Real seconds the transport's byte rate needs to send ``text`` (chat envelopes included)."""
        size = len(text.encode("utf-8", "replace"))
        chunks = 1 + size // max(1, self._transport.limits.max_message_bytes // 2)
        return (size + 120 * chunks) / self._transport.limits.bytes_per_second

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

    async def speak(self, record: SegmentRecord, waits: SegmentWaits, *, check_taken: bool) -> None:
        """Send one segment and wait until it is spoken (``evidence``). Fills ``record`` as it goes.

        ``check_taken``: signs of receipt are expected (the avatar gave them before), so a segment
        without one within ``waits.taken`` is sent again after an interrupt.

        Raises:
            SegmentNotTakenError / SegmentFailedError / SegmentTimeoutError: the record's status
                and error say which.
            TransportClosedError: the channel closed or the avatar left.
        """
        self._current = record
        self._echo_mono = None
        await self._send(record)
        while True:
            wait = waits.taken if check_taken else 0.0
            await self._wait(wait, lambda: self._taken(record))
            problem = record.error
            if not problem and (self._taken(record) or not check_taken):
                break
            if record.resends >= self._timings.max_resends:
                record.status = FAILED
                if problem:
                    raise SegmentFailedError(problem)
                record.error = (
                    f"the avatar showed no sign of taking segment {record.id!r} "
                    f"(sent {record.resends + 1} time(s), {waits.taken:g} s each)"
                )
                raise SegmentNotTakenError(record.error)
            log.info(
                "segment %r: %s; interrupting and sending it again",
                record.id,
                problem or f"no audio_start or echo within {waits.taken:g} s",
            )
            await self.interrupt()
            record.resends += 1
            record.error = None
            await self._send(record)
        await self._until_finished(record, waits)

    async def _until_finished(self, record: SegmentRecord, waits: SegmentWaits) -> None:
        sent = self._monotonic()
        while True:
            if record.error is not None:
                record.status = FAILED
                raise SegmentFailedError(record.error)
            if record.audio_end_at is not None:
                self._finish(record, BY_AUDIO_END)
                return
            if record.audio_start_at is not None:
                deadline, condition = sent + waits.timeout, lambda: self._ended(record)
            elif self._echo_mono is not None:
                echoed = self._echo_mono
                deadline, condition = echoed + waits.hold, lambda: self._ended(record) or self._started(record)
            else:
                deadline, condition = sent + waits.grace + waits.hold, lambda: self._heard(record)
            if await self._wait(deadline - self._monotonic(), condition):
                continue
            if record.audio_start_at is not None:
                record.status = TIMEOUT
                record.error = (
                    f"the avatar started but did not finish speaking segment {record.id!r} within {waits.timeout:.1f} s"
                )
                raise SegmentTimeoutError(record.error)
            self._finish(record, BY_ECHO if self._echo_mono is not None else BY_ESTIMATE)
            return

    async def interrupt(self) -> None:
        """Stop whatever the avatar is saying or has queued; wait briefly for the ack (not required)."""
        mid = new_mid()
        await self._transport.send(encode(interrupt_command(mid=mid)))
        await self._wait(min(self._timings.ack_timeout, self._timings.taken_timeout), lambda: mid in self._acks)

    async def _send(self, record: SegmentRecord) -> None:
        if record.mid is not None:
            self._stale.add(record.mid)
            self._by_mid.pop(record.mid, None)
        mid = new_mid()
        record.mid = mid
        self._by_mid[mid] = record
        chunks = chunk_text(record.text, max_message_bytes=self._transport.limits.max_message_bytes, mid=mid)
        if record.sent_at is None:
            record.sent_at = self._clock()
        for chunk in chunks:
            payload = encode(chunk)
            await self._transport.send(payload)
            record.chunks += 1
            record.bytes_sent += len(payload)
        record.send_finished_at = self._clock()

    def _finish(self, record: SegmentRecord, completion: str) -> None:
        record.completion = completion
        record.finished_at = self._clock()
        record.status = SPOKEN
        self._current = None

    def _started(self, record: SegmentRecord) -> bool:
        return record.audio_start_at is not None

    def _taken(self, record: SegmentRecord) -> bool:
        return self._heard(record) or record.error is not None

    def _heard(self, record: SegmentRecord) -> bool:
        return record.audio_start_at is not None or record.audio_end_at is not None or self._echo_mono is not None

    def _ended(self, record: SegmentRecord) -> bool:
        return record.audio_end_at is not None or record.error is not None

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
        if mid is not None and (mid == self._params_mid or mid in self._stale):
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
            if record is None or name not in (AUDIO_START, AUDIO_END):
                return
            self._events_seen = True
            if name == AUDIO_START and record.audio_start_at is None:
                record.audio_start_at = now
            elif name == AUDIO_END and record.audio_end_at is None:
                record.audio_end_at = now
        elif isinstance(message, ChatMessage):
            if message.pld.from_ == "bot":
                self._bot_text(message, now)
        elif isinstance(message, SimErrorMessage):
            record = self._owner(message.pld.mid)
            reason = message.pld.reason
            if record is not None and record.error is None and record.status != SPOKEN:
                record.error = f"the data channel dropped a message of segment {record.id!r} ({reason})"
            elif message.pld.mid == self._params_mid:
                log.warning("the data channel dropped set-params (%s)", reason)
        else:
            self.ignored += 1

    def _bot_text(self, message: ChatMessage, now: float) -> None:
        record = self._owner(message.mid)
        if record is None:
            return
        # Without our mid, only text that is part of the segment counts (not a late piece of another).
        echoes = message.mid == record.mid or (bool(message.text.strip()) and message.text in record.text)
        if echoes and record is self._current and self._echo_mono is None:
            self._echo_mono = self._monotonic()
            self._echo_seen = True
            if record.echo_at is None:
                record.echo_at = now
        assembled = self._assembler.add(message)
        if assembled is not None and echoes:
            record.bot_text += assembled.text
