"""Data-channel transports: one async interface, one class per stream type.

``sim`` needs only ``websockets``; ``livekit`` and ``agora`` import their SDKs when they connect.
"""

from airflow_provider_akool.streaming.transports.agora import AgoraTransport
from airflow_provider_akool.streaming.transports.base import Transport
from airflow_provider_akool.streaming.transports.factory import (
    SUPPORTED_STREAM_TYPES,
    check_stream_type_supported,
    create_transport,
)
from airflow_provider_akool.streaming.transports.livekit import LiveKitTransport
from airflow_provider_akool.streaming.transports.sim import SimTransport

__all__ = [
    "SUPPORTED_STREAM_TYPES",
    "AgoraTransport",
    "LiveKitTransport",
    "SimTransport",
    "Transport",
    "check_stream_type_supported",
    "create_transport",
]
