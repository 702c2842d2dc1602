"""Configuration of akool-sim: credentials, time scale, fault injection and data-channel behaviour."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .profiles import PROFILE_FIELDS, profile_values

FAULT_KINDS: tuple[str, ...] = (
    "http_500",
    "http_503",
    "http_429",
    "code_1005",
    "reset",
    "stall",
    "lost_response",
    "truncate",
)

# Fields of SimConfig that make up the data-channel behaviour (changeable at runtime via /_sim/channel).
CHANNEL_FIELDS: tuple[str, ...] = (
    "join_delay_seconds",
    "never_join",
    "emit_audio_events",
    "ack_code",
    "ack_type",
    "max_message_bytes",
    "bytes_per_second",
    "messages_per_second",
    "pre_join_messages",
    "profile",
    "bot_echo",
    "event_mid",
    "busy_chat",
    "packet_drop_rate",
    "packet_reorder_rate",
    "max_lost_packets",
    "max_reordered_packets",
    "reorder_hold_seconds",
    "session_end",
    "speech_rate_scale",
    "speech_jitter",
    "voice_factor_min",
    "voice_factor_max",
    "voice_rate_factors",
)


class SimConfig(BaseModel):
    """Everything akool-sim can be told at start. All values have defaults.

    Durations named ``*_seconds`` are simulated seconds unless noted: the simulated clock runs
    ``time_scale`` times faster than the wall clock. ``stall_seconds`` is real time, because a
    stall exists to trip the caller's (real) timeout.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    api_key: str = "sim-api-key"
    client_id: str = "sim-client-id"
    client_secret: str = "sim-client-secret"  # noqa: S105 - a well-known test credential
    time_scale: float = Field(default=1.0, gt=0)
    seed: int = 0

    fault_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_kinds: list[str] = Field(default_factory=lambda: list(FAULT_KINDS))
    fault_paths: list[str] = Field(default_factory=lambda: ["/api/"])
    stall_seconds: float = Field(default=30.0, ge=0)

    avatar_queue_seconds: float = Field(default=20.0, ge=0)
    avatar_processing_seconds: float = Field(default=90.0, ge=0)
    session_start_seconds: float = Field(default=2.0, ge=0)
    file_ttl_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    include_avatar_status: bool = True
    kb_list_shape: Literal["array", "knowledge_list"] = "array"

    credits: float = Field(default=100000.0, ge=0)
    credits_per_minute: float = Field(default=1.0, ge=0)
    resource_size_bytes: int = Field(default=256 * 1024, ge=0)

    join_delay_seconds: float = Field(default=2.0, ge=0)
    never_join: bool = False
    emit_audio_events: bool = True
    ack_code: int = 1000
    ack_type: Literal["command", "cmd"] = "command"
    max_message_bytes: int = Field(default=1024, gt=0)
    bytes_per_second: float = Field(default=6000.0, gt=0)
    messages_per_second: float = Field(default=30.0, gt=0)
    pre_join_messages: Literal["buffer", "drop"] = "buffer"
    # Behaviours the docs leave open (docs/sim.md, "Profiles"); a profile sets them all at once.
    profile: str = "default"
    bot_echo: Literal["mid", "own_mid", "none"] = "mid"
    event_mid: Literal["client", "own"] = "client"
    busy_chat: Literal["queue", "interrupt"] = "queue"
    packet_drop_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    packet_reorder_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    max_lost_packets: int = Field(default=3, ge=0)
    max_reordered_packets: int = Field(default=5, ge=0)
    reorder_hold_seconds: float = Field(default=0.5, ge=0)
    session_end: Literal["cut", "finish"] = "cut"
    # The speaking-time model (sim/speech.py, sim/voices.py).
    speech_rate_scale: float = Field(default=1.0, gt=0)
    speech_jitter: float = Field(default=0.08, ge=0.0, lt=1.0)
    voice_factor_min: float = Field(default=0.85, gt=0)
    voice_factor_max: float = Field(default=1.2, gt=0)
    voice_rate_factors: dict[str, float] = Field(default_factory=dict)

    request_log_limit: int = Field(default=10000, gt=0)

    @field_validator("fault_kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; allowed: {list(FAULT_KINDS)}")
        return kinds

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        """A named profile fills the behaviour fields the caller did not set explicitly."""
        if isinstance(data, dict) and data.get("profile") is not None:
            return {**profile_values(str(data["profile"])), **data}
        return data

    @model_validator(mode="after")
    def _voice_range(self) -> SimConfig:
        if self.voice_factor_min > self.voice_factor_max:
            raise ValueError("voice_factor_min must not exceed voice_factor_max")
        return self

    def with_overrides(self, **overrides: Any) -> SimConfig:
        """A validated copy with some fields replaced; a new ``profile`` resets the fields it governs."""
        current = self.model_dump()
        if "profile" in overrides:
            current = {k: v for k, v in current.items() if k not in PROFILE_FIELDS}
        return SimConfig.model_validate({**current, **overrides})

    def public_dump(self) -> dict[str, Any]:
        """The config without its secrets, for /_sim/state."""
        data = self.model_dump()
        for key in ("api_key", "client_secret"):
            data[key] = "***"
        return data
