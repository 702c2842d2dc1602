"""Resource files served by the sim like a CDN: deterministic bytes, Range support, 7-day expiry."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from .clock import SimClock

BLOCK_SIZE = 64 * 1024
FILES_PREFIX = "/_sim/files/"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class SimFile:
    file_id: str
    name: str
    size: int
    content_type: str
    created_at: float  # simulated epoch seconds

    @property
    def path(self) -> str:
        return f"{FILES_PREFIX}{self.file_id}/{self.name}"


class FileStore:
    """Metadata of every file; the bytes are derived on the fly from seed and file id."""

    def __init__(self, clock: SimClock, seed: int, ttl_seconds: float) -> None:
        self._clock = clock
        self._seed = seed
        self._ttl = ttl_seconds
        self._files: dict[str, SimFile] = {}

    def add(self, size: int, content_type: str, name: str) -> SimFile:
        file_id = f"f{len(self._files) + 1:06d}"
        clean = _SAFE_NAME.sub("_", name).strip("_") or "file.bin"
        entry = SimFile(file_id, clean, size, content_type, self._clock.now())
        self._files[file_id] = entry
        return entry

    def get(self, file_id: str) -> SimFile | None:
        return self._files.get(file_id)

    def expired(self, entry: SimFile) -> bool:
        return self._clock.now() >= entry.created_at + self._ttl

    def __len__(self) -> int:
        return len(self._files)

    def block(self, file_id: str, index: int) -> bytes:
        """Block ``index`` of a file: BLOCK_SIZE pseudo-random bytes, the same on every call."""
        key = f"{self._seed}:{file_id}:{index}".encode()
        return hashlib.shake_256(key).digest(BLOCK_SIZE)

    async def iter_bytes(self, entry: SimFile, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start``..``end`` inclusive, one block at a time (never the whole body)."""
        pos = start
        while pos <= end:
            index, offset = divmod(pos, BLOCK_SIZE)
            chunk = self.block(entry.file_id, index)[offset : offset + (end - pos + 1)]
            pos += len(chunk)
            yield chunk
            # A checkpoint per block: once the client is gone uvicorn's send returns at once, and
            # without it the cancellation that stops this response could never be delivered.
            await asyncio.sleep(0)

    def content(self, entry: SimFile, start: int = 0, end: int | None = None) -> bytes:
        """Expected bytes of a range, for tests and small checks."""
        last = entry.size - 1 if end is None else end
        out = bytearray()
        pos = start
        while pos <= last:
            index, offset = divmod(pos, BLOCK_SIZE)
            chunk = self.block(entry.file_id, index)[offset : offset + (last - pos + 1)]
            out += chunk
            pos += len(chunk)
        return bytes(out)


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(start, end) for a satisfiable single range; None to serve it whole; "unsatisfiable"."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multi-range or malformed: RFC 9110 lets us ignore it
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if start >= size or end < start:
        return "unsatisfiable"
    return start, end


def build_files_router(get_store: Callable[[], FileStore]) -> APIRouter:
    """Routes for /_sim/files/: no auth, like a CDN."""
    router = APIRouter()

    @router.api_route(FILES_PREFIX + "{file_id}/{name}", methods=["GET", "HEAD"])
    async def serve_file(file_id: str, name: str, request: Request) -> Response:
        store = get_store()
        entry = store.get(file_id)
        if entry is None or entry.name != name:
            return PlainTextResponse("NoSuchKey", status_code=404)
        if store.expired(entry):
            return PlainTextResponse("AccessDenied: Request has expired", status_code=403)
        headers = {"accept-ranges": "bytes", "cache-control": "private, max-age=0"}
        start, end, status = 0, entry.size - 1, 200
        range_header = request.headers.get("range")
        if range_header:
            parsed = parse_range(range_header, entry.size)
            if parsed == "unsatisfiable":
                headers["content-range"] = f"bytes */{entry.size}"
                return Response(status_code=416, headers=headers)
            if isinstance(parsed, tuple):
                start, end = parsed
                status = 206
                headers["content-range"] = f"bytes {start}-{end}/{entry.size}"
        headers["content-length"] = str(end - start + 1)
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers, media_type=entry.content_type)
        return StreamingResponse(
            store.iter_bytes(entry, start, end),
            status_code=status,
            headers=headers,
            media_type=entry.content_type,
        )

    return router
