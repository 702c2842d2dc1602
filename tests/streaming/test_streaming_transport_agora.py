"""AgoraTransport against a fake ``agora.rtc.agora_service`` whose callbacks run on other threads."""

from __future__ import annotations

import asyncio
import importlib
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_akool.streaming import (
    AGORA_LIMITS,
    AgoraTransport,
    AvatarLeftError,
    AvatarNotReadyError,
    CredentialsError,
    MessageRejectedError,
    TransportError,
    UnsupportedStreamTypeError,
)
from airflow_provider_akool.streaming.transports import agora as agora_module
from airflow_provider_akool.streaming.transports.factory import _agora_installed

TOKEN = "agora-rtc-token-0123456789abcdef"
CREDS = {"agora_app_id": "app-1", "agora_channel": "ch-1", "agora_token": TOKEN, "agora_uid": 1001}
AVATAR_UID = "2002"


def on_sdk_thread(callback: Any, *args: Any) -> None:
    """Invoke an observer callback from a separate thread, like the native SDK does."""
    thread = threading.Thread(target=callback, args=args)
    thread.start()
    thread.join()


@dataclass(kw_only=True)
class AgoraServiceConfig:
    appid: str = ""


@dataclass(kw_only=True)
class RTCConnConfig:
    auto_subscribe_audio: int = 0
    auto_subscribe_video: int = 0


@dataclass(kw_only=True)
class RtcConnectionPublishConfig:
    is_publish_audio: bool = True
    is_publish_video: bool = False


class FakeConnection:
    """Mirrors ``agora.rtc.rtc_connection.RTCConnection`` of SDK 2.3+ (read at 2.4.x): the constructor
    creates a default data stream with ``_create_data_stream(False, False)`` and the public
    ``send_stream_message(data)`` sends on ``self._data_stream_id``."""

    def __init__(self, sdk: FakeSdk, conn_config: RTCConnConfig, publish_config: RtcConnectionPublishConfig) -> None:
        self.sdk = sdk
        self.conn_config = conn_config
        self.publish_config = publish_config
        self.observer: Any = None
        self.user_observer: Any = None
        self.connect_args: tuple[str, str, str] | None = None
        self.streams: dict[int, tuple[bool, bool]] = {}  # stream id -> (reliable, ordered)
        self.sent: list[bytes] = []
        self.sent_on: list[tuple[bool, bool]] = []  # (reliable, ordered) of the stream each message went on
        self.disconnects = 0
        self.releases = 0
        self._data_stream_id = FakeConnection._create_data_stream(self, False, False)

    def _create_data_stream(self, reliable: bool, ordered: bool) -> int | None:
        if self.sdk.stream_code < 0 and (reliable, ordered) != (False, False):
            return None  # the SDK returns None when the native call fails
        stream_id = len(self.streams)
        self.streams[stream_id] = (bool(reliable), bool(ordered))
        return stream_id

    def register_observer(self, observer: Any) -> int:
        self.observer = observer
        return 0

    def register_local_user_observer(self, observer: Any) -> int:
        self.user_observer = observer
        return 0

    def connect(self, token: str, channel: str, uid: str) -> int:
        self.connect_args = (token, channel, uid)
        if self.sdk.connect_code != 0:
            return self.sdk.connect_code
        if self.sdk.join_outcome == "connected":
            on_sdk_thread(self.observer.on_connected, self, object(), 1)
        elif self.sdk.join_outcome == "failed":
            on_sdk_thread(self.observer.on_connection_failure, self, object(), 8)
        return 0

    def send_stream_message(self, data: bytes) -> int:
        assert isinstance(data, bytes)  # the SDK wraps it in ctypes.c_char_p: bytes only
        self.sent.append(data)
        assert self._data_stream_id is not None
        self.sent_on.append(self.streams[self._data_stream_id])
        return self.sdk.send_code

    def disconnect(self) -> int:
        self.disconnects += 1
        return 0

    def release(self) -> None:
        self.releases += 1


class FakeService:
    def __init__(self, sdk: FakeSdk) -> None:
        self.sdk = sdk
        self.configs: list[AgoraServiceConfig] = []

    def initialize(self, config: AgoraServiceConfig) -> int:
        self.configs.append(config)
        return self.sdk.init_code

    def create_rtc_connection(
        self, conn_config: RTCConnConfig, publish_config: RtcConnectionPublishConfig
    ) -> FakeConnection:
        connection = self.sdk.connection_class(self.sdk, conn_config, publish_config)
        self.sdk.connections.append(connection)
        return connection


class FakeSdk:
    """Stands in for the ``agora.rtc.agora_service`` module."""

    AgoraServiceConfig = AgoraServiceConfig
    RTCConnConfig = RTCConnConfig
    RtcConnectionPublishConfig = RtcConnectionPublishConfig

    def __init__(self) -> None:
        self.services: list[FakeService] = []
        self.connections: list[FakeConnection] = []
        self.init_code = 0
        self.connect_code = 0
        self.join_outcome = "connected"
        self.send_code = 0
        self.stream_code = 0
        self.connection_class: type[FakeConnection] = FakeConnection

    def AgoraService(self) -> FakeService:
        service = FakeService(self)
        self.services.append(service)
        return service


@pytest.fixture
def sdk() -> FakeSdk:
    return FakeSdk()


def make(sdk: FakeSdk, creds: dict[str, Any] = CREDS, **kwargs: Any) -> AgoraTransport:
    return AgoraTransport(creds, sdk_loader=lambda: sdk, **kwargs)


async def settle() -> None:
    """Let call_soon_threadsafe callbacks run."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_joins_with_credentials_and_subscribes_to_audio_only(sdk: FakeSdk) -> None:
    async with make(sdk) as transport:
        connection = sdk.connections[0]
        assert connection.connect_args == (TOKEN, "ch-1", "1001")
        assert (connection.conn_config.auto_subscribe_audio, connection.conn_config.auto_subscribe_video) == (1, 0)
        assert not connection.publish_config.is_publish_audio
        assert sdk.services[0].configs[0].appid == "app-1"
        assert transport.limits == AGORA_LIMITS


async def test_one_service_per_process_is_reused_and_app_ids_cannot_mix(sdk: FakeSdk) -> None:
    async with make(sdk), make(sdk):
        pass
    assert len(sdk.services) == 1
    with pytest.raises(TransportError, match="different app id") as caught:
        await make(sdk, {**CREDS, "agora_app_id": "app-2"}).connect()
    assert "app-2" not in str(caught.value)


async def test_ready_when_another_user_publishes_from_an_sdk_thread(sdk: FakeSdk) -> None:
    async with make(sdk) as transport:
        observer = sdk.connections[0].user_observer
        on_sdk_thread(observer.on_user_audio_track_subscribed, object(), "1001", object())  # ourselves
        await settle()
        with pytest.raises(AvatarNotReadyError):
            await transport.wait_ready(timeout=0.05)
        on_sdk_thread(observer.on_user_video_track_subscribed, object(), AVATAR_UID, object(), object())
        await transport.wait_ready(timeout=1)


async def test_stream_messages_arrive_as_bytes_whether_sdk_gives_str_or_bytes(sdk: FakeSdk) -> None:
    async with make(sdk) as transport:
        observer = sdk.connections[0].user_observer
        on_sdk_thread(observer.on_stream_message, object(), AVATAR_UID, 1, '{"v":2,"text":"ü"}', 19)
        on_sdk_thread(observer.on_stream_message, object(), AVATAR_UID, 1, b'{"v":2}', 7)
        on_sdk_thread(observer.on_user_info_updated, object(), AVATAR_UID, 1, 0)  # unrouted callbacks are no-ops
        assert await transport.recv(timeout=1) == '{"v":2,"text":"ü"}'.encode()
        assert await transport.recv(timeout=1) == b'{"v":2}'


async def test_send_uses_stream_messages_and_negative_codes_are_rejections(sdk: FakeSdk) -> None:
    async with make(sdk) as transport:
        await transport.send(b'{"v":2,"type":"chat"}')
        assert sdk.connections[0].sent == [b'{"v":2,"type":"chat"}']
        sdk.send_code = -17
        with pytest.raises(MessageRejectedError, match="-17") as caught:
            await transport.send(b"{}")
    assert caught.value.code == -17


async def test_every_message_goes_on_a_reliable_ordered_stream(sdk: FakeSdk) -> None:
    async with make(sdk) as transport:
        for index in range(3):
            await transport.send(b'{"v":2,"type":"chat","idx":%d}' % index)
        connection = sdk.connections[0]
        assert connection.sent_on == [(True, True)] * 3, "not on the SDK's unreliable, unordered default stream"
        assert transport.stream_id is not None and connection.streams[transport.stream_id] == (True, True)


async def test_no_reliable_stream_fails_the_join_and_releases(sdk: FakeSdk) -> None:
    sdk.stream_code = -1
    transport = make(sdk)
    with pytest.raises(TransportError, match="reliable, ordered data stream"):
        await transport.connect()
    connection = sdk.connections[0]
    assert connection.connect_args is None, "refused before joining the channel"
    assert connection.releases == 1 and connection.sent == []


class OldSdkConnection(FakeConnection):
    """SDK <= 2.2: public ``create_data_stream(reliable, ordered)``, no default stream."""

    _create_data_stream = None  # type: ignore[assignment]
    create_data_stream = FakeConnection._create_data_stream

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        del self._data_stream_id


async def test_an_sdk_without_the_stream_api_is_refused(sdk: FakeSdk) -> None:
    sdk.connection_class = OldSdkConnection
    with pytest.raises(TransportError, match=r"2\.3 or newer"):
        await make(sdk).connect()
    assert sdk.connections[0].releases == 1 and sdk.connections[0].connect_args is None


async def test_avatar_leaving_ends_the_stream(sdk: FakeSdk) -> None:
    async with make(sdk) as transport:
        connection = sdk.connections[0]
        on_sdk_thread(connection.user_observer.on_user_audio_track_subscribed, object(), AVATAR_UID, object())
        await transport.wait_ready(timeout=1)
        on_sdk_thread(connection.observer.on_user_left, connection, "3003", 0)  # not the avatar
        on_sdk_thread(connection.observer.on_user_left, connection, AVATAR_UID, 0)
        with pytest.raises(AvatarLeftError, match=AVATAR_UID):
            await transport.recv(timeout=1)


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda s: setattr(s, "connect_code", -2), "code -2"),
        (lambda s: setattr(s, "join_outcome", "failed"), "reason 8"),
        (lambda s: setattr(s, "join_outcome", "silent"), "not joined within"),
        (lambda s: setattr(s, "init_code", -7), "initialisation failed with code -7"),
    ],
    ids=["connect-code", "connection-failure", "join-timeout", "init-failure"],
)
async def test_join_failures_are_transport_errors_without_token(sdk: FakeSdk, setup: Any, match: str) -> None:
    setup(sdk)
    transport = make(sdk, connect_timeout=0.1)
    with pytest.raises(TransportError, match=match) as caught:
        await transport.connect()
    assert TOKEN not in str(caught.value)
    await transport.close()
    for connection in sdk.connections:
        assert connection.releases == 1


async def test_close_disconnects_and_releases_once(sdk: FakeSdk) -> None:
    transport = make(sdk)
    await transport.connect()
    await transport.close()
    await transport.close()
    connection = sdk.connections[0]
    assert (connection.disconnects, connection.releases) == (1, 1)
    assert TOKEN not in repr(transport)


def test_missing_channel_is_named_without_values() -> None:
    with pytest.raises(CredentialsError, match="agora_channel") as caught:
        AgoraTransport({"agora_app_id": "a", "agora_token": TOKEN, "agora_uid": 1})
    assert TOKEN not in str(caught.value)


@pytest.mark.skipif(_agora_installed(), reason="importing the real SDK downloads its native library")
def test_default_loader_explains_the_extra_when_the_sdk_is_missing() -> None:
    with pytest.raises(UnsupportedStreamTypeError, match=r"airflow-provider-akool\[agora\]"):
        agora_module.load_agora_sdk()


def test_sdk_exiting_the_interpreter_becomes_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def exiting_import(name: str) -> Any:
        raise SystemExit(1)

    monkeypatch.setattr(importlib, "import_module", exiting_import)
    with pytest.raises(UnsupportedStreamTypeError, match="native library"):
        agora_module.load_agora_sdk()
