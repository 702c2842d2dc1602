"""ASGI middleware for everything outside the admin API: the request log and fault injection."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import netdrop
from .faults import ADMIN_PREFIX
from .files import FILES_PREFIX
from .state import SimState, auth_mode

_SECRET_KEYS = frozenset(
    {
        "clientsecret",
        "client_secret",
        "api_key",
        "apikey",
        "x-api-key",
        "token",
        "password",
        "secret",
        "authorization",
        "agora_token",
        "livekit_token",
        "user_sig",
    }
)
_LOG_BODY_LIMIT = 64 * 1024
_HTTP_FAULTS: dict[str, tuple[int, bytes, list[tuple[bytes, bytes]]]] = {
    "http_500": (500, b"Internal Server Error", []),
    "http_503": (503, b"Service Unavailable", []),
    "http_429": (429, b"Too Many Requests", [(b"retry-after", b"1")]),
}


class _Truncated(Exception):
    """Raised into the app to stop a body that has been cut off."""


def redact(value: Any) -> Any:
    """A copy of a JSON value with every secret-looking field replaced by "***"."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            low = str(key).lower()
            secret = low in _SECRET_KEYS or low.endswith(("_token", "_sig", "secret"))
            out[key] = "***" if secret and item not in (None, "") else redact(item)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _is_truncated(exc: BaseException) -> bool:
    if isinstance(exc, _Truncated):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_truncated(e) for e in exc.exceptions)
    return False


class SimMiddleware:
    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or (path.startswith(ADMIN_PREFIX) and not path.startswith(FILES_PREFIX)):
            await self.app(scope, receive, send)
            return
        state = self.state
        body = b""
        if not path.startswith(FILES_PREFIX):
            body, receive = await _buffer_body(receive)
        entry = _new_entry(state, scope, body)
        fault = state.faults.pick(path)
        entry["fault"] = fault
        state.requests.append(entry)  # in arrival order; the outcome is filled in as it happens
        await self._handle(scope, receive, send, fault, entry)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, fault: str | None, entry: dict[str, Any]
    ) -> None:
        if fault in _HTTP_FAULTS:
            status, text, headers = _HTTP_FAULTS[fault]
            entry["http_status"] = status
            await _plain(send, status, text, headers)
        elif fault == "code_1005":
            entry["http_status"], entry["code"] = 200, 1005
            await _json(send, 200, {"code": 1005, "msg": "Operation too frequent, please try again later"})
        elif fault == "reset":
            await self._drop(scope, send, entry)
        elif fault == "lost_response":
            # The action takes effect; only the answer is lost.
            await self.app(scope, receive, _Recorder(entry, None))
            await self._drop(scope, send, entry, keep_status=True)
        elif fault == "truncate":
            recorder = _Recorder(entry, send, truncate=True, scope=scope)
            try:
                await self.app(scope, receive, recorder)
            except BaseException as exc:
                if not _is_truncated(exc):
                    raise
                await netdrop.settle()
        else:
            if fault == "stall":
                await asyncio.sleep(self.state.config.stall_seconds)
            await self.app(scope, receive, _Recorder(entry, send))

    @staticmethod
    async def _drop(scope: Scope, send: Send, entry: dict[str, Any], keep_status: bool = False) -> None:
        if netdrop.abort(scope):
            await netdrop.settle()
            if not keep_status:
                entry["http_status"] = None
            entry["dropped"] = True
            return
        # Not under the sim's own server: the nearest thing is a gateway error.
        entry["dropped"] = False
        await _plain(send, 502, b"Bad Gateway", [])


class _Recorder:
    """An ASGI send wrapper that notes status/code and can cut the body short."""

    def __init__(
        self, entry: dict[str, Any], send: Send | None, *, truncate: bool = False, scope: Scope | None = None
    ) -> None:
        self.entry = entry
        self.send = send
        self.truncate = truncate
        self.scope = scope
        self.sent = 0
        self.limit = 1
        self.json_body: bytearray | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.entry["http_status"] = message["status"]
            headers = {k.lower(): v for k, v in message.get("headers", [])}
            if b"json" in headers.get(b"content-type", b""):
                self.json_body = bytearray()
            length = int(headers.get(b"content-length", b"0") or 0)
            self.limit = max(1, length // 2)
        elif message["type"] == "http.response.body":
            chunk: bytes = message.get("body", b"")
            if self.json_body is not None and len(self.json_body) < _LOG_BODY_LIMIT:
                self.json_body += chunk
                if not message.get("more_body", False):
                    self.entry["code"] = _code_of(bytes(self.json_body))
            if self.truncate and self.sent + len(chunk) >= self.limit:
                await self._cut(chunk)
            self.sent += len(chunk)
        if self.send is not None:
            await self.send(message)

    async def _cut(self, chunk: bytes) -> None:
        assert self.send is not None
        assert self.scope is not None
        head = chunk[: max(0, self.limit - self.sent)]
        if head:
            await self.send({"type": "http.response.body", "body": head, "more_body": True})
        self.entry["truncated_at"] = self.sent + len(head)
        netdrop.abort(self.scope)
        raise _Truncated


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _new_entry(state: SimState, scope: Scope, body: bytes) -> dict[str, Any]:
    state.request_seq += 1
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    logged: Any = None
    if body:
        try:
            logged = redact(json.loads(body))
        except ValueError:
            logged = None
    return {
        "seq": state.request_seq,
        "at": state.clock.now_ms(),
        "method": scope.get("method", ""),
        "path": scope.get("path", ""),
        "query": dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
        "body": logged,
        "body_bytes": len(body),
        "auth": auth_mode(headers),
        "http_status": None,
        "code": None,
        "fault": None,
    }


def _code_of(body: bytes) -> int | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    code = value.get("code") if isinstance(value, dict) else None
    return code if isinstance(code, int) else None


async def _plain(send: Send, status: int, text: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": text})


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})
