"""What a retelling run is asked to do: session settings, waits, cost caps and the confirmation rule.

Validated as a whole by :meth:`RetellingSettings.checked` before anything remote happens; every
problem is a :class:`RetellingInputError` (or ``UnsupportedStreamTypeError``) naming the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from airflow_provider_akool._session_caps import (
    CONFIRMATION_RULES,
    DEFAULT_MAX_TOTAL_SESSION_SECONDS,
    check_session_cap,
)
from airflow_provider_akool.streaming.limits import TransportLimits, check_set_params_fits, transport_limits
from airflow_provider_akool.streaming.planning import (
    Duration,
    DurationPolicy,
    RetellingInputError,
    check_duration,
    check_speed,
)
from airflow_provider_akool.streaming.protocol import SetParams, retelling_set_params
from airflow_provider_akool.streaming.speech import SpeakingTimeModel, SpeechRates
from airflow_provider_akool.streaming.transports.factory import check_stream_type_supported

__all__ = ["CONFIRMATION_RULES", "RetellingSettings", "check_confirmation_rule"]

ConfirmationRule = Literal["warn", "fail", "off"]
_RULES: tuple[ConfirmationRule, ...] = ("warn", "fail", "off")  # CONFIRMATION_RULES, typed


def check_confirmation_rule(value: Any) -> ConfirmationRule:
    """``require_confirmation``: ``warn``, ``fail`` or ``off`` (case-insensitive), else RetellingInputError."""
    rule = value.strip().lower() if isinstance(value, str) else None
    for known in _RULES:
        if rule == known:
            return known
    raise RetellingInputError(f"require_confirmation: must be one of {', '.join(CONFIRMATION_RULES)} (got {value!r})")


@dataclass(frozen=True)
class RetellingSettings:
    """Session settings, waits and caps. Seconds are real seconds unless they are session seconds.

    ``join_timeout`` bounds joining the data channel (keep it well under the ~5 minute token life);
    ``ready_timeout`` waiting for the avatar to publish; ``ack_timeout`` the set-params ack;
    ``segment_timeout`` the wait for a segment's ``audio_end`` once it started (None: the learned
    conservative bound + 30 s); ``fallback_grace`` the start-up allowance (session seconds) of a
    segment nothing was heard of; ``taken_timeout`` how long a segment may go without a sign of receipt, once the avatar
    gave signs, before it is sent again (after an interrupt; at most ``max_resends`` times).
    ``time_scale`` divides speaking times, for akool-sim run faster than real time.

    ``rollover_margin`` (session seconds) is kept free at the end of each session for latency.
    ``max_segment_attempts`` bounds how many sessions may try one segment (a cut one is spoken again,
    whole, in a new session). ``max_sessions`` and ``max_total_session_seconds`` cap every session the
    run opens, planned, rollover or recovery (None: no cap). ``require_confirmation``: what a segment
    spoken by estimate alone does to the run: ``warn`` (logged, counted in the transcript),
    ``fail`` (the run fails after closing its sessions), ``off`` (counted only).
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
    taken_timeout: float = 10.0
    max_resends: int = 2
    rollover_margin: float = 10.0
    max_segment_attempts: int = 3
    max_sessions: int | None = None
    max_total_session_seconds: int | None = DEFAULT_MAX_TOTAL_SESSION_SECONDS
    require_confirmation: ConfirmationRule = "warn"
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
        if not self.taken_timeout > 0:
            raise RetellingInputError("taken_timeout: must be > 0 seconds")
        if not self.rollover_margin >= 0:
            raise RetellingInputError("rollover_margin: must be >= 0 seconds")
        for name, low in (("max_resends", 0), ("max_segment_attempts", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise RetellingInputError(f"{name}: must be a whole number >= {low} (got {value!r})")
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
            max_sessions=check_session_cap("max_sessions", self.max_sessions),
            max_total_session_seconds=check_session_cap("max_total_session_seconds", self.max_total_session_seconds),
            require_confirmation=check_confirmation_rule(self.require_confirmation),
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
            voice_id=self.voice_id,
            language=self.language,
            background_url=self.background_url,
            speed=self.speed,
            pron_map=dict(self.pron_map) if self.pron_map else None,
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
            "max_sessions": self.max_sessions,
            "max_total_session_seconds": self.max_total_session_seconds,
            "max_segment_attempts": self.max_segment_attempts,
            "require_confirmation": self.require_confirmation,
        }
