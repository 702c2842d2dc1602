"""Transport over a LiveKit room (``stream_type="livekit"``), using the ``livekit`` package's ``rtc``.

The SDK is imported when the transport connects, never at module import, so ``streaming`` stays
importable without the ``livekit`` extra. Names used (checked against livekit 1.2.1):
``rtc.Room()``, ``rtc.RoomOptions(auto_subscribe=...)``, ``await room.connect(url, token, options)``,
``room.local_participant.publish_data(payload, reliable=True)``, ``room.remote_participants``
(identity -> participant with ``track_publications``), ``await room.disconnect()`` and the room
events ``data_received(packet)``, ``track_published(publication, participant)``,
``track_subscribed(track, publication, participant)``, ``participant_disconnected(participant)``,
``disconnected(reason)``. Room events fire on the event loop, so no thread hand-off is needed.

Ready = the avatar participant (identity ``credentials["livekit_server_identity"]``; any remote
participant when that field is absent) has published a track, seen at connect time or through
``track_published``/``track_subscribed``. We join with ``auto_subscribe=False``: the runner needs the
data channel only, and subscribing would pull the avatar's video into the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_akool.streaming.errors import (
    MessageRejectedError,
    TransportClosedError,
    TransportError,
    UnsupportedStreamTypeError,
    redact,
)
from airflow_provider_akool.streaming.limits import LIVEKIT_LIMITS, TransportLimits
from airflow_provider_akool.streaming.pacing import RateLimiter
from airflow_provider_akool.streaming.transports._credentials import optional_str, require_str
from airflow_provider_akool.streaming.transports.base import Transport

__all__ = ["LiveKitTransport", "load_livekit_rtc"]


def load_livekit_rtc() -> Any:
    """Import ``livekit.rtc`` or explain which extra to install."""
    try:
        return importlib.import_module("livekit.rtc")
    except ImportError:
        raise UnsupportedStreamTypeError(
            "stream_type 'livekit' needs the LiveKit SDK: install airflow-provider-akool[livekit]"
        ) from None


class LiveKitTransport(Transport):
    """Data-channel transport over a LiveKit room."""

    stream_type = "livekit"
    delivers_audio_events = False

    def __init__(
        self,
        credentials: Mapping[str, Any],
        *,
        limits: TransportLimits = LIVEKIT_LIMITS,
        limiter: RateLimiter | None = None,
        rtc_loader: Callable[[], Any] = load_livekit_rtc,
        connect_timeout: float = 20.0,
    ) -> None:
        super().__init__(limits, limiter=limiter)
        self._url = require_str(credentials, "livekit_url", self.stream_type)
        self._token = require_str(credentials, "livekit_token", self.stream_type)
        self._avatar_identity = optional_str(credentials, "livekit_server_identity")
        self._rtc_loader = rtc_loader
        self._connect_timeout = connect_timeout
        self._room: Any = None
        self._ready_identity: str | None = None
        self._handlers: dict[str, Callable[..., None]] = {
            "data_received": self._on_data_received,
            "track_published": self._on_track_published,
            "track_subscribed": self._on_track_subscribed,
            "participant_disconnected": self._on_participant_disconnected,
            "disconnected": self._on_disconnected,
        }

    async def _open(self) -> None:
        rtc = self._rtc_loader()
        room = rtc.Room()
        for event, handler in self._handlers.items():
            room.on(event, handler)
        try:
            await asyncio.wait_for(
                room.connect(self._url, self._token, rtc.RoomOptions(auto_subscribe=False)),
                timeout=self._connect_timeout,
            )
        except Exception as exc:  # the SDK raises ConnectError, RuntimeError, ...
            with contextlib.suppress(Exception):
                await room.disconnect()
            self._unregister(room)
            detail = redact(str(exc), [self._token])
            raise TransportError(f"cannot join the LiveKit room: {type(exc).__name__}: {detail}") from None
        self._room = room
        for participant in list(room.remote_participants.values()):
            if self._is_avatar(participant) and len(participant.track_publications) > 0:
                self._avatar_published(participant)
                break

    async def _transmit(self, payload: bytes) -> None:
        try:
            await self._room.local_participant.publish_data(payload, reliable=True)
        except Exception as exc:  # livekit.rtc.PublishDataError and FFI errors
            detail = redact(str(exc), [self._token])
            raise MessageRejectedError(f"LiveKit publish_data failed: {type(exc).__name__}: {detail}") from None

    async def _shutdown(self) -> None:
        room = self._room
        if room is None:
            return
        self._unregister(room)
        with contextlib.suppress(Exception):
            await room.disconnect()

    # --- room events (called on the event loop) -----------------------------------------------

    def _on_data_received(self, packet: Any) -> None:
        data = getattr(packet, "data", None)
        if isinstance(data, bytes | bytearray | memoryview):
            self._deliver(bytes(data))

    def _on_track_published(self, publication: Any, participant: Any) -> None:
        if self._is_avatar(participant):
            self._avatar_published(participant)

    def _on_track_subscribed(self, track: Any, publication: Any, participant: Any) -> None:
        if self._is_avatar(participant):
            self._avatar_published(participant)

    def _on_participant_disconnected(self, participant: Any) -> None:
        identity = getattr(participant, "identity", None)
        if identity is not None and identity in (self._avatar_identity, self._ready_identity):
            self._mark_avatar_left(f"identity {identity!r}")

    def _on_disconnected(self, reason: Any = None) -> None:
        if not self._closing:
            self._mark_closed(TransportClosedError(f"LiveKit room disconnected (reason {reason})"))

    # --- helpers -------------------------------------------------------------------------------

    def _is_avatar(self, participant: Any) -> bool:
        if self._avatar_identity is None:
            return True
        return bool(getattr(participant, "identity", None) == self._avatar_identity)

    def _avatar_published(self, participant: Any) -> None:
        if self._ready_identity is None:
            self._ready_identity = getattr(participant, "identity", None)
        self._mark_ready()

    def _unregister(self, room: Any) -> None:
        for event, handler in self._handlers.items():
            with contextlib.suppress(Exception):
                room.off(event, handler)
