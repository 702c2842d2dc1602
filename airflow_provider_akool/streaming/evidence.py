"""How long to wait for a segment: to be taken by the avatar, to finish, or to be safely over.

Akool documents no "finished speaking" signal. Its React demo handles ``audio_start``/``audio_end``
events (docs/reference/akool-api.md §4.3, §8.9), and in retelling mode the avatar sends the text back as bot chat,
with or without the ``mid`` we used (undocumented either way). So a segment is known to be:

- **taken** (received) by its ``audio_start``, or an echo of its text;
- **finished** by its ``audio_end`` (completion ``audio_end``); without one, once echoed, after the
  conservative bound counted from the echo (completion ``echo``: received, end estimated); with no
  sign at all, after the conservative bound counted from the end of sending plus a start-up
  allowance (completion ``estimate``: unconfirmed).

The conservative bound is the speaking-time model's slowest plausible rates times a margin
(``SpeakingTimeModel.unconfirmed_wait_seconds``); the timeout for ``audio_end`` after an
``audio_start`` is that bound plus latency. Both come from the run's learned model, so they shrink
to the avatar's real rate as it speaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_akool.streaming.speech import SpeakingTimeModel

__all__ = ["SegmentWaits", "SpeakerTimings"]


@dataclass(frozen=True, slots=True)
class SegmentWaits:
    """Real seconds for one segment (see the module docstring).

    ``taken``: from the end of sending to audio_start or an echo, when a sign is expected;
    ``hold``: the conservative speaking bound; ``grace``: start-up allowance before ``hold`` when
    nothing was heard; ``timeout``: from the end of sending to ``audio_end`` once it started.
    """

    taken: float
    hold: float
    grace: float
    timeout: float


@dataclass(frozen=True, slots=True)
class SpeakerTimings:
    """Waits of a speaker, in real seconds. ``time_scale`` divides speaking times (akool-sim only).

    ``segment_timeout`` overrides the derived timeout (the conservative bound + ``segment_margin``);
    ``fallback_grace`` is the start-up allowance of a segment nothing was heard of, in session
    seconds like the speaking times (the avatar's latency runs on the session's clock); ``taken_timeout``
    how long a segment may go without a sign, in a session that gives them, before it is sent again
    (with an interrupt first), at most ``max_resends`` times.
    """

    ack_timeout: float = 15.0
    segment_timeout: float | None = None
    segment_margin: float = 30.0
    fallback_grace: float = 5.0
    taken_timeout: float = 10.0
    max_resends: int = 2
    time_scale: float = 1.0

    def real(self, speaking_seconds: float) -> float:
        return speaking_seconds / self.time_scale

    def waits(self, text: str, model: SpeakingTimeModel, speed: float) -> SegmentWaits:
        """The waits for ``text`` at ``speed`` under ``model`` (the run's learned one)."""
        hold = self.real(model.unconfirmed_wait_seconds(text, speed))
        timeout = self.segment_timeout if self.segment_timeout is not None else hold + self.segment_margin
        grace = self.real(self.fallback_grace)
        return SegmentWaits(taken=self.taken_timeout, hold=hold, grace=grace, timeout=timeout)
