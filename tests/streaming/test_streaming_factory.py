"""Stream-type checks happen before any session exists; the factory builds the right transport."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_provider_akool.streaming import (
    AGORA_LIMITS,
    SIM_LIMITS,
    AgoraTransport,
    CredentialsError,
    LiveKitTransport,
    SimTransport,
    TransportLimits,
    UnsupportedStreamTypeError,
    check_stream_type_supported,
    create_transport,
    limits_for,
)
from airflow_provider_akool.streaming.transports import factory


def pretend_installed(monkeypatch: pytest.MonkeyPatch, stream_type: str, installed: bool) -> None:
    _, extra = factory._SDK_PROBES[stream_type]
    monkeypatch.setitem(factory._SDK_PROBES, stream_type, (lambda: installed, extra))


def test_trtc_is_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedStreamTypeError, match="no Python SDK for TRTC exists"):
        check_stream_type_supported("trtc")


@pytest.mark.parametrize("stream_type", ["webrtc", "", "Agora"])
def test_unknown_types_list_the_allowed_values(stream_type: str) -> None:
    with pytest.raises(UnsupportedStreamTypeError, match="allowed values: 'agora', 'livekit', 'sim'"):
        check_stream_type_supported(stream_type)


def test_agora_without_its_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_installed(monkeypatch, "agora", False)
    with pytest.raises(UnsupportedStreamTypeError, match=r"install airflow-provider-akool\[agora\]"):
        check_stream_type_supported("agora")


def test_livekit_without_its_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_installed(monkeypatch, "livekit", False)
    with pytest.raises(UnsupportedStreamTypeError, match=r"install airflow-provider-akool\[livekit\]"):
        check_stream_type_supported("livekit")


def test_installed_types_pass() -> None:
    check_stream_type_supported("sim")
    check_stream_type_supported("livekit")  # livekit is in the dev environment


def test_factory_builds_each_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_installed(monkeypatch, "agora", True)
    sim = create_transport("sim", {"sim_url": "ws://127.0.0.1:1/x", "sim_token": "tok-123456"})
    livekit = create_transport("livekit", {"livekit_url": "wss://x", "livekit_token": "tok-123456"})
    agora = create_transport(
        "agora", {"agora_app_id": "a", "agora_channel": "c", "agora_token": "tok-123456", "agora_uid": 5}
    )
    assert isinstance(sim, SimTransport) and sim.limits == SIM_LIMITS == AGORA_LIMITS
    assert isinstance(livekit, LiveKitTransport)
    assert isinstance(agora, AgoraTransport)
    assert sim.delivers_audio_events and not livekit.delivers_audio_events


def test_factory_accepts_other_limits() -> None:
    tight = TransportLimits(max_message_bytes=500, bytes_per_second=2000, messages_per_second=5)
    transport = create_transport("sim", {"sim_url": "ws://127.0.0.1:1/x", "sim_token": "tok-123456"}, limits=tight)
    assert transport.limits == tight


def test_factory_checks_the_type_before_reading_credentials() -> None:
    with pytest.raises(UnsupportedStreamTypeError):
        create_transport("trtc", {"trtc_user_sig": "secret"})


def test_factory_reports_missing_credentials_by_name() -> None:
    with pytest.raises(CredentialsError, match="sim_token"):
        create_transport("sim", {"sim_url": "ws://127.0.0.1:1/x"})


def test_limits_for_every_stream_type() -> None:
    assert limits_for("trtc").bytes_per_second == 8000
    assert limits_for("agora").bytes_per_second == 6000
    assert limits_for("livekit").max_message_bytes < 15_360
    with pytest.raises(ValueError, match="allowed"):
        limits_for("x")


def test_streaming_imports_no_airflow_and_no_rtc_sdk() -> None:
    code = (
        "import sys, airflow_provider_akool.streaming\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'livekit', 'agora'})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
