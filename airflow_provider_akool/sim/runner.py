"""SimServer: akool-sim on 127.0.0.1 in a background thread, with admin conveniences."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from .app import create_app
from .config import SimConfig
from .netdrop import DroppableHTTPProtocol


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_uvicorn_server(config: SimConfig, log_level: str = "warning") -> uvicorn.Server:
    app = create_app(config)
    uv_config = uvicorn.Config(
        app,
        http=DroppableHTTPProtocol,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        ws_max_size=4 * 1024 * 1024,
    )
    return _QuietServer(uv_config)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit IPPROTO_TCP lets asyncio recognise the socket as TCP and set TCP_NODELAY on the
    # accepted connections; with protocol 0 each response waits ~40 ms for Nagle/delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class SimServer:
    """akool-sim served from a background thread; ``start()`` returns once it accepts requests.

    ``SimServer(time_scale=1000)`` is shorthand for ``SimServer(SimConfig(time_scale=1000))``.
    """

    def __init__(
        self, config: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0, **overrides: Any
    ) -> None:
        base = config or SimConfig()
        self.config = base.with_overrides(**overrides) if overrides else base
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.url = ""

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> SimServer:
        if self._thread is not None:
            return self
        self._sock = bind_socket(self._host, self._port)
        port = self._sock.getsockname()[1]
        self.url = f"http://{self._host}:{port}"
        self._server = make_uvicorn_server(self.config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"akool-sim:{port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("akool-sim did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- admin conveniences (plain HTTP calls to /_sim/) ------------------------------------------

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        if not self.url:
            raise RuntimeError("SimServer is not started")
        response = httpx.request(method, f"{self.url}/_sim/{path}", json=body, timeout=10.0, trust_env=False)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "state")
        return result

    def set_faults(
        self, rate: float, kinds: list[str] | None = None, paths: list[str] | None = None, seed: int | None = None
    ) -> dict[str, Any]:
        body = {"rate": rate, "kinds": kinds, "paths": paths, "seed": seed}
        result: dict[str, Any] = self._admin("POST", "faults", body)
        return result

    def reset(self) -> None:
        self._admin("POST", "reset")

    def advance(self, seconds: float) -> float:
        return float(self._admin("POST", "clock/advance", {"seconds": seconds})["now"])

    def expire_tokens(self, token: str | None = None) -> int:
        return int(self._admin("POST", "tokens/expire", {"token": token})["expired"])

    def set_channel(self, **behaviour: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("POST", "channel", behaviour)
        return result

    def drop_channel(self, session_id: str) -> None:
        self._admin("POST", f"sessions/{session_id}/drop")

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._admin("GET", "requests")
        return result

    def clear_requests(self) -> None:
        self._admin("DELETE", "requests")

    def add_file(self, size: int, content_type: str = "application/octet-stream", name: str = "file.bin") -> str:
        body = {"size": size, "content_type": content_type, "name": name}
        return str(self._admin("POST", "files", body)["url"])
