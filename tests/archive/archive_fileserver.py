"""A small threaded HTTP file server for archive tests, with switchable Range support and faults.

Each resource is registered at a path with deterministic bytes; faults are consumed per request,
so "cut once" and "500 once" model transient trouble, and ``expired`` models Akool's CDN answering
403 after 7 days. Every request is logged (method, path, Range header, status).
"""

from __future__ import annotations

import hashlib
import random
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def deterministic_bytes(size: int, seed: int = 0) -> bytes:
    """``size`` pseudo-random bytes, the same for the same seed."""
    return random.Random(seed).randbytes(size)


@dataclass
class Resource:
    """One served file and its behaviour."""

    body: bytes
    content_type: str = "video/mp4"
    content_encoding: str | None = None
    """Sent as Content-Encoding (the body is served as is, e.g. already gzip-compressed bytes)."""
    ranges: str = "on"
    """``on``: Accept-Ranges + 206; ``off``: no Accept-Ranges, Range ignored; ``ignore``: advertised
    but every Range request answered 200 with the whole body."""
    etag: bool = True
    content_length: bool = True
    cut_after: int | None = None
    """Close the connection after this many body bytes ..."""
    cut_times: int = 0
    """... for this many responses (then serve normally)."""
    swap_after_cut: bytes | None = None
    """New body put in place right after a cut (the source changed between two requests)."""
    fail_500_times: int = 0
    status: int | None = None
    """Fixed status (e.g. 403 for an expired resource)."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def etag_value(self) -> str:
        return '"' + hashlib.md5(self.body, usedforsecurity=False).hexdigest() + '"'


@dataclass
class LoggedRequest:
    method: str
    path: str
    range: str | None
    status: int


@dataclass
class FileServer:
    """The running server; register resources with :meth:`add`, read :attr:`log`."""

    resources: dict[str, Resource] = field(default_factory=dict)
    log: list[LoggedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def add(self, path: str, resource: Resource) -> str:
        with self.lock:
            self.resources[path] = resource
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_for(self, path: str, method: str = "GET") -> list[LoggedRequest]:
        with self.lock:
            return [entry for entry in self.log if entry.path == path and entry.method == method]


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _record(self, status: int) -> None:
            with server.lock:
                server.log.append(LoggedRequest(self.command, self.path, self.headers.get("Range"), status))

        def _serve(self, *, head: bool) -> None:
            with server.lock:
                res = server.resources.get(self.path)
                fail = res is not None and res.fail_500_times > 0 and not head
                if fail and res is not None:
                    res.fail_500_times -= 1
                cut = None
                if res is not None and not head and res.cut_after is not None and res.cut_times > 0:
                    res.cut_times -= 1
                    cut = res.cut_after
            if res is None or res.status is not None or fail:
                status = 404 if res is None else (500 if fail else res.status or 500)
                self._record(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, start, status = res.body, 0, 200
            requested = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            match = _RANGE.match(requested or "")
            if res.ranges == "on" and match and (if_range is None or if_range == res.etag_value):
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else len(body) - 1
                if start >= len(body):
                    self._record(416)
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, status = body[start : end + 1], 206
            self._record(status)
            self.send_response(status)
            self.send_header("Content-Type", res.content_type)
            if res.content_encoding:
                self.send_header("Content-Encoding", res.content_encoding)
            if res.content_length:
                self.send_header("Content-Length", str(len(body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            if res.ranges in ("on", "ignore"):
                self.send_header("Accept-Ranges", "bytes")
            if res.etag:
                self.send_header("ETag", res.etag_value)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{len(res.body)}")
            self.end_headers()
            if head:
                return
            limit = len(body) if cut is None else max(0, cut - start)
            view = memoryview(body)[:limit]
            try:
                for offset in range(0, len(view), 256 * 1024):
                    self.wfile.write(view[offset : offset + 256 * 1024])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
            if cut is not None and limit < len(body):
                if res.swap_after_cut is not None:
                    with server.lock:
                        res.body, res.swap_after_cut = res.swap_after_cut, None
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


class RunningFileServer:
    """Context manager starting a :class:`FileServer` on 127.0.0.1, port 0, in a thread."""

    def __init__(self) -> None:
        self.state = FileServer()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self._httpd.daemon_threads = True
        self.state.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
