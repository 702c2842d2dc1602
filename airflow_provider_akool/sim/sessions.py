"""Streaming sessions: credentials, lifecycle against simulated time, pre-charge and refund."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .clock import SimClock
from .config import SimConfig
from .envelope import SESSION_CLOSED, SESSION_NOT_FOUND, AkoolError
from .ids import SIM_UID, IdFactory, secret_token
from .ledger import Ledger

QUEUEING, LIVE, COMPLETED = 1, 2, 3
SESSION_TYPE = 1  # undocumented meaning; the docs' examples show 1
# Credential fields that are secrets: the detail/list views leave them out (§2.5 example has no token).
SECRET_CREDENTIALS = frozenset({"agora_token", "livekit_token", "trtc_user_sig", "trtc_sdk_user_sig", "sim_token"})


@dataclass
class Session:
    session_id: str
    avatar_id: str
    stream_type: str
    credentials: dict[str, Any]
    duration: float
    mode_type: int
    voice_id: str | None
    language: str | None
    voice_params: dict[str, Any]
    knowledge_id: str | None
    created: float
    precharged: float
    refunded: float = 0.0
    closed_at: float | None = None
    ended_by: str | None = None  # "close" | "duration"
    segments: list[dict[str, Any]] = field(default_factory=list)
    unspoken: list[dict[str, Any]] = field(default_factory=list)  # chats discarded before being begun
    channel: dict[str, Any] = field(
        default_factory=lambda: {
            "connects": 0,
            "connected": False,
            "joined": False,
            "drops": 0,
            "lost": 0,
            "reordered": 0,
        }
    )
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def end_time(self) -> float:
        return self.created + self.duration

    @property
    def sim_token(self) -> str | None:
        token = self.credentials.get("sim_token")
        return token if isinstance(token, str) else None


def make_credentials(stream_type: str, session_id: str, ids: IdFactory, ws_base: str) -> dict[str, Any]:
    """Credentials for a room the sim pretends to have created (docs/reference/akool-api.md §2.4)."""
    if stream_type == "agora":
        return {
            "agora_uid": ids.number(100000, 999999),
            "agora_app_id": ids.object_id(),
            "agora_channel": f"sim_{session_id}",
            "agora_token": secret_token(),
        }
    if stream_type == "livekit":
        return {
            "livekit_url": "wss://livekit.sim.invalid",
            "livekit_token": secret_token(),
            "livekit_room_name": f"sim_{session_id}",
            "livekit_client_identity": f"client_{session_id[-8:]}",
            "livekit_server_identity": "akool-avatar",
        }
    if stream_type == "trtc":
        # The demo/guide spelling (trtc_*), not the schema's trtc_sdk_* (§2.4 inconsistency).
        return {
            "trtc_app_id": ids.number(1400000000, 1499999999),
            "trtc_room_id": f"sim_{session_id}",
            "trtc_user_id": f"client_{session_id[-8:]}",
            "trtc_user_sig": secret_token(),
        }
    return {"sim_url": f"{ws_base}/_sim/channel/{session_id}", "sim_token": secret_token()}


class SessionStore:
    def __init__(self, config: SimConfig, clock: SimClock, ids: IdFactory, ledger: Ledger) -> None:
        self._config = config
        self._clock = clock
        self._ids = ids
        self._ledger = ledger
        self._sessions: dict[str, Session] = {}

    def precharge_for(self, duration: float) -> float:
        return round(duration / 60.0 * self._config.credits_per_minute, 6)

    def create(self, fields: dict[str, Any], ws_base: str, byo_credentials: dict[str, Any] | None) -> Session:
        session_id = self._ids.object_id()
        stream_type = str(fields["stream_type"])
        if byo_credentials and stream_type != "sim":
            credentials = dict(byo_credentials)  # bring-your-own room: the avatar joins it
        else:
            credentials = make_credentials(stream_type, session_id, self._ids, ws_base)
        amount = self.precharge_for(float(fields["duration"]))
        session = Session(
            session_id=session_id,
            avatar_id=str(fields["avatar_id"]),
            stream_type=stream_type,
            credentials=credentials,
            duration=float(fields["duration"]),
            mode_type=int(fields["mode_type"]),
            voice_id=fields.get("voice_id"),
            language=fields.get("language"),
            voice_params=dict(fields.get("voice_params") or {}),
            knowledge_id=fields.get("knowledge_id"),
            created=self._clock.now(),
            precharged=amount,
        )
        self._ledger.precharge(session_id, amount, self._clock.now_ms())
        self._sessions[session_id] = session
        return session

    def settle(self, session: Session) -> Session:
        """Apply the end-at-duration rule (the whole pre-charge is used, nothing refunded)."""
        if session.closed_at is None and self._clock.now() >= session.end_time:
            session.closed_at = session.end_time
            session.ended_by = "duration"
            session.ended.set()
        return session

    def get(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise AkoolError(SESSION_NOT_FOUND, "session not found")
        return self.settle(session)

    def find(self, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        return None if session is None else self.settle(session)

    def status(self, session: Session) -> int:
        self.settle(session)
        if session.closed_at is not None:
            return COMPLETED
        if self._clock.now() < session.created + self._config.session_start_seconds:
            return QUEUEING
        return LIVE

    def close(self, session_id: str) -> Session:
        session = self.get(session_id)
        if session.closed_at is not None:
            raise AkoolError(SESSION_CLOSED, "session already closed")
        now = self._clock.now()
        used = min(max(now - session.created, 0.0), session.duration)
        refund = round((session.duration - used) / 60.0 * self._config.credits_per_minute, 6)
        session.closed_at = now
        session.ended_by = "close"
        session.refunded = refund
        if refund > 0:
            self._ledger.refund(session_id, refund, self._clock.now_ms())
        session.ended.set()
        return session

    def all(self) -> list[Session]:
        return [self.settle(s) for s in self._sessions.values()]

    def wire(self, session: Session, *, with_secrets: bool) -> dict[str, Any]:
        """SessionResponse (§2.4); detail and list views drop the token fields."""
        credentials = dict(session.credentials)
        if not with_secrets:
            credentials = {k: v for k, v in credentials.items() if k not in SECRET_CREDENTIALS}
        return {
            "_id": session.session_id,
            "uid": SIM_UID,
            "type": SESSION_TYPE,
            "status": self.status(session),
            "stream_type": session.stream_type,
            "credentials": credentials,
        }

    def snapshot(self, session: Session) -> dict[str, Any]:
        status = self.status(session)
        return {
            "_id": session.session_id,
            "avatar_id": session.avatar_id,
            "status": status,
            "stream_type": session.stream_type,
            "mode_type": session.mode_type,
            "duration": session.duration,
            "voice_id": session.voice_id,
            "language": session.language,
            "knowledge_id": session.knowledge_id,
            "precharged": session.precharged,
            "refunded": session.refunded,
            "opened_at": int(session.created * 1000),
            "closed_at": None if session.closed_at is None else int(session.closed_at * 1000),
            "ended_by": session.ended_by,
            "spoken": [s["text"] for s in session.segments if not s["interrupted"] and s["ended_at"]],
            "segments": [dict(s) for s in session.segments],
            "unspoken": [dict(u) for u in session.unspoken],
            "channel": dict(session.channel),
        }
