"""REST routes: voices (§5.2), languages (§5.3) and knowledge bases (§5.1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from .envelope import as_int, invalid, json_body, need_str, ok, page_slice, paging
from .routes_avatars import auth_dependency, base_url
from .state import SimState


def build_catalog_router(state: SimState) -> APIRouter:
    router = APIRouter(dependencies=[Depends(auth_dependency(state))])

    @router.get("/api/open/v4/voice/list")
    async def voice_list(request: Request) -> JSONResponse:
        query = request.query_params
        voice_type = as_int(query.get("type"), "type")
        if voice_type not in (1, 2):
            raise invalid("type", "must be 1 (cloned voices) or 2 (Akool voices)")
        raw_stream = query.get("support_stream")
        support_stream = None if raw_stream in (None, "") else as_int(raw_stream, "support_stream")
        if support_stream is not None and support_stream not in (1, 2):
            raise invalid("support_stream", "must be 1 (streaming) or 2 (not streaming)")
        page, size = paging(query.get("page"), query.get("size"), default_size=10)
        found = state.catalog.find(voice_type, support_stream, query.get("name"))
        base = base_url(request)
        items = [state.catalog.voice_item(v, base) for v in page_slice(found, page, size)]
        return ok({"result": items, "count": len(found), "page": page, "size": size})

    @router.get("/api/open/v3/language/list")
    async def language_list(request: Request) -> JSONResponse:
        return ok({"lang_list": state.catalog.language_items(base_url(request))}, msg="ok")

    @router.get("/api/open/v4/knowledge/list")
    async def kb_list(request: Request) -> JSONResponse:
        query = request.query_params
        page, size = paging(query.get("page"), query.get("size"), default_size=10)
        found = page_slice(state.knowledge.find(query.get("name")), page, size)
        # Docs show a bare array; the React demo reads data.knowledge_list (§5.1).
        data: Any = found if state.config.kb_list_shape == "array" else {"knowledge_list": found}
        return ok(data)

    @router.post("/api/open/v4/knowledge/create")
    async def kb_create(request: Request) -> JSONResponse:
        return ok(state.knowledge.create(await json_body(request)))

    @router.get("/api/open/v4/knowledge/detail")
    async def kb_detail(request: Request) -> JSONResponse:
        kb_id = need_str(request.query_params.get("id"), "id")
        return ok(state.knowledge.get(kb_id))

    @router.post("/api/open/v4/knowledge/update")
    async def kb_update(request: Request) -> JSONResponse:
        body = await json_body(request)
        kb_id = need_str(body.get("id"), "id")
        return ok(state.knowledge.update(kb_id or "", body))

    @router.delete("/api/open/v4/knowledge/delete")
    async def kb_delete(request: Request) -> JSONResponse:
        body = await json_body(request)
        kb_id = need_str(body.get("id"), "id")
        state.knowledge.delete(kb_id)
        return ok()

    return router
