"""Dropping a connection without a response, like a network failure.

ASGI gives an app no way to abort its TCP connection, so the sim runs uvicorn with an HTTP
protocol class that records each connection's transport, keyed by (client, server) address as
they appear in the ASGI scope. Under another server ``abort`` returns False and callers fall
back to an HTTP error.
"""

from __future__ import annotations

import asyncio
from typing import Any

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _BaseProtocol
except ImportError:  # pragma: no cover - httptools is optional for uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol as _BaseProtocol  # type: ignore[assignment]

_Key = tuple[tuple[str, int], tuple[str, int]]
_transports: dict[_Key, asyncio.BaseTransport] = {}


def _key(client: Any, server: Any) -> _Key | None:
    if not client or not server:
        return None
    return (str(client[0]), int(client[1])), (str(server[0]), int(server[1]))


class DroppableHTTPProtocol(_BaseProtocol):
    """uvicorn's HTTP protocol plus a registry entry for its transport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        key = _key(self.client, self.server)
        if key is not None:
            # Upgraded (WebSocket) connections never report back here; prune closed ones now.
            for stale in [k for k, t in _transports.items() if t.is_closing()]:
                del _transports[stale]
            _transports[key] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        key = _key(self.client, self.server)
        if key is not None and _transports.get(key) is self.transport:
            del _transports[key]
        super().connection_lost(exc)


def abort(scope: Any) -> bool:
    """Abort the connection that carried ``scope``; True if that was possible."""
    key = _key(scope.get("client"), scope.get("server"))
    transport = _transports.pop(key, None) if key is not None else None
    if transport is None or transport.is_closing():
        return False
    abort_now = getattr(transport, "abort", None)
    if callable(abort_now):
        abort_now()  # no FIN handshake, no response: the client sees a reset
    else:  # pragma: no cover - stream transports have abort()
        transport.close()
    return True


async def settle() -> None:
    """Let the event loop deliver connection_lost after an abort."""
    for _ in range(3):
        await asyncio.sleep(0)
