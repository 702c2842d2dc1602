"""Data-channel protocol v2: typed messages, ``encode`` and a ``decode`` that never raises.

Shapes follow docs/reference/akool-api.md §4.2 (what we send) and §4.3 (what we receive), plus the two control
messages akool-sim adds to its WebSocket (``sim-participant``, ``sim-error``). Unknown fields are kept
(``extra="allow"``) so a newer server does not break an older client; messages with ``v != 2`` are
ignored as the demos do.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_provider_akool.streaming.errors import ProtocolError

__all__ = [
    "ACK_OK",
    "AUDIO_END",
    "AUDIO_START",
    "ChatMessage",
    "ChatPayload",
    "CommandAck",
    "CommandAckPayload",
    "CommandMessage",
    "CommandPayload",
    "EventMessage",
    "EventPayload",
    "Message",
    "OutboundMessage",
    "SetParams",
    "SimErrorMessage",
    "SimErrorPayload",
    "SimParticipantMessage",
    "SimParticipantPayload",
    "TurnDetection",
    "UnknownMessage",
    "VoiceParams",
    "chat_message",
    "decode",
    "encode",
    "interrupt_command",
    "new_mid",
    "retelling_set_params",
    "set_params_command",
]

PROTOCOL_VERSION = 2
ACK_OK = 1000
AUDIO_START = "audio_start"
AUDIO_END = "audio_end"
_UNKNOWN_RAW_LIMIT = 2048


class _Model(BaseModel):
    """Common config: keep unknown fields, accept Python names or JSON aliases, immutable."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, coerce_numbers_to_str=True)


# --- chat -----------------------------------------------------------------------------------------


class ChatPayload(_Model):
    """``pld`` of a chat message. ``from_`` (JSON ``from``) is ``"bot"`` or ``"user"`` on received ones."""

    text: str
    from_: str | None = Field(default=None, alias="from")


class ChatMessage(_Model):
    """One chunk of a chat message; all chunks of one logical message share ``mid``.

    Ours always carry a ``mid``; a received one may not (whether bot replies echo it is undocumented,
    docs/reference/akool-api.md §4.3), so it is optional here.
    """

    v: Literal[2] = 2
    type: Literal["chat"] = "chat"
    mid: str | None = None
    idx: int = Field(ge=0)
    fin: bool
    pld: ChatPayload

    @property
    def text(self) -> str:
        """The chunk's text."""
        return self.pld.text


def chat_message(text: str, *, mid: str, idx: int = 0, fin: bool = True) -> ChatMessage:
    """Build an outgoing chat chunk."""
    return ChatMessage(mid=mid, idx=idx, fin=fin, pld=ChatPayload(text=text))


# --- commands -------------------------------------------------------------------------------------


class TurnDetection(_Model):
    """``vparams.turn_detection`` (voice-input tuning; irrelevant to retelling but passed through)."""

    type: str | None = None
    threshold: float | None = Field(default=None, ge=0, le=1)
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None


class VoiceParams(_Model):
    """``set-params`` ``vparams``: voice id/URL, speaking ``speed`` (0.8-1.2), pronunciations, STT."""

    vid: str | None = None
    vurl: str | None = None
    speed: float | None = Field(default=None, ge=0.8, le=1.2)
    pron_map: dict[str, str] | None = None
    stt_language: str | None = None
    stt_type: str | None = None
    turn_detection: TurnDetection | None = None


class SetParams(_Model):
    """``set-params`` ``data``. ``vid``/``vurl`` at top level are deprecated in favour of ``vparams``."""

    lang: str | None = None
    mode: Literal[1, 2] | None = None
    bgurl: str | None = None
    vparams: VoiceParams | None = None
    vid: str | None = None
    vurl: str | None = None

    def to_data(self) -> dict[str, Any]:
        """The JSON ``data`` object with empty values removed, as the React demo sends it (§4.2)."""
        stripped = _strip_empty(self.model_dump(mode="json", by_alias=True))
        return stripped if isinstance(stripped, dict) else {}


def _strip_empty(value: Any) -> Any:
    """Drop None, "" and empty containers recursively; keep 0 and False (they are real values)."""
    if isinstance(value, dict):
        cleaned = {k: _strip_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if not _is_empty(v)}
    if isinstance(value, list):
        return [item for item in (_strip_empty(v) for v in value) if not _is_empty(item)]
    return value


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | dict | list) and len(value) == 0)


class CommandPayload(_Model):
    """``pld`` of an outgoing command: ``cmd`` plus optional ``data``."""

    cmd: str
    data: dict[str, Any] | None = None


class CommandMessage(_Model):
    """An outgoing command (``set-params``, ``interrupt``). Sent unchunked."""

    v: Literal[2] = 2
    type: Literal["command"] = "command"
    mid: str | None = None
    pld: CommandPayload


def retelling_set_params(
    *,
    voice_id: str | None,
    language: str | None,
    background_url: str | None,
    speed: float | None,
    pron_map: dict[str, str] | None,
) -> SetParams:
    """The ``set-params`` data of a retelling session (mode 1): voice, language, background, speed,
    pronunciations; the same settings the session create body carries."""
    vparams = VoiceParams(vid=voice_id, speed=speed, pron_map=pron_map or None)
    return SetParams(mode=1, lang=language, bgurl=background_url, vparams=vparams)


def set_params_command(params: SetParams, *, mid: str | None = None) -> CommandMessage:
    """Build a ``set-params`` command from ``params`` (empty values stripped)."""
    return CommandMessage(mid=mid or new_mid(), pld=CommandPayload(cmd="set-params", data=params.to_data()))


def interrupt_command(*, mid: str | None = None) -> CommandMessage:
    """Build an ``interrupt`` command (stops the avatar's current speech)."""
    return CommandMessage(mid=mid or new_mid(), pld=CommandPayload(cmd="interrupt"))


class CommandAckPayload(_Model):
    """``pld`` of a command acknowledgement: ``code == 1000`` means success."""

    cmd: str
    code: int
    msg: str | None = None


class CommandAck(_Model):
    """Acknowledgement of a command. Received with ``type`` ``command`` or ``cmd`` (§4.3)."""

    v: Literal[2] = 2
    type: Literal["command", "cmd"] = "command"
    mid: str | None = None
    pld: CommandAckPayload

    @property
    def ok(self) -> bool:
        """True when the avatar accepted the command."""
        return self.pld.code == ACK_OK


# --- events and sim control -----------------------------------------------------------------------


class EventPayload(_Model):
    """``pld`` of an event: ``audio_start``, ``audio_end`` or a name we do not know yet."""

    event: str


class EventMessage(_Model):
    """Avatar event (undocumented by Akool; handled by its React demo)."""

    v: Literal[2] = 2
    type: Literal["event"] = "event"
    mid: str | None = None
    pld: EventPayload


class SimParticipantPayload(_Model):
    """``event`` is ``published`` (avatar ready) or ``left`` (avatar gone)."""

    event: str
    identity: str | None = None


class SimParticipantMessage(_Model):
    """akool-sim control message: avatar presence on the sim's data channel."""

    v: Literal[2] = 2
    type: Literal["sim-participant"] = "sim-participant"
    pld: SimParticipantPayload


class SimErrorPayload(_Model):
    """Why the sim dropped a message (``message_too_large``, ``rate_limited``, ...) and its ``mid``."""

    reason: str
    mid: str | None = None


class SimErrorMessage(_Model):
    """akool-sim control message: one of our messages was dropped."""

    v: Literal[2] = 2
    type: Literal["sim-error"] = "sim-error"
    pld: SimErrorPayload


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A v2 (or non-JSON) payload we could not type. ``raw`` is truncated to 2 KiB."""

    raw: str
    reason: str


Message = (
    ChatMessage | CommandMessage | CommandAck | EventMessage | SimParticipantMessage | SimErrorMessage | UnknownMessage
)
OutboundMessage = ChatMessage | CommandMessage

_MODELS_BY_TYPE: dict[str, type[_Model]] = {
    "chat": ChatMessage,
    "event": EventMessage,
    "sim-participant": SimParticipantMessage,
    "sim-error": SimErrorMessage,
}


# --- encode / decode ------------------------------------------------------------------------------


def new_mid() -> str:
    """A fresh message id: ``msg-<epoch ms>-<random>`` (the demo's form plus a collision guard)."""
    return f"msg-{time.time_ns() // 1_000_000}-{secrets.token_hex(4)}"


def encode(message: BaseModel) -> bytes:
    """Encode a message as compact UTF-8 JSON (no ASCII escaping, so byte counts are real).

    Raises:
        ProtocolError: the message holds text that is not valid Unicode (an unpaired surrogate).
    """
    data = message.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"message is not valid Unicode: unpaired surrogate at JSON offset {exc.start}") from None


def decode(payload: bytes | bytearray | memoryview | str) -> Message | None:
    """Decode one received payload. Never raises.

    Returns None for messages of another protocol version, an :class:`UnknownMessage` for payloads
    that are not JSON objects or do not match a known v2 message, else the typed message.
    """
    text = payload if isinstance(payload, str) else bytes(payload).decode("utf-8", errors="replace")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return _unknown(text, "not JSON")
    if not isinstance(obj, dict):
        return _unknown(text, "not a JSON object")
    version = obj.get("v")
    if isinstance(version, bool) or not isinstance(version, int | float) or version != PROTOCOL_VERSION:
        return None
    obj = {**obj, "v": PROTOCOL_VERSION}
    kind = obj.get("type")
    model = _model_for(kind, obj.get("pld"))
    if model is None:
        return _unknown(text, f"unknown message type {kind!r}")
    try:
        return model.model_validate(obj)  # type: ignore[return-value]
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        return _unknown(text, f"invalid {kind} message: {', '.join(fields)}")
    except RecursionError:
        return _unknown(text, "nested too deeply")


def _model_for(kind: object, pld: object) -> type[_Model] | None:
    if kind in ("command", "cmd"):
        if isinstance(pld, dict) and "code" in pld:
            return CommandAck
        return CommandMessage if kind == "command" else None
    if isinstance(kind, str):
        return _MODELS_BY_TYPE.get(kind)
    return None


def _unknown(text: str, reason: str) -> UnknownMessage:
    return UnknownMessage(raw=text[:_UNKNOWN_RAW_LIMIT], reason=reason)
