"""The admin API under /_sim/: no auth, no faults, not in the request log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError

from .routes_avatars import base_url
from .state import SimState


class FaultsBody(BaseModel):
    rate: float = Field(ge=0.0, le=1.0)
    kinds: list[str] | None = None
    paths: list[str] | None = None
    seed: int | None = None


class AdvanceBody(BaseModel):
    seconds: float = Field(ge=0)


class ExpireBody(BaseModel):
    token: str | None = None


class FileBody(BaseModel):
    size: int = Field(ge=0)
    content_type: str = "application/octet-stream"
    name: str = "file.bin"


def build_admin_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/_sim")

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {"ok": True}

    @router.get("/state")
    async def get_state() -> dict[str, Any]:
        return state.snapshot()

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        await state.close_peers()
        state.reset()
        return {"ok": True}

    @router.post("/faults")
    async def set_faults(body: FaultsBody) -> dict[str, Any]:
        try:
            state.faults.configure(body.rate, body.kinds, body.paths, body.seed)
        except ValidationError as exc:
            raise HTTPException(400, detail=str(exc)) from exc
        return state.faults.snapshot()

    @router.post("/clock/advance")
    async def advance(body: AdvanceBody) -> dict[str, Any]:
        state.clock.advance(body.seconds)
        return {"now": state.clock.now(), "now_ms": state.clock.now_ms()}

    @router.post("/tokens/expire")
    async def expire_tokens(body: ExpireBody | None = None) -> dict[str, Any]:
        return {"expired": state.expire_tokens(body.token if body else None)}

    @router.get("/requests")
    async def get_requests() -> list[dict[str, Any]]:
        return list(state.requests)

    @router.delete("/requests")
    async def clear_requests() -> dict[str, Any]:
        state.requests.clear()
        return {"ok": True}

    @router.post("/files")
    async def add_file(body: FileBody, request: Request) -> dict[str, Any]:
        entry = state.files.add(body.size, body.content_type, body.name)
        return {"id": entry.file_id, "url": base_url(request) + entry.path, "size": entry.size}

    @router.post("/channel")
    async def set_channel(body: dict[str, Any]) -> dict[str, Any]:
        try:
            return state.set_channel(**body)
        except (ValueError, ValidationError) as exc:
            raise HTTPException(400, detail=str(exc)) from exc

    @router.post("/sessions/{session_id}/drop")
    async def drop(session_id: str) -> dict[str, Any]:
        peer = state.peers.get(session_id)  # the connection's own cleanup unregisters it
        if peer is None:
            raise HTTPException(404, detail="no data-channel connection for this session")
        peer.drop()
        return {"dropped": True}

    return router
