"""Pick a transport for a session's ``stream_type``, and refuse unsupported ones up front.

``check_stream_type_supported`` is meant to run BEFORE a session is created (sessions are paid
for): it fails for ``trtc`` (no Python SDK), for unknown values, and for ``agora``/``livekit``
when their optional SDK is missing. It never imports the Agora SDK (that import downloads a
native library), it only looks at installed distributions.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_akool.streaming.errors import UnsupportedStreamTypeError
from airflow_provider_akool.streaming.limits import TransportLimits, limits_for
from airflow_provider_akool.streaming.pacing import RateLimiter
from airflow_provider_akool.streaming.transports.agora import AgoraTransport
from airflow_provider_akool.streaming.transports.base import Transport
from airflow_provider_akool.streaming.transports.livekit import LiveKitTransport
from airflow_provider_akool.streaming.transports.sim import SimTransport

__all__ = ["SUPPORTED_STREAM_TYPES", "check_stream_type_supported", "create_transport"]

#: Stream types this package can drive.
SUPPORTED_STREAM_TYPES: tuple[str, ...] = ("agora", "livekit", "sim")
_AGORA_DISTRIBUTIONS = ("agora-python-server-sdk", "agora_python_server_sdk")


def _livekit_installed() -> bool:
    try:
        return importlib.util.find_spec("livekit.rtc") is not None
    except (ImportError, ValueError):
        return False


def _agora_installed() -> bool:
    for name in _AGORA_DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return True
    return False


# Indirection so tests can pretend an SDK is (not) installed.
_SDK_PROBES: dict[str, tuple[Callable[[], bool], str]] = {
    "agora": (_agora_installed, "airflow-provider-akool[agora]"),
    "livekit": (_livekit_installed, "airflow-provider-akool[livekit]"),
}


def check_stream_type_supported(stream_type: str) -> None:
    """Raise :class:`UnsupportedStreamTypeError` unless ``stream_type`` can be driven from here."""
    allowed = ", ".join(repr(s) for s in SUPPORTED_STREAM_TYPES)
    if stream_type == "trtc":
        raise UnsupportedStreamTypeError(
            "stream_type 'trtc' is not supported: no Python SDK for TRTC exists (Tencent ships TRTC "
            f"SDKs for browsers and native apps only); use one of {allowed}"
        )
    if stream_type not in SUPPORTED_STREAM_TYPES:
        raise UnsupportedStreamTypeError(f"unknown stream_type {stream_type!r}; allowed values: {allowed}")
    probe = _SDK_PROBES.get(stream_type)
    if probe is not None:
        installed, extra = probe
        if not installed():
            raise UnsupportedStreamTypeError(
                f"stream_type {stream_type!r} needs its SDK, which is not installed: install {extra}"
            )


def create_transport(
    stream_type: str,
    credentials: Mapping[str, Any],
    *,
    limits: TransportLimits | None = None,
    limiter: RateLimiter | None = None,
) -> Transport:
    """Build the (unconnected) transport for ``stream_type`` from a session's ``credentials``.

    ``limits`` overrides the stream type's defaults (e.g. a sim configured with other limits);
    ``limiter`` replaces the rate limiter built from them (e.g. one on a fake clock).

    Raises:
        UnsupportedStreamTypeError: see :func:`check_stream_type_supported`.
        CredentialsError: a required credentials field is missing (named, value never shown).
    """
    check_stream_type_supported(stream_type)
    chosen = limits if limits is not None else limits_for(stream_type)
    if stream_type == "sim":
        return SimTransport(credentials, limits=chosen, limiter=limiter)
    if stream_type == "livekit":
        return LiveKitTransport(credentials, limits=chosen, limiter=limiter)
    return AgoraTransport(credentials, limits=chosen, limiter=limiter)
