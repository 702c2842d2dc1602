"""Streaming sessions: create request with voice params, session objects and RTC credentials."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator

from airflow_provider_akool.client.models.common import RequestModel, ResponseModel, Secret

MAX_SESSION_SECONDS = 3600
StreamType = Literal["agora", "livekit", "trtc", "sim"]
STREAM_TYPES: tuple[str, ...] = ("agora", "livekit", "trtc", "sim")


class SessionStatus(IntEnum):
    """Session status enum (docs/reference/akool-api.md §3). 1 and 2 hold pre-charged credits."""

    QUEUEING = 1
    PROCESSING = 2
    COMPLETED = 3
    FAILED = 4


OPEN_SESSION_STATUSES = (SessionStatus.QUEUEING, SessionStatus.PROCESSING)


class TurnDetection(RequestModel):
    type: Literal["server_vad", "semantic_vad"] | None = None
    threshold: float | None = Field(default=None, ge=0, le=1)
    prefix_padding_ms: int | None = Field(default=None, ge=0)
    silence_duration_ms: int | None = Field(default=None, ge=0)


class ElevenLabsSettings(RequestModel):
    api_key: Secret | None = None
    model_id: str | None = None
    stability: float | None = Field(default=None, ge=0, le=1)
    similarity_boost: float | None = Field(default=None, ge=0, le=1)
    style: float | None = Field(default=None, ge=0, le=1)
    use_speaker_boost: bool | None = None


class VoiceParams(RequestModel):
    """``voice_params`` of session create (normal mode, §2.4)."""

    speed: float | None = Field(default=None, ge=0.8, le=1.2)
    pron_map: dict[str, str] | None = None
    stt_language: str | None = None
    stt_type: Literal["openai_realtime"] | None = None
    turn_detection: TurnDetection | None = None
    elevenlabs_settings: ElevenLabsSettings | None = None


class SessionCredentials(ResponseModel):
    """RTC credentials of a session. Tokens are secrets: masked in repr and dumps.

    TRTC fields come back as ``trtc_*`` (demo/guide) or ``trtc_sdk_*`` (OpenAPI schema); both are
    accepted and normalised to ``trtc_*`` (§2.4). Unknown fields are dropped, not kept, because
    they may carry secrets this model does not know to mask.
    """

    model_config = {**ResponseModel.model_config, "extra": "ignore"}

    agora_uid: int | str | None = None
    agora_app_id: str | None = None
    agora_channel: str | None = None
    agora_token: Secret | None = None
    livekit_url: str | None = None
    livekit_token: Secret | None = None
    livekit_room_name: str | None = None
    livekit_client_identity: str | None = None
    livekit_server_identity: str | None = None
    trtc_app_id: int | str | None = None
    trtc_room_id: int | str | None = None
    trtc_user_id: str | None = None
    trtc_user_sig: Secret | None = None
    sim_url: str | None = None
    sim_token: Secret | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise_trtc(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for suffix in ("app_id", "room_id", "user_id", "user_sig"):
                legacy = data.pop(f"trtc_sdk_{suffix}", None)
                if legacy is not None and data.get(f"trtc_{suffix}") is None:
                    data[f"trtc_{suffix}"] = legacy
        return data

    def reveal(self) -> dict[str, Any]:
        """Plain values (tokens included) for an RTC transport. Never log the result."""
        revealed: dict[str, Any] = self.model_dump(exclude_none=True, context={"reveal_secrets": True})
        return revealed


class _ByoCredentials(RequestModel):
    """Bring-your-own RTC room for session create (§2.4 ``Credentials``): Akool's avatar joins it.

    One strict model per ``stream_type``, so a misspelt or foreign field fails locally, naming
    it, instead of being dropped. ``stream_type`` is copied in from the request to pick the model
    and is not sent.
    """

    stream_type: str = Field(exclude=True)


class AgoraCredentials(_ByoCredentials):
    """``credentials`` for ``stream_type="agora"``."""

    stream_type: Literal["agora"] = Field(default="agora", exclude=True)
    agora_uid: int
    agora_app_id: str | None = None
    agora_channel: str = Field(min_length=1)
    agora_token: Secret


class LiveKitCredentials(_ByoCredentials):
    """``credentials`` for ``stream_type="livekit"``."""

    stream_type: Literal["livekit"] = Field(default="livekit", exclude=True)
    livekit_url: str = Field(min_length=1)
    livekit_token: Secret
    livekit_room_name: str | None = None
    livekit_server_identity: str | None = None
    livekit_client_identity: str | None = None


def _trtc(name: str) -> Any:
    # The OpenAPI schema spells the request fields trtc_sdk_*, the demo and guide trtc_* (§2.4):
    # either is accepted; the body uses the schema's spelling.
    return Field(validation_alias=AliasChoices(f"trtc_sdk_{name}", f"trtc_{name}"))


class TrtcCredentials(_ByoCredentials):
    """``credentials`` for ``stream_type="trtc"`` (fields as ``trtc_sdk_*`` or ``trtc_*``)."""

    stream_type: Literal["trtc"] = Field(default="trtc", exclude=True)
    trtc_sdk_app_id: int = _trtc("app_id")
    trtc_sdk_room_id: int | str = _trtc("room_id")
    trtc_sdk_user_id: str = _trtc("user_id")
    trtc_sdk_user_sig: Secret = _trtc("user_sig")

    @model_validator(mode="before")
    @classmethod
    def _one_spelling_per_field(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("app_id", "room_id", "user_id", "user_sig"):
                if f"trtc_sdk_{name}" in data and f"trtc_{name}" in data:
                    raise ValueError(f"give trtc_sdk_{name} or trtc_{name}, not both")
        return data


ByoCredentials = Annotated[AgoraCredentials | LiveKitCredentials | TrtcCredentials, Field(discriminator="stream_type")]


class CreateSessionRequest(RequestModel):
    """Body of ``POST /api/open/v4/liveAvatar/session/create`` (§2.4)."""

    avatar_id: str = Field(min_length=1)
    duration: int | None = Field(default=None, gt=0, le=MAX_SESSION_SECONDS)
    knowledge_id: str | None = None
    voice_id: str | None = None
    voice_url: str | None = None
    language: str | None = None
    mode_type: Literal[1, 2] | None = None
    scene_mode: Literal["fast_dialogue"] | None = None
    e2e_type: Literal["openai"] | None = None
    background_url: str | None = None
    voice_params: VoiceParams | None = None
    stream_type: StreamType | None = None
    credentials: ByoCredentials | None = None

    @model_validator(mode="before")
    @classmethod
    def _credentials_for_stream_type(cls, data: Any) -> Any:
        """Tag ``credentials`` with the stream type whose model checks them (default agora, §2.4)."""
        if not isinstance(data, dict) or data.get("credentials") is None:
            return data
        credentials = data["credentials"]
        stream_type = data.get("stream_type") or "agora"
        if stream_type == "sim":
            raise ValueError("credentials: not accepted with stream_type 'sim' (akool-sim creates its own channel)")
        if isinstance(credentials, BaseModel) and not isinstance(credentials, _ByoCredentials):
            credentials = credentials.model_dump(exclude_none=True, context={"reveal_secrets": True})
        if isinstance(credentials, dict):
            credentials = {**credentials, "stream_type": stream_type}
        elif isinstance(credentials, _ByoCredentials) and credentials.stream_type != stream_type:
            raise ValueError(f"credentials: {type(credentials).__name__} given for stream_type {stream_type!r}")
        return {**data, "credentials": credentials}

    @model_validator(mode="after")
    def _e2e_needs_fast_dialogue(self) -> CreateSessionRequest:
        if self.e2e_type is not None and self.scene_mode != "fast_dialogue":
            raise ValueError("e2e_type requires scene_mode='fast_dialogue'")
        return self


class Session(ResponseModel):
    """A session as returned by create/detail/list. ``credentials`` may lack tokens on detail."""

    id: str = Field(alias="_id")
    uid: int | str | None = None
    type: int | None = None
    status: int | None = None
    stream_type: str | None = None
    credentials: SessionCredentials | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_stream_urls(cls, data: Any) -> Any:
        # Dec-2024 responses carried the Agora fields in a deprecated `stream_urls` object (§2.4).
        if isinstance(data, dict) and not data.get("credentials") and isinstance(data.get("stream_urls"), dict):
            data = {**data, "credentials": data["stream_urls"]}
        return data

    @property
    def is_open(self) -> bool:
        """True while the session holds pre-charged credits (status 1 or 2)."""
        return self.status in OPEN_SESSION_STATUSES


class CloseResult(ResponseModel):
    """Outcome of close_session. ``already_closed`` when Akool said 1216/1219."""

    session_id: str
    already_closed: bool = False
    status: str | None = None
