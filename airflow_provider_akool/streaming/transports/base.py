"""The transport interface and the plumbing every transport shares.

A transport moves already-encoded data-channel packets between us and the avatar. Contract:

- ``connect()`` joins the room/socket; ``wait_ready(timeout)`` returns once the avatar participant
  has published media (raises :class:`AvatarNotReadyError` on timeout, or a
  :class:`TransportClosedError` if the connection/avatar goes away first).
- ``send(payload)`` sends ONE message. Pacing lives here, not in the caller: every send (chat chunks
  and commands alike, since the peer counts both) first waits on the transport's
  :class:`RateLimiter`, and a payload over ``limits.max_message_bytes`` is refused before it reaches
  the network (:class:`MessageTooLargeError`). Send sequentially; ordering of concurrent sends is
  the order in which they reach the limiter.
- ``recv(timeout)`` / ``async for payload in transport`` yield every raw payload received, control
  frames included (decode them with ``protocol.decode``). After the avatar leaves or the connection
  closes, already-received payloads are still returned, then :class:`AvatarLeftError` /
  :class:`TransportClosedError` is raised.
- ``close()`` is idempotent, safe to call from ``finally``, and drops unread payloads.

Subclasses implement ``_open``, ``_transmit`` and ``_shutdown`` and report events through
``_deliver``, ``_mark_ready``, ``_mark_avatar_left`` and ``_mark_closed``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from airflow_provider_akool.streaming.errors import (
    AvatarLeftError,
    AvatarNotReadyError,
    MessageTooLargeError,
    ReceiveTimeoutError,
    StreamingError,
    TransportClosedError,
    TransportError,
)
from airflow_provider_akool.streaming.limits import TransportLimits
from airflow_provider_akool.streaming.pacing import RateLimiter

__all__ = ["Transport"]


class Transport(abc.ABC):
    """One data-channel connection to one avatar session."""

    #: ``stream_type`` value this transport serves (``sim``, ``livekit``, ``agora``).
    stream_type: str = ""
    #: Whether the peer is known to send ``audio_start``/``audio_end`` events (akool-sim does by
    #: default). False means they may still arrive (Akool's React demo handles them on every
    #: transport) but are undocumented. Either way a runner needs a fallback, e.g. a speaking-time
    #: estimate: any peer may omit them (the sim can be configured to).
    delivers_audio_events: bool = False

    def __init__(self, limits: TransportLimits, *, limiter: RateLimiter | None = None) -> None:
        self.limits = limits
        self._limiter = limiter if limiter is not None else RateLimiter.for_limits(limits)
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._ready = asyncio.Event()
        self._ended = asyncio.Event()  # avatar left or connection closed: no more payloads
        self._end_error: TransportClosedError | None = None
        self._connected = False
        self._closing = False

    # --- public API ---------------------------------------------------------------------------

    @property
    def is_ready(self) -> bool:
        """True once the avatar has published media."""
        return self._ready.is_set()

    @property
    def is_closed(self) -> bool:
        """True once the connection ended (closed by us, by the peer, or the avatar left)."""
        return self._ended.is_set()

    async def connect(self) -> None:
        """Open the connection. Raises :class:`TransportError` (never echoing credentials)."""
        if self._closing or self._ended.is_set():
            raise TransportClosedError(f"{self.stream_type} transport is closed; create a new one")
        if self._connected:
            return
        await self._open()
        self._connected = True

    async def wait_ready(self, timeout: float) -> None:  # noqa: ASYNC109 - part of the interface
        """Wait until the avatar participant has published media.

        Raises:
            AvatarNotReadyError: not ready within ``timeout`` seconds.
            TransportClosedError: the connection closed or the avatar left first.
        """
        self._require_connected()
        if self._ready.is_set():
            return
        ready = asyncio.ensure_future(self._ready.wait())
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({ready, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            ended.cancel()
        if self._ready.is_set():
            return
        if self._ended.is_set():
            raise self._closed_error()
        raise AvatarNotReadyError(f"avatar did not publish media within {timeout:g} s ({self.stream_type})")

    async def send(self, payload: bytes) -> None:
        """Send one encoded message, waiting for the rate limiter first.

        Raises:
            MessageTooLargeError: ``payload`` exceeds ``limits.max_message_bytes`` (nothing sent).
            MessageRejectedError: the transport refused the message.
            TransportClosedError: the connection is closed.
        """
        self._require_connected()
        if self._ended.is_set():
            raise self._closed_error()
        size = len(payload)
        if size > self.limits.max_message_bytes:
            raise MessageTooLargeError(
                f"message of {size} bytes exceeds the {self.stream_type} limit of "
                f"{self.limits.max_message_bytes} bytes; chunk it first"
            )
        await self._limiter.acquire(size)
        if self._ended.is_set():
            raise self._closed_error()
        await self._transmit(bytes(payload))

    async def recv(self, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - part of the interface
        """Return the next received payload.

        Raises:
            ReceiveTimeoutError: nothing arrived within ``timeout`` seconds.
            AvatarLeftError / TransportClosedError: the stream ended and every payload was returned.
        """
        self._require_connected()
        if not self._inbox.empty():
            return self._inbox.get_nowait()
        if self._ended.is_set():
            raise self._closed_error()
        getter = asyncio.ensure_future(self._inbox.get())
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            done, _ = await asyncio.wait({getter, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done and not getter.cancelled():
            return getter.result()
        if not self._inbox.empty():
            return self._inbox.get_nowait()
        if self._ended.is_set():
            raise self._closed_error()
        raise ReceiveTimeoutError(f"no payload within {timeout:g} s ({self.stream_type})")

    async def receive(self) -> AsyncIterator[bytes]:
        """Yield received payloads until the stream ends (then stop without raising)."""
        while True:
            try:
                yield await self.recv()
            except TransportClosedError:
                return

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.receive()

    async def close(self) -> None:
        """Leave the room / close the socket. Idempotent; never raises transport errors."""
        if self._closing:
            return
        self._closing = True
        try:
            if self._connected:
                with contextlib.suppress(StreamingError, OSError):
                    await self._shutdown()
        finally:
            self._mark_closed(TransportClosedError(f"{self.stream_type} transport closed by client"))
            while not self._inbox.empty():  # unread payloads are dropped with the connection
                self._inbox.get_nowait()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = (
            "closed" if self.is_closed else "ready" if self.is_ready else ("connected" if self._connected else "new")
        )
        return f"{type(self).__name__}(stream_type={self.stream_type!r}, state={state})"

    # --- for subclasses -----------------------------------------------------------------------

    @abc.abstractmethod
    async def _open(self) -> None:
        """Connect; raise TransportError with a credential-free message on failure."""

    @abc.abstractmethod
    async def _transmit(self, payload: bytes) -> None:
        """Send one payload now; raise MessageRejectedError / TransportError on failure."""

    @abc.abstractmethod
    async def _shutdown(self) -> None:
        """Release the connection (called once, from close())."""

    def _deliver(self, payload: bytes) -> None:
        """Queue a received payload (ignored once the stream ended)."""
        if not self._ended.is_set():
            self._inbox.put_nowait(payload)

    def _mark_ready(self) -> None:
        self._ready.set()

    def _mark_avatar_left(self, detail: str = "") -> None:
        suffix = f" ({detail})" if detail else ""
        self._mark_closed(AvatarLeftError(f"avatar left the {self.stream_type} session{suffix}"))

    def _mark_closed(self, error: TransportClosedError) -> None:
        """Record why the stream ended; the first reason wins."""
        if self._end_error is None:
            self._end_error = error
        self._ended.set()

    def _closed_error(self) -> TransportClosedError:
        error = self._end_error or TransportClosedError(f"{self.stream_type} transport closed")
        # A fresh instance per raise keeps tracebacks from piling onto one shared object.
        return type(error)(str(error), code=error.code)

    def _require_connected(self) -> None:
        if not self._connected:
            if self._end_error is not None:
                raise self._closed_error()
            raise TransportError(f"{self.stream_type} transport is not connected; call connect() first")
