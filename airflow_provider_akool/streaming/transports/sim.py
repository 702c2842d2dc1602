"""Transport for akool-sim's data channel: a WebSocket that plays the avatar.

Contract of the sim peer: one WebSocket text frame = one UTF-8 JSON packet, in both directions. We
connect to ``credentials["sim_url"]`` with ``?token=<credentials["sim_token"]>``. Once the avatar is
there the sim sends ``sim-participant`` ``published`` (-> ready); it reports dropped messages with
``sim-error`` frames (passed through to ``recv``, since they arrive after ``send`` returned); at
session end it sends ``sim-participant`` ``left`` and closes; a wrong token closes with code 4401.
The sim emulates Agora's limits by default, so this transport uses :data:`SIM_LIMITS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from airflow_provider_akool.streaming.errors import (
    CredentialsError,
    MessageRejectedError,
    TransportAuthError,
    TransportClosedError,
    TransportError,
    redact,
)
from airflow_provider_akool.streaming.limits import SIM_LIMITS, TransportLimits
from airflow_provider_akool.streaming.pacing import RateLimiter
from airflow_provider_akool.streaming.protocol import SimParticipantMessage, decode
from airflow_provider_akool.streaming.transports._credentials import require_str
from airflow_provider_akool.streaming.transports.base import Transport

__all__ = ["SIM_AUTH_CLOSE_CODE", "SimTransport"]

SIM_AUTH_CLOSE_CODE = 4401
_HTTP_UNAUTHORIZED = frozenset({401, 403})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_TOKEN_IN_QUERY = re.compile(r"(token=)[^&\s\"']+")


class _RedactQueryToken(logging.Filter):
    """websockets logs the request line (``GET /path?token=...``) at DEBUG; hide the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg = _TOKEN_IN_QUERY.sub(r"\1***", message)
            record.args = None
        return True


_WS_LOGGER = logging.getLogger(__name__ + ".websocket")
_WS_LOGGER.addFilter(_RedactQueryToken())


class SimTransport(Transport):
    """WebSocket transport to akool-sim (``stream_type="sim"``)."""

    stream_type = "sim"
    delivers_audio_events = True

    def __init__(
        self,
        credentials: Mapping[str, Any],
        *,
        limits: TransportLimits = SIM_LIMITS,
        limiter: RateLimiter | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        super().__init__(limits, limiter=limiter)
        url = require_str(credentials, "sim_url", self.stream_type)
        self._token = require_str(credentials, "sim_token", self.stream_type)
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise CredentialsError("sim credentials field 'sim_url' must be a ws:// or wss:// URL")
        query = [*parse_qsl(parts.query, keep_blank_values=True), ("token", self._token)]
        self._url = urlunsplit(parts._replace(query=urlencode(query)))
        # For messages: no query string, so no token.
        self._safe_url = urlunsplit(parts._replace(query="", fragment=""))
        self._proxy: Literal[True] | None = None if parts.hostname in _LOOPBACK_HOSTS else True
        self._open_timeout = open_timeout
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        try:
            self._ws = await connect(self._url, open_timeout=self._open_timeout, logger=_WS_LOGGER, proxy=self._proxy)
        except InvalidStatus as exc:
            status = exc.response.status_code
            error_cls = TransportAuthError if status in _HTTP_UNAUTHORIZED else TransportError
            raise error_cls(f"sim data channel at {self._safe_url} refused the connection: HTTP {status}") from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            detail = redact(str(exc), [self._token])
            raise TransportError(
                f"cannot connect to the sim data channel at {self._safe_url}: {type(exc).__name__}: {detail}"
            ) from None
        self._reader = asyncio.create_task(self._read_loop(self._ws), name="akool-sim-transport-reader")

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                payload = frame.encode("utf-8") if isinstance(frame, str) else frame
                self._deliver(payload)
                message = decode(payload)
                if isinstance(message, SimParticipantMessage):
                    if message.pld.event == "published":
                        self._mark_ready()
                    elif message.pld.event == "left":
                        self._mark_avatar_left(f"identity {message.pld.identity!r}")
        except ConnectionClosed:
            pass
        finally:
            if not self._closing:  # close() records its own reason
                self._mark_closed(self._close_error(ws.close_code, ws.close_reason))

    def _close_error(self, code: int | None, reason: str | None = None) -> TransportClosedError:
        detail = f"close code {code}: {reason}" if reason else f"close code {code}"
        if code == SIM_AUTH_CLOSE_CODE:
            return TransportAuthError(f"sim data channel rejected the token ({detail})", code=code)
        return TransportClosedError(f"sim data channel closed by the peer ({detail})", code=code)

    async def _transmit(self, payload: bytes) -> None:
        assert self._ws is not None
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise MessageRejectedError("sim data channel carries UTF-8 JSON text only") from None
        try:
            await self._ws.send(text)
        except ConnectionClosed:
            self._mark_closed(self._close_error(self._ws.close_code, self._ws.close_reason))
            raise self._closed_error() from None

    async def _shutdown(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(OSError, WebSocketException):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
