"""REST routes: getToken (§1) and streaming avatars (§2.1-2.3, §2.9)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from .envelope import (
    ALREADY_EXISTS,
    BAD_AUTH,
    NOT_FOUND,
    AkoolError,
    as_int,
    invalid,
    json_body,
    need_str,
    ok,
    page_slice,
    paging,
)
from .state import SimState

_AVATAR_ID = re.compile(r"^[a-zA-Z0-9]+$")


def base_url(request: Request) -> str:
    """Absolute root of the sim as the caller reached it (resource URLs are built on it)."""
    return str(request.base_url).rstrip("/")


def auth_dependency(state: SimState) -> Callable[[Request], Awaitable[None]]:
    async def require_auth(request: Request) -> None:
        state.check_auth(request.headers)

    return require_auth


def build_token_router(state: SimState) -> APIRouter:
    router = APIRouter()

    @router.post("/api/open/v3/getToken")
    async def get_token(request: Request) -> JSONResponse:
        body = await json_body(request)
        client_id = need_str(body.get("clientId"), "clientId")
        client_secret = need_str(body.get("clientSecret"), "clientSecret")
        if client_id != state.config.client_id or client_secret != state.config.client_secret:
            raise AkoolError(BAD_AUTH, "Invalid clientId or clientSecret")
        # Not wrapped in "data" (docs/reference/akool-api.md §1).
        return JSONResponse({"code": 1000, "token": state.issue_token()})

    return router


def _upload_fields(body: dict[str, Any]) -> tuple[str, str, str, int]:
    url = need_str(body.get("url"), "url")
    avatar_id = need_str(body.get("avatar_id"), "avatar_id")
    name = need_str(body.get("name"), "name")
    if not _AVATAR_ID.match(avatar_id):
        raise invalid("avatar_id", "must match ^[a-zA-Z0-9]+$ (letters and digits only)")
    if as_int(body.get("type"), "type") != 2:
        raise invalid("type", "must be 2 (streaming avatar)")
    url_from = as_int(body.get("url_from"), "url_from")
    if url_from not in (1, 2):
        raise invalid("url_from", "must be 1 (direct link) or 2 (third-party page)")
    return url, avatar_id, name, url_from


def build_avatar_router(state: SimState) -> APIRouter:
    router = APIRouter(dependencies=[Depends(auth_dependency(state))])

    @router.post("/api/open/v3/avatar/create")
    async def create_avatar(request: Request) -> JSONResponse:
        url, avatar_id, name, url_from = _upload_fields(await json_body(request))
        if state.avatars.by_avatar_id(avatar_id) is not None:
            raise AkoolError(ALREADY_EXISTS, f"avatar_id '{avatar_id}' already exists")
        avatar = state.avatars.upload(avatar_id, name, url, url_from)
        return ok(state.avatars.create_record(avatar, base_url(request)))

    @router.get("/api/open/v3/avatar/detail")
    async def v3_detail(request: Request) -> JSONResponse:
        record_id = need_str(request.query_params.get("id"), "id")
        avatar = state.avatars.by_record_id(record_id)
        # `data` is an array; an unknown id gives an empty one.
        records = [] if avatar is None else [state.avatars.v3_detail(avatar, base_url(request))]
        return JSONResponse({"code": 1000, "msg": "OK", "data": records})

    @router.get("/api/open/v4/liveAvatar/avatar/list")
    async def v4_list(request: Request) -> JSONResponse:
        query = request.query_params
        platform = query.get("platform") or "open"
        if platform not in ("open", "aigc"):
            raise invalid("platform", "must be 'open' or 'aigc'")
        page, size = paging(query.get("page"), query.get("size"), default_size=100)
        found = state.avatars.listing(platform)
        base = base_url(request)
        items = [state.avatars.v4_item(a, base) for a in page_slice(found, page, size)]
        return ok({"count": len(found), "result": items}, msg="ok")

    @router.get("/api/open/v4/liveAvatar/avatar/detail")
    async def v4_detail(request: Request) -> JSONResponse:
        avatar_id = need_str(request.query_params.get("avatar_id"), "avatar_id")
        avatar = state.avatars.by_avatar_id(avatar_id)
        if avatar is None:
            raise AkoolError(NOT_FOUND, f"avatar '{avatar_id}' does not exist")
        item = state.avatars.v4_item(avatar, base_url(request))
        item["platform"] = avatar.platform
        return ok(item, msg="ok")

    return router
