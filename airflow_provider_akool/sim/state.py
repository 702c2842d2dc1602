"""All of the sim's in-memory state, its reset, auth checks and the /_sim/state snapshot."""

from __future__ import annotations

from collections import Counter, deque
from typing import Any, Protocol

from .avatars import AvatarStore
from .catalog import Catalog
from .clock import SimClock
from .config import CHANNEL_FIELDS, SimConfig
from .envelope import BAD_AUTH, NO_AUTH, AkoolError
from .faults import FaultInjector
from .files import FileStore
from .ids import IdFactory, secret_token
from .knowledge import KnowledgeStore
from .ledger import Ledger
from .profiles import PROFILE_FIELDS
from .sessions import SessionStore

_EVENT_LOG_LIMIT = 1000


class ChannelPeer(Protocol):
    """What the state needs from a live data-channel connection."""

    async def shutdown(self, code: int, reason: str) -> None: ...

    def drop(self) -> None: ...


def auth_mode(headers: Any) -> str:
    """ "both" | "bearer" | "api_key" | "none", from which headers carry a value."""
    has_bearer = bool(str(headers.get("authorization") or "").strip())
    has_key = bool(str(headers.get("x-api-key") or "").strip())
    if has_bearer and has_key:
        return "both"
    if has_bearer:
        return "bearer"
    return "api_key" if has_key else "none"


class SimState:
    """Holds every store. ``reset()`` returns the sim to how it started (config included)."""

    def __init__(self, config: SimConfig) -> None:
        self._initial = config.model_copy(deep=True)
        self.peers: dict[str, ChannelPeer] = {}
        self.reset()

    def reset(self) -> None:
        self.config = self._initial.model_copy(deep=True)
        cfg = self.config
        self.clock = SimClock(cfg.time_scale)
        self.ids = IdFactory(cfg.seed)
        self.files = FileStore(self.clock, cfg.seed, cfg.file_ttl_seconds)
        self.avatars = AvatarStore(cfg, self.clock, self.ids, self.files)
        self.catalog = Catalog(self.clock, self.ids, self.files, cfg.resource_size_bytes)
        self.knowledge = KnowledgeStore(self.clock, self.ids)
        self.ledger = Ledger(initial=cfg.credits)
        self.sessions = SessionStore(cfg, self.clock, self.ids, self.ledger)
        self.faults = FaultInjector(cfg)
        self.tokens: dict[str, dict[str, Any]] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=cfg.request_log_limit)
        self.request_seq = 0
        self.close_calls = 0  # alternates the two documented close response shapes
        self.violations: deque[dict[str, Any]] = deque(maxlen=_EVENT_LOG_LIMIT)
        self.violation_counts: Counter[str] = Counter()
        self.ignored: deque[dict[str, Any]] = deque(maxlen=_EVENT_LOG_LIMIT)
        self.peers = {}

    async def close_peers(self) -> None:
        for peer in list(self.peers.values()):
            await peer.shutdown(1012, "sim reset")
        self.peers.clear()

    # ---- auth (docs/reference/akool-api.md §1) ---------------------------------------------------------------

    def issue_token(self) -> str:
        token = secret_token(32)
        self.tokens[token] = {"issued_ms": self.clock.now_ms(), "expired": False}
        return token

    def expire_tokens(self, token: str | None = None) -> int:
        count = 0
        for value, info in self.tokens.items():
            if token is None or value == token:
                count += 0 if info["expired"] else 1
                info["expired"] = True
        return count

    def check_auth(self, headers: Any) -> None:
        """Authorization wins when both headers are present; x-api-key is then ignored."""
        authorization = str(headers.get("authorization") or "").strip()
        api_key = str(headers.get("x-api-key") or "").strip()
        if authorization:
            scheme, _, token = authorization.partition(" ")
            info = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if info is None or info["expired"]:
                raise AkoolError(BAD_AUTH, "Invalid authorization or token expired")
            return
        if not api_key:
            raise AkoolError(NO_AUTH, "Authorization is empty")
        if api_key != self.config.api_key:
            raise AkoolError(BAD_AUTH, "Invalid authorization or token expired")

    # ---- data-channel bookkeeping --------------------------------------------------------------

    def channel_settings(self) -> dict[str, Any]:
        return {name: getattr(self.config, name) for name in CHANNEL_FIELDS}

    def set_channel(self, **behaviour: Any) -> dict[str, Any]:
        unknown = sorted(set(behaviour) - set(CHANNEL_FIELDS))
        if unknown:
            raise ValueError(f"unknown channel settings {unknown}; allowed: {list(CHANNEL_FIELDS)}")
        checked = self.config.with_overrides(**behaviour)
        names = set(behaviour) | (PROFILE_FIELDS if "profile" in behaviour else set())
        for name in names:
            setattr(self.config, name, getattr(checked, name))
        return self.channel_settings()

    def record_violation(self, session_id: str, reason: str, mid: Any, size: int) -> None:
        self.violation_counts[reason] += 1
        self.violations.append(
            {"session_id": session_id, "reason": reason, "mid": mid, "bytes": size, "at": self.clock.now_ms()}
        )

    def record_ignored(self, session_id: str, reason: str, sample: str) -> None:
        self.ignored.append(
            {"session_id": session_id, "reason": reason, "sample": sample[:200], "at": self.clock.now_ms()}
        )

    # ---- snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        sessions = [self.sessions.snapshot(s) for s in self.sessions.all()]
        return {
            "now": self.clock.now(),
            "now_ms": self.clock.now_ms(),
            "config": self.config.public_dump(),
            "avatars": self.avatars.snapshot(),
            "sessions": sessions,
            "open_sessions": [s["_id"] for s in sessions if s["closed_at"] is None],
            "knowledge_bases": self.knowledge.snapshot(),
            "credits": self.ledger.snapshot(),
            "tokens": {
                "issued": len(self.tokens),
                "active": sum(1 for t in self.tokens.values() if not t["expired"]),
                "expired": sum(1 for t in self.tokens.values() if t["expired"]),
            },
            "faults": self.faults.snapshot(),
            "files": len(self.files),
            "requests": self.request_seq,
            "channel": {
                "settings": self.channel_settings(),
                "violations": list(self.violations),
                "violation_counts": dict(self.violation_counts),
                "ignored": list(self.ignored),
                "connected_sessions": sorted(self.peers),
            },
        }
