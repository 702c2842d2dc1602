"""Session time as the run goes: does the next segment still fit the open session, how long should
the next session be, and may it be opened at all (the cost caps).

A session is paid for its whole ``duration`` and ends by itself when that runs out (docs/reference/akool-api.md
§2.4, §3), cutting off whatever the avatar is saying. So before each segment the runner asks
:meth:`SessionTimer.fits`: the time the session has left (counted from just before its create,
minus ``margin_seconds`` for latency) must hold the segment's bound plus its start-up overhead.
The bound is the learned sizing bound while the avatar sends audio events (we wait for
``audio_end``), else the conservative no-confirmation bound (that is how long we hold the session
for it, ``evidence``). A segment that does not fit goes to a new session, sized by
:meth:`Rollover.next_duration` from the same bounds; one too long even for a fresh session is
split at sentence or word boundaries (``id#1``, ``id#2``).

Every session the run opens (planned, rollover or recovery) is checked against ``max_sessions``
and ``max_total_session_seconds`` before it is created (:meth:`Rollover.check_caps`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from airflow_provider_akool._session_caps import MAX_SESSION_SECONDS
from airflow_provider_akool.streaming.errors import StreamingError
from airflow_provider_akool.streaming.planning import Duration, DurationPolicy, split_to_budget
from airflow_provider_akool.streaming.speech import RateMeter, SpeakingTimeModel

__all__ = ["Rollover", "SessionCapReachedError", "SessionTimer"]


class SessionCapReachedError(StreamingError):
    """Opening one more session would exceed a cost cap. The message names the cap."""


@dataclass
class SessionTimer:
    """One open session's clock: ``started`` is monotonic time just before its create call."""

    duration: int
    started: float
    time_scale: float
    monotonic: Callable[[], float] = time.monotonic

    def elapsed(self) -> float:
        """Session seconds used so far (simulated seconds under akool-sim's time scale)."""
        return (self.monotonic() - self.started) * self.time_scale

    def remaining(self) -> float:
        return self.duration - self.elapsed()


@dataclass
class Rollover:
    """The run's timing state: its rate meter (one avatar, voice and language), what it knows of the
    avatar's audio events, and the sessions it has paid for."""

    policy: DurationPolicy
    speed: float
    duration: Duration
    time_scale: float = 1.0
    margin_seconds: float = 10.0
    grace_seconds: float = 0.0  # start-up allowance a segment without a sign is held for, too
    max_sessions: int | None = None
    max_total_session_seconds: int | None = None
    meter: RateMeter = field(default_factory=RateMeter)
    audio_events: bool | None = None  # None until a segment finishes; True once any audio event came
    sessions_opened: int = 0
    seconds_requested: int = 0

    @property
    def model(self) -> SpeakingTimeModel:
        """The learned model (the configured one until the avatar was measured)."""
        return self.meter.learned_model()

    @property
    def fresh_capacity(self) -> float:
        """Seconds a new session can last: the explicit duration, else Akool's 3600."""
        return float(MAX_SESSION_SECONDS if self.duration == "auto" else self.duration)

    def observe(self, text: str, speaking_seconds: float | None, audio_events: bool) -> None:
        """Learn from one finished segment (real speaking seconds, audio_start to audio_end)."""
        if audio_events:
            self.audio_events = True
        elif self.audio_events is None:
            self.audio_events = False
        if speaking_seconds is not None and speaking_seconds > 0:
            self.meter.observe(text, speaking_seconds * self.time_scale, self.speed)

    # --- bounds ---------------------------------------------------------------------------------

    def hold_seconds(self, text: str, audio_events: bool | None) -> float:
        """Session seconds to reserve for speaking ``text``: the sizing bound when audio events are
        expected, else the no-confirmation bound."""
        model = self.model
        if audio_events:
            return model.sizing_seconds(text, self.speed)
        return model.unconfirmed_wait_seconds(text, self.speed)

    def need_seconds(self, text: str, audio_events: bool | None) -> float:
        """The hold plus start-up: the segment overhead, or the start-up allowance when no audio
        events are expected (it is part of the hold then, ``evidence``)."""
        startup = self.policy.segment_overhead_seconds
        if not audio_events:
            startup = max(startup, self.grace_seconds)
        return self.hold_seconds(text, audio_events) + startup

    def session_events(self, speaker_events: bool, finished_in_session: int) -> bool | None:
        """What to expect of the open session: its own record once a segment finished in it."""
        if speaker_events:
            return True
        return False if finished_in_session else self.audio_events

    def fits(self, timer: SessionTimer, text: str, audio_events: bool | None, send_seconds: float = 0.0) -> bool:
        """Whether ``text`` will be over, with the margin, before the session runs out.

        ``send_seconds``: real seconds sending it takes at the transport's byte rate (the avatar
        starts once it has the whole text).
        """
        sending = send_seconds * self.time_scale
        return self.need_seconds(text, audio_events) + sending + self.margin_seconds <= timer.remaining()

    # --- the next session ---------------------------------------------------------------------

    def _first_fits_fresh(self, text: str) -> bool:
        overhead = self.policy.session_overhead_seconds + self.margin_seconds
        return overhead + self.need_seconds(text, self.audio_events) <= self.fresh_capacity

    def split_for_fresh(self, text: str) -> list[str]:
        """``text`` as is when it fits a fresh session on its own, else pieces that each do."""
        if self._first_fits_fresh(text):
            return [text]
        startup = self.need_seconds("", self.audio_events)
        budget = max(1.0, self.fresh_capacity - self.policy.session_overhead_seconds - startup - self.margin_seconds)
        return split_to_budget(text, budget, lambda t: self.hold_seconds(t, self.audio_events))

    def next_duration(self, texts: Sequence[str]) -> int:
        """Duration for a new session that will speak (a prefix of) ``texts``, in order.

        The first segment is bounded by what the run knows of audio events; the later ones as if
        the first showed them unless the run has seen none (if it then shows none, the session rolls
        over early rather than running out).
        """
        if self.duration != "auto":
            return int(self.duration)
        needed = self.policy.session_overhead_seconds + self.margin_seconds
        later = self.audio_events is not False
        for position, text in enumerate(texts):
            more = self.need_seconds(text, self.audio_events if position == 0 else later)
            if position and needed + more > MAX_SESSION_SECONDS:
                break
            needed += more
        seconds = math.ceil(needed - 1e-9)
        return min(MAX_SESSION_SECONDS, max(self.policy.minimum_seconds, seconds))

    def check_caps(self, duration: int) -> None:
        """Refuse to open a session that would exceed ``max_sessions`` or ``max_total_session_seconds``."""
        count, total = self.sessions_opened + 1, self.seconds_requested + duration
        opened = f"{self.sessions_opened} session(s) totalling {self.seconds_requested} s opened so far"
        if self.max_sessions is not None and count > self.max_sessions:
            raise SessionCapReachedError(
                f"max_sessions: another session is needed to finish the scripts, over the cap of "
                f"{self.max_sessions} ({opened}); raise max_sessions (None: no cap)"
            )
        if self.max_total_session_seconds is not None and total > self.max_total_session_seconds:
            raise SessionCapReachedError(
                f"max_total_session_seconds: another session of {duration} s is needed to finish the scripts, "
                f"over the cap of {self.max_total_session_seconds} s ({opened}); raise "
                "max_total_session_seconds (None: no cap)"
            )

    def opened(self, duration: int) -> None:
        self.sessions_opened += 1
        self.seconds_requested += duration
