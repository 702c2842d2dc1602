"""REST routes: streaming sessions (docs/reference/akool-api.md §2.4-2.7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from .avatars import OFFICIAL, PROCESSING, QUEUEING
from .envelope import (
    AVATAR_PROCESSING,
    KB_NOT_FOUND,
    NO_CREDIT,
    NOT_FOUND,
    AkoolError,
    as_int,
    as_number,
    as_str,
    invalid,
    json_body,
    need_str,
    ok,
    page_slice,
    paging,
)
from .routes_avatars import auth_dependency, base_url
from .state import SimState

STREAM_TYPES = ("agora", "livekit", "trtc", "sim")  # "sim" exists only here
MAX_DURATION = 3600.0
DEFAULT_DURATION = 600.0  # undocumented default; the guide's examples use 600


def _voice_params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("voice_params", "must be an object")
    if "speed" in value and value["speed"] is not None:
        speed = as_number(value["speed"], "voice_params.speed")
        if not 0.8 <= speed <= 1.2:
            raise invalid("voice_params.speed", "must be between 0.8 and 1.2")
    return dict(value)


def _session_fields(state: SimState, body: dict[str, Any]) -> dict[str, Any]:
    """Validated create-session input; raises AkoolError naming the bad field."""
    avatar_id = need_str(body.get("avatar_id"), "avatar_id")
    raw_duration = body.get("duration")
    duration = DEFAULT_DURATION if raw_duration is None else as_number(raw_duration, "duration")
    if not 0 < duration <= MAX_DURATION:
        raise invalid("duration", f"must be greater than 0 and at most {int(MAX_DURATION)} seconds")
    mode_type = as_int(body.get("mode_type"), "mode_type", default=2)
    if mode_type not in (1, 2):
        raise invalid("mode_type", "must be 1 (retelling) or 2 (dialogue)")
    stream_type = as_str(body.get("stream_type"), "stream_type") or "agora"
    if stream_type not in STREAM_TYPES:
        raise invalid("stream_type", f"must be one of {', '.join(STREAM_TYPES)}")
    scene_mode = as_str(body.get("scene_mode"), "scene_mode")
    if scene_mode and scene_mode != "fast_dialogue":
        raise invalid("scene_mode", "must be 'fast_dialogue'")
    e2e_type = as_str(body.get("e2e_type"), "e2e_type")
    if e2e_type and (e2e_type != "openai" or scene_mode != "fast_dialogue"):
        raise invalid("e2e_type", "must be 'openai' and needs scene_mode 'fast_dialogue'")
    voice_id = as_str(body.get("voice_id"), "voice_id")
    voice = state.catalog.voice(voice_id) if voice_id else None
    if voice is not None and not voice.support_stream:
        raise invalid("voice_id", f"voices of '{voice.model}' cannot be used with streaming avatars")
    knowledge_id = as_str(body.get("knowledge_id"), "knowledge_id")
    if knowledge_id and not state.knowledge.exists(knowledge_id):
        raise AkoolError(KB_NOT_FOUND, "knowledge base not found")
    credentials = body.get("credentials")
    if credentials is not None and not isinstance(credentials, dict):
        raise invalid("credentials", "must be an object")
    return {
        "avatar_id": avatar_id,
        "duration": duration,
        "mode_type": mode_type,
        "stream_type": stream_type,
        "voice_id": voice_id or None,
        "language": as_str(body.get("language"), "language") or None,
        "voice_params": _voice_params(body.get("voice_params")),
        "knowledge_id": knowledge_id or None,
        "credentials": credentials,
    }


def _check_avatar(state: SimState, avatar_id: str) -> None:
    avatar = state.avatars.by_avatar_id(avatar_id)
    if avatar is None:
        raise AkoolError(NOT_FOUND, f"avatar '{avatar_id}' does not exist")
    if avatar.origin != OFFICIAL and state.avatars.status(avatar) in (QUEUEING, PROCESSING):
        raise AkoolError(AVATAR_PROCESSING, f"avatar '{avatar_id}' is still processing")
    if not state.avatars.available(avatar):
        raise AkoolError(NOT_FOUND, f"avatar '{avatar_id}' is not available")


def build_session_router(state: SimState) -> APIRouter:
    router = APIRouter(dependencies=[Depends(auth_dependency(state))])

    @router.post("/api/open/v4/liveAvatar/session/create")
    async def create_session(request: Request) -> JSONResponse:
        fields = _session_fields(state, await json_body(request))
        _check_avatar(state, fields["avatar_id"])
        if not state.ledger.can_pay(state.sessions.precharge_for(fields["duration"])):
            raise AkoolError(NO_CREDIT, "Insufficient credit balance")
        ws_base = "ws" + base_url(request).removeprefix("http")
        session = state.sessions.create(fields, ws_base, fields["credentials"])
        return ok(state.sessions.wire(session, with_secrets=True))

    @router.get("/api/open/v4/liveAvatar/session/detail")
    async def session_detail(request: Request) -> JSONResponse:
        session_id = need_str(request.query_params.get("id"), "id")
        session = state.sessions.get(session_id)
        return ok(state.sessions.wire(session, with_secrets=False), msg="ok")

    @router.post("/api/open/v4/liveAvatar/session/close")
    async def close_session(request: Request) -> JSONResponse:
        body = await json_body(request)
        # The schema says "id"; the current page's samples send "session_id" (§2.6).
        key = "id" if body.get("id") not in (None, "") else "session_id"
        session_id = need_str(body.get(key), "id")
        session = state.sessions.close(session_id)
        state.close_calls += 1
        if state.close_calls % 2 == 1:
            return ok()
        closed_at = int((session.closed_at or 0) * 1000)
        return ok({"session_id": session.session_id, "status": "closed", "closed_at": closed_at})

    @router.get("/api/open/v4/liveAvatar/session/list")
    async def session_list(request: Request) -> JSONResponse:
        query = request.query_params
        page, size = paging(query.get("page"), query.get("size"), default_size=100)
        raw_status = query.get("status")
        status = None if raw_status in (None, "") else as_int(raw_status, "status")
        if status is not None and status not in (1, 2, 3, 4):
            raise invalid("status", "must be 1, 2, 3 or 4")
        sessions = list(reversed(state.sessions.all()))  # newest first
        if status is not None:
            sessions = [s for s in sessions if state.sessions.status(s) == status]
        items = [state.sessions.wire(s, with_secrets=False) for s in page_slice(sessions, page, size)]
        return ok({"count": len(sessions), "result": items}, msg="ok")

    return router
