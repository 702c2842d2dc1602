"""Opt-in data-channel limits (operator parameter, connection extra) and a set-params too large to send."""

from __future__ import annotations

from typing import Any

import pytest
from session_support import AVATAR, api_calls
from task_support import FakeTI, make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowFailException
from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
from airflow_provider_akool.sim.runner import SimServer

pytestmark = pytest.mark.timeout(60)

LONG = "A sentence that keeps going so the chunker has to split it at the default budget. " * 40  # ~3.3 KB


def operator(**overrides: Any) -> AkoolRetellingSessionOperator:
    values: dict[str, Any] = {
        "task_id": "retell",
        "avatar_id": AVATAR,
        "scripts": [{"id": "long", "text": LONG}],
        "language": "en",
        "duration": 3600,
    }
    return AkoolRetellingSessionOperator(**{**values, **overrides})


@pytest.fixture
def sim(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    # An emulated channel that takes 4 KB messages, so an opted-in budget can be used end to end.
    server: SimServer = akool_sim_factory(time_scale=1000.0, max_message_bytes=4096, bytes_per_second=40_000)
    connect(monkeypatch, server)
    return server


def connect(monkeypatch: pytest.MonkeyPatch, sim: SimServer, **extra: Any) -> None:
    set_akool_conn(monkeypatch, sim, **extra)


def chunks_sent(manifest: dict[str, Any]) -> int:
    return int(manifest["segments"][0]["chunks"])


def test_default_budget_then_a_larger_one_from_the_operator_and_from_the_connection(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = operator()
    assert chunks_sent(default.execute(make_context())) >= 4  # 960 B each

    opted_in = operator(max_message_bytes=4000, bytes_per_second=40_000)
    manifest = opted_in.execute(make_context())
    assert manifest["status"] == "completed" and chunks_sent(manifest) == 1

    connect(monkeypatch, sim, max_message_bytes="4000", bytes_per_second=40_000)
    manifest = operator().execute(make_context())
    assert chunks_sent(manifest) == 1
    assert sim.state()["open_sessions"] == []


def test_a_bad_extra_or_parameter_fails_before_any_call(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.clear_requests()
    with pytest.raises(AirflowFailException, match="max_message_bytes: 20000 is outside"):
        operator(max_message_bytes=20_000).execute(make_context())
    connect(monkeypatch, sim, bytes_per_second="fast")
    with pytest.raises(AirflowFailException, match="extra field 'bytes_per_second' must be a whole number"):
        operator().execute(make_context())
    assert api_calls(sim) == []


def test_a_40_entry_pron_map_is_refused_before_the_session_is_created(sim: SimServer) -> None:
    sim.clear_requests()
    pron_map = {f"Brandname{i:02d}": f"bran dee nay {i:02d}" for i in range(40)}
    ti = FakeTI()
    with pytest.raises(AirflowFailException) as caught:
        operator(pron_map=pron_map).execute(make_context(ti=ti))
    message = str(caught.value)
    assert "pron_map: with its 40 entries the set-params message is" in message and "960-byte" in message
    assert api_calls(sim) == [] and ti.pushed == [], "nothing created, nothing paid for"
