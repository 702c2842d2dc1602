"""Transport over an Agora channel (``stream_type="agora"``) with ``agora-python-server-sdk``.

The SDK cannot be installed everywhere: it downloads a native library at install AND import time
(and calls ``sys.exit`` when that fails). So it is imported only when the transport connects,
through an injectable loader, and tests use a fake module. Names are those of the SDK's
``agora.rtc`` package from version 2.3 on, read in AgoraIO-Extensions/Agora-Python-Server-SDK
(``agora_rtc/agora/rtc/agora_service.py`` and ``rtc_connection.py`` at commit edbe038, a 2.4.x
tree; ``agora_rtc/setup.py`` there names 2.4.4):

- ``AgoraService()`` + ``initialize(AgoraServiceConfig(appid=...))`` -> int (0 = ok). The SDK allows
  ONE service per process, so it is created once per process (per loaded module) and reused.
- ``service.create_rtc_connection(RTCConnConfig(...), RtcConnectionPublishConfig(...))``.
- ``connection.register_observer(obs)`` (``on_connected``, ``on_connection_failure``,
  ``on_disconnected``, ``on_user_left``); ``connection.register_local_user_observer(obs)``
  (``on_stream_message(local_user, user_id, stream_id, data, length)``,
  ``on_user_audio_track_subscribed``, ``on_user_video_track_subscribed``).
- ``connection.connect(token, channel, uid)`` -> int; ``connection.disconnect()``;
  ``connection.release()``.
- Data streams. ``RTCConnection.__init__`` creates a default stream with
  ``self._data_stream_id = self._create_data_stream(False, False)``, i.e. unreliable AND unordered,
  and the public ``send_stream_message(data: bytes) -> int`` (negative = error code) always sends on
  ``self._data_stream_id``. Until 2.2 the same method was public as
  ``create_data_stream(reliable, ordered) -> int | None`` with ``send_stream_message(stream_id,
  data: str)``; 2.3 made it private and added the default stream. Both wrap the native
  ``agora_rtc_conn_create_data_stream(handle, &stream_id, reliable, ordered)``.

Akool's text must arrive whole and in order (chunks of one chat are reassembled by ``idx``), so
this transport creates its own stream with ``_create_data_stream(True, True)`` right after the
connection and points ``_data_stream_id`` at it; the public send path then uses it. Agora's
``createDataStream`` reference: reliable = the receiver gets the data within five seconds or an
error is raised at the receiver, ordered = in the order sent, and the two should be set alike
(https://api-ref.agora.io/en/video-sdk/android/4.x/API/api_irtcengine_createdatastream.html); at
most five streams per user. An SDK without ``_create_data_stream`` is refused: sending on its
unreliable default stream would lose or reorder chunks without any error.

Observers are called on SDK threads and must not call the SDK: they only hand data to the event
loop with ``loop.call_soon_threadsafe``. Ready = a remote user other than us has an audio or video
track subscribed (we auto-subscribe audio only; video would be decoded in the worker for nothing).
Assumption, unverified against a live channel: the Akool avatar is the only other user.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_akool.streaming.errors import (
    MessageRejectedError,
    TransportClosedError,
    TransportError,
    UnsupportedStreamTypeError,
)
from airflow_provider_akool.streaming.limits import AGORA_LIMITS, TransportLimits
from airflow_provider_akool.streaming.pacing import RateLimiter
from airflow_provider_akool.streaming.transports._credentials import require_str
from airflow_provider_akool.streaming.transports.base import Transport

__all__ = ["AgoraTransport", "load_agora_sdk"]

_INSTALL_HINT = "install airflow-provider-akool[agora]"


def load_agora_sdk() -> Any:
    """Import ``agora.rtc.agora_service`` or explain what is missing."""
    try:
        return importlib.import_module("agora.rtc.agora_service")
    except ImportError:
        raise UnsupportedStreamTypeError(f"stream_type 'agora' needs the Agora server SDK: {_INSTALL_HINT}") from None
    except SystemExit:
        # The SDK exits the interpreter when its native library cannot be loaded; keep the worker.
        raise UnsupportedStreamTypeError(
            "the Agora server SDK is installed but failed to load its native library"
        ) from None


class _Services:
    """One initialised AgoraService per loaded SDK module and process (an SDK requirement)."""

    _lock = threading.Lock()
    _by_module: dict[int, tuple[Any, Any, str]] = {}  # id(module) -> (module, service, app id)

    @classmethod
    def get(cls, sdk: Any, app_id: str) -> Any:
        with cls._lock:
            entry = cls._by_module.get(id(sdk))
            if entry is not None:
                if entry[2] != app_id:
                    raise TransportError(
                        "this process already initialised the Agora SDK with a different app id; "
                        "the SDK allows one AgoraService per process"
                    )
                return entry[1]
            service = sdk.AgoraService()
            code = service.initialize(sdk.AgoraServiceConfig(appid=app_id))
            if code != 0:
                raise TransportError(f"Agora service initialisation failed with code {code}")
            cls._by_module[id(sdk)] = (sdk, service, app_id)
            return service


class _Observer:
    """Duck-typed SDK observer: named callbacks are routed, every other ``on_*`` is a no-op.

    The SDK's ctypes glue calls every callback of its interface, so unknown ones must exist.
    """

    def __init__(self, routes: Mapping[str, Callable[..., None]]) -> None:
        self._routes = dict(routes)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        routes = self.__dict__.get("_routes", {})
        if name in routes:
            return self._guard(routes[name])
        if name.startswith("on_"):
            return _ignore
        raise AttributeError(name)

    @staticmethod
    def _guard(callback: Callable[..., None]) -> Callable[..., int]:
        def call(*args: Any) -> int:
            # An exception must never unwind into the SDK's thread.
            with contextlib.suppress(Exception):
                callback(*args)
            return 0

        return call


def _ignore(*args: Any) -> int:
    return 0


def _use_reliable_stream(connection: Any) -> int:
    """Create a reliable, ordered data stream and make it the one ``send_stream_message`` uses."""
    create = getattr(connection, "_create_data_stream", None)
    if create is None or not hasattr(connection, "_data_stream_id"):
        raise TransportError(
            "this Agora SDK version cannot create a reliable, ordered data stream "
            "(agora-python-server-sdk 2.3 or newer is needed)"
        )
    stream_id = create(True, True)  # (reliable, ordered)
    if not isinstance(stream_id, int) or isinstance(stream_id, bool) or stream_id < 0:
        raise TransportError(f"Agora could not create a reliable, ordered data stream (got {stream_id!r})")
    connection._data_stream_id = stream_id
    return stream_id


class AgoraTransport(Transport):
    """Data-channel transport over an Agora RTC channel (stream messages)."""

    stream_type = "agora"
    delivers_audio_events = False

    def __init__(
        self,
        credentials: Mapping[str, Any],
        *,
        limits: TransportLimits = AGORA_LIMITS,
        limiter: RateLimiter | None = None,
        sdk_loader: Callable[[], Any] = load_agora_sdk,
        connect_timeout: float = 20.0,
    ) -> None:
        super().__init__(limits, limiter=limiter)
        self._app_id = require_str(credentials, "agora_app_id", self.stream_type)
        self._channel = require_str(credentials, "agora_channel", self.stream_type)
        self._token = require_str(credentials, "agora_token", self.stream_type)
        self._uid = require_str(credentials, "agora_uid", self.stream_type)
        self._sdk_loader = sdk_loader
        self._connect_timeout = connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: Any = None
        self._joined = asyncio.Event()
        self._join_failure: str | None = None
        self._avatar_uid: str | None = None
        self._stream_id: int | None = None

    @property
    def stream_id(self) -> int | None:
        """Id of the reliable, ordered data stream messages are sent on (None before connecting)."""
        return self._stream_id

    async def _open(self) -> None:
        sdk = self._sdk_loader()
        self._loop = asyncio.get_running_loop()
        service = _Services.get(sdk, self._app_id)
        connection = service.create_rtc_connection(
            sdk.RTCConnConfig(auto_subscribe_audio=1, auto_subscribe_video=0),
            sdk.RtcConnectionPublishConfig(is_publish_audio=False, is_publish_video=False),
        )
        if connection is None:
            raise TransportError("Agora SDK could not create an RTC connection")
        self._connection = connection
        try:
            self._stream_id = _use_reliable_stream(connection)
        except TransportError:
            await self._release()
            raise
        connection.register_observer(
            _Observer(
                {
                    "on_connected": self._cb_connected,
                    "on_connection_failure": self._cb_connection_failure,
                    "on_disconnected": self._cb_disconnected,
                    "on_user_left": self._cb_user_left,
                }
            )
        )
        user_observer = _Observer(
            {
                "on_stream_message": self._cb_stream_message,
                "on_user_audio_track_subscribed": self._cb_audio_subscribed,
                "on_user_video_track_subscribed": self._cb_video_subscribed,
            }
        )
        if hasattr(connection, "register_local_user_observer"):
            connection.register_local_user_observer(user_observer)
        else:  # SDK < 2.3 registers on the local user
            connection.get_local_user().register_local_user_observer(user_observer)
        code = await asyncio.to_thread(connection.connect, self._token, self._channel, self._uid)
        if code != 0:
            await self._release()
            raise TransportError(f"Agora connect failed with code {code}")
        try:
            await asyncio.wait_for(self._joined.wait(), timeout=self._connect_timeout)
        except TimeoutError:
            await self._release()
            raise TransportError(f"Agora channel not joined within {self._connect_timeout:g} s") from None
        if self._join_failure is not None:
            await self._release()
            raise TransportError(f"Agora connection failed ({self._join_failure})")

    async def _transmit(self, payload: bytes) -> None:
        connection = self._connection
        if connection is None or connection._data_stream_id != self._stream_id:
            # Never fall back to the SDK's unreliable default stream.
            raise MessageRejectedError("Agora connection lost its reliable data stream")
        code = connection.send_stream_message(payload)
        if isinstance(code, int) and code < 0:
            raise MessageRejectedError(f"Agora send_stream_message failed with code {code}", code=code)

    async def _shutdown(self) -> None:
        await self._release()

    async def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return

        def release() -> None:
            with contextlib.suppress(Exception):
                connection.disconnect()
            with contextlib.suppress(Exception):
                connection.release()

        await asyncio.to_thread(release)

    # --- SDK-thread callbacks: hand everything to the loop --------------------------------------

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(callback, *args)

    def _cb_connected(self, *args: Any) -> None:
        self._to_loop(self._joined.set)

    def _cb_connection_failure(self, conn: Any = None, info: Any = None, reason: Any = None, *_: Any) -> None:
        self._to_loop(self._on_join_failure, f"reason {reason}")

    def _cb_disconnected(self, conn: Any = None, info: Any = None, reason: Any = None, *_: Any) -> None:
        self._to_loop(self._on_disconnected, f"reason {reason}")

    def _cb_user_left(self, conn: Any = None, user_id: Any = None, reason: Any = None, *_: Any) -> None:
        self._to_loop(self._on_user_left, str(user_id))

    def _cb_stream_message(
        self, local_user: Any = None, user_id: Any = None, stream_id: Any = None, data: Any = None, *_: Any
    ) -> None:
        if isinstance(data, str):  # SDK 2.3 hands over decoded text, older versions bytes
            payload = data.encode("utf-8")
        elif isinstance(data, bytes | bytearray | memoryview):
            payload = bytes(data)
        else:
            return
        self._to_loop(self._deliver, payload)

    def _cb_audio_subscribed(self, local_user: Any = None, user_id: Any = None, *_: Any) -> None:
        self._to_loop(self._on_remote_media, str(user_id))

    def _cb_video_subscribed(self, local_user: Any = None, user_id: Any = None, *_: Any) -> None:
        self._to_loop(self._on_remote_media, str(user_id))

    # --- on the loop -----------------------------------------------------------------------------

    def _on_join_failure(self, detail: str) -> None:
        self._join_failure = detail
        self._joined.set()
        self._mark_closed(TransportClosedError(f"Agora connection failed ({detail})"))

    def _on_disconnected(self, detail: str) -> None:
        if not self._closing:
            self._mark_closed(TransportClosedError(f"Agora channel disconnected ({detail})"))

    def _on_user_left(self, user_id: str) -> None:
        if user_id == self._avatar_uid:
            self._mark_avatar_left(f"uid {user_id}")

    def _on_remote_media(self, user_id: str) -> None:
        if user_id == self._uid:
            return
        if self._avatar_uid is None:
            self._avatar_uid = user_id
        self._mark_ready()
