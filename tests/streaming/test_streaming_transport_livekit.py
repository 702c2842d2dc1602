"""LiveKitTransport against a fake ``livekit.rtc`` that mimics the parts of the SDK it uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_akool.streaming import (
    LIVEKIT_LIMITS,
    AvatarLeftError,
    AvatarNotReadyError,
    CredentialsError,
    LiveKitTransport,
    MessageRejectedError,
    TransportClosedError,
    TransportError,
)
from airflow_provider_akool.streaming.transports.livekit import load_livekit_rtc

TOKEN = "lk-jwt-secret-0123456789"
AVATAR = "akool-avatar-7"
CREDS = {"livekit_url": "wss://lk.example.test", "livekit_token": TOKEN, "livekit_server_identity": AVATAR}


@dataclass
class FakeParticipant:
    identity: str
    track_publications: dict[str, object] = field(default_factory=dict)


@dataclass
class FakeRoomOptions:
    auto_subscribe: bool = True


class FakeLocalParticipant:
    def __init__(self) -> None:
        self.published: list[tuple[bytes, bool]] = []
        self.error: Exception | None = None

    async def publish_data(self, payload: bytes | str, *, reliable: bool = True, topic: str = "") -> None:
        if self.error is not None:
            raise self.error
        assert isinstance(payload, bytes)
        self.published.append((payload, reliable))


class FakeRoom:
    """Event emitter + the Room attributes the transport touches."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Callable[..., None]]] = {}
        self.remote_participants: dict[str, FakeParticipant] = {}
        self.local_participant = FakeLocalParticipant()
        self.connect_calls: list[tuple[str, str, FakeRoomOptions]] = []
        self.connect_error: Exception | None = None
        self.disconnects = 0

    def on(self, event: str, callback: Callable[..., None]) -> Callable[..., None]:
        assert not asyncio.iscoroutinefunction(callback)  # the real SDK refuses async callbacks
        self.handlers.setdefault(event, []).append(callback)
        return callback

    def off(self, event: str, callback: Callable[..., None]) -> None:
        self.handlers[event].remove(callback)

    def emit(self, event: str, *args: Any) -> None:
        for callback in list(self.handlers.get(event, [])):
            callback(*args)

    async def connect(self, url: str, token: str, options: FakeRoomOptions) -> None:
        self.connect_calls.append((url, token, options))
        if self.connect_error is not None:
            raise self.connect_error

    async def disconnect(self) -> None:
        self.disconnects += 1


class FakeRtc:
    """Stands in for the ``livekit.rtc`` module; remembers the rooms it created."""

    def __init__(self, prepare: Callable[[FakeRoom], None] | None = None) -> None:
        self.rooms: list[FakeRoom] = []
        self._prepare = prepare
        self.RoomOptions = FakeRoomOptions

    def Room(self) -> FakeRoom:
        room = FakeRoom()
        if self._prepare is not None:
            self._prepare(room)
        self.rooms.append(room)
        return room


def make(rtc: FakeRtc, creds: dict[str, str] = CREDS) -> LiveKitTransport:
    return LiveKitTransport(creds, rtc_loader=lambda: rtc)


async def test_connects_without_auto_subscribe_and_is_ready_if_avatar_already_published() -> None:
    rtc = FakeRtc(
        lambda room: room.remote_participants.update({AVATAR: FakeParticipant(AVATAR, {"TR_video": object()})})
    )
    async with make(rtc) as transport:
        await transport.wait_ready(timeout=0.1)
        url, token, options = rtc.rooms[0].connect_calls[0]
    assert (url, token, options.auto_subscribe) == ("wss://lk.example.test", TOKEN, False)
    assert transport.limits == LIVEKIT_LIMITS


async def test_ready_only_when_the_server_identity_publishes() -> None:
    rtc = FakeRtc()
    async with make(rtc) as transport:
        room = rtc.rooms[0]
        room.emit("track_published", object(), FakeParticipant("someone-else"))
        with pytest.raises(AvatarNotReadyError):
            await transport.wait_ready(timeout=0.05)
        room.emit("track_published", object(), FakeParticipant(AVATAR))
        await transport.wait_ready(timeout=0.1)


async def test_track_subscribed_also_counts_as_ready() -> None:
    rtc = FakeRtc()
    async with make(rtc) as transport:
        rtc.rooms[0].emit("track_subscribed", object(), object(), FakeParticipant(AVATAR))
        await transport.wait_ready(timeout=0.1)


async def test_without_server_identity_any_publisher_is_the_avatar() -> None:
    rtc = FakeRtc()
    creds = {k: v for k, v in CREDS.items() if k != "livekit_server_identity"}
    async with make(rtc, creds) as transport:
        rtc.rooms[0].emit("track_published", object(), FakeParticipant("whoever"))
        await transport.wait_ready(timeout=0.1)
        rtc.rooms[0].emit("participant_disconnected", FakeParticipant("whoever"))
        with pytest.raises(AvatarLeftError):
            await transport.recv(timeout=0.1)


async def test_data_round_trip_uses_reliable_publish_and_data_received() -> None:
    rtc = FakeRtc()
    async with make(rtc) as transport:
        room = rtc.rooms[0]
        await transport.send(b'{"v":2,"type":"chat"}')
        room.emit("data_received", SimpleNamespace(data=b'{"v":2,"type":"event"}', participant=None))
        assert await transport.recv(timeout=0.1) == b'{"v":2,"type":"event"}'
    assert room.local_participant.published == [(b'{"v":2,"type":"chat"}', True)]


async def test_publish_failure_is_message_rejected_without_token() -> None:
    rtc = FakeRtc()
    async with make(rtc) as transport:
        rtc.rooms[0].local_participant.error = RuntimeError(f"publish failed for {TOKEN}")
        with pytest.raises(MessageRejectedError) as caught:
            await transport.send(b"{}")
    assert TOKEN not in str(caught.value) and "***" in str(caught.value)


async def test_connect_failure_is_a_transport_error_without_token() -> None:
    rtc = FakeRtc(lambda room: setattr(room, "connect_error", ConnectionError(f"401 for token {TOKEN}")))
    transport = make(rtc)
    with pytest.raises(TransportError, match="cannot join the LiveKit room") as caught:
        await transport.connect()
    assert TOKEN not in str(caught.value)
    assert rtc.rooms[0].disconnects == 1
    assert all(not handlers for handlers in rtc.rooms[0].handlers.values())


async def test_avatar_leaving_ends_the_stream_after_pending_data() -> None:
    rtc = FakeRtc()
    async with make(rtc) as transport:
        room = rtc.rooms[0]
        room.emit("track_published", object(), FakeParticipant(AVATAR))
        room.emit("data_received", SimpleNamespace(data=b"last", participant=FakeParticipant(AVATAR)))
        room.emit("participant_disconnected", FakeParticipant(AVATAR))
        assert [payload async for payload in transport] == [b"last"]
        with pytest.raises(AvatarLeftError, match=AVATAR):
            await transport.recv(timeout=0.1)


async def test_room_disconnect_closes_the_transport_and_fails_wait_ready() -> None:
    rtc = FakeRtc()
    async with make(rtc) as transport:
        rtc.rooms[0].emit("disconnected", 3)
        with pytest.raises(TransportClosedError, match="disconnected"):
            await transport.wait_ready(timeout=1)


async def test_close_disconnects_once_and_unregisters_handlers() -> None:
    rtc = FakeRtc()
    transport = make(rtc)
    await transport.connect()
    await transport.close()
    await transport.close()
    room = rtc.rooms[0]
    assert room.disconnects == 1
    assert all(not handlers for handlers in room.handlers.values())
    assert TOKEN not in repr(transport)


def test_missing_token_is_named() -> None:
    with pytest.raises(CredentialsError, match="livekit_token"):
        LiveKitTransport({"livekit_url": "wss://x"})


def test_real_sdk_loader_returns_the_rtc_module() -> None:
    rtc = load_livekit_rtc()
    assert hasattr(rtc, "Room") and hasattr(rtc, "RoomOptions")
