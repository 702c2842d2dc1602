"""Configuration of akool-sim: credentials, time scale, fault injection and data-channel behaviour."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

    request_log_limit: int = Field(default=10000, gt=0)

    @field_validator("fault_kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; allowed: {list(FAULT_KINDS)}")
        return kinds

    def with_overrides(self, **overrides: Any) -> SimConfig:
        """A validated copy with some fields replaced."""
        return SimConfig.model_validate({**self.model_dump(), **overrides})

    def public_dump(self) -> dict[str, Any]:
        """The config without its secrets, for /_sim/state."""
        data = self.model_dump()
        for key in ("api_key", "client_secret"):
            data[key] = "***"
        return data
