"""create_app: the akool-sim ASGI application."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .admin import build_admin_router
from .channel import build_channel_router
from .config import SimConfig
from .envelope import INVALID_PARAM, AkoolError, error_response
from .files import build_files_router
from .middleware import SimMiddleware
from .routes_avatars import build_avatar_router, build_token_router
from .routes_catalog import build_catalog_router
from .routes_sessions import build_session_router
from .state import SimState


def create_app(config: SimConfig | None = None) -> FastAPI:
    """A fresh sim with its own in-memory state (reachable as ``app.state.sim``)."""
    state = SimState(config or SimConfig())
    app = FastAPI(title="akool-sim", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = state

    @app.exception_handler(AkoolError)
    async def akool_error(request: Request, exc: AkoolError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/_sim/"):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
        return error_response(AkoolError(INVALID_PARAM, f"Invalid parameter: {fields}"))

    app.include_router(build_token_router(state))
    app.include_router(build_avatar_router(state))
    app.include_router(build_session_router(state))
    app.include_router(build_catalog_router(state))
    app.include_router(build_files_router(lambda: state.files))
    app.include_router(build_admin_router(state))
    app.include_router(build_channel_router(state))
    app.add_middleware(SimMiddleware, state=state)
    return app
