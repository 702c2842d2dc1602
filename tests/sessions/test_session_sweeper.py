"""AkoolCloseStaleSessionsOperator against akool-sim: what it closes, what it leaves, dry run."""

from __future__ import annotations

from typing import Any

import pytest
from session_support import AVATAR
from task_support import FakeTI, make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowException
from airflow_provider_akool.client import AkoolClient, ClientConfig
from airflow_provider_akool.client.models import Session
from airflow_provider_akool.operators.sweeper import AkoolCloseStaleSessionsOperator
from airflow_provider_akool.sessions.sweep import session_created_at
from airflow_provider_akool.sim.runner import SimServer

pytestmark = pytest.mark.timeout(60)


def pulling_ti(values: dict[str, Any]) -> FakeTI:
    """A task instance whose xcom_pull answers from a dict keyed by XCom key (all map indexes)."""
    return FakeTI(pull=lambda key, **_: values.get(key))


@pytest.fixture
def sim(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    server: SimServer = akool_sim_factory(time_scale=1)  # real time: sessions stay open during a test
    set_akool_conn(monkeypatch, server)
    return server


def open_sessions(sim: SimServer, count: int) -> list[str]:
    with AkoolClient(ClientConfig(base_url=sim.url, api_key=sim.config.api_key)) as client:
        return [client.create_session(avatar_id=AVATAR, duration=600, stream_type="sim").id for _ in range(count)]


def sweep(ti: Any = None, **kwargs: Any) -> dict[str, Any]:
    op = AkoolCloseStaleSessionsOperator(task_id="sweep", **kwargs)
    result: dict[str, Any] = op.execute(make_context(ti=ti or pulling_ti({})))
    return result


def ids(entries: list[dict[str, Any]]) -> set[str]:
    return {e["session_id"] for e in entries}


def test_dry_run_reports_without_closing(sim: SimServer) -> None:
    opened = open_sessions(sim, 3)
    report = sweep(dry_run=True)
    assert ids(report["would_close"]) == set(opened) and report["closed"] == []
    assert set(sim.state()["open_sessions"]) == set(opened)


def test_only_known_ids_are_closed(sim: SimServer) -> None:
    mine, other = open_sessions(sim, 2)
    report = sweep(session_ids=f"{mine}, not-a-session")
    assert ids(report["closed"]) == {mine}
    assert sim.state()["open_sessions"] == [other]


def test_ids_from_upstream_xcom_of_every_map_index(sim: SimServer) -> None:
    first, second, third, stranger = open_sessions(sim, 4)
    ti = pulling_ti({"session_ids": [[first], [second, third]], "orphan_candidates": [None, None]})
    report = sweep(ti, from_task_ids=["retell"])
    assert ids(report["closed"]) == {first, second, third}
    assert sim.state()["open_sessions"] == [stranger]
    pulled = [(p["task_ids"], p["key"]) for p in ti.pulls]
    assert pulled == [(["retell"], "session_ids"), (["retell"], "orphan_candidates")]


def test_known_ids_empty_closes_nothing(sim: SimServer) -> None:
    (session_id,) = open_sessions(sim, 1)
    report = sweep(pulling_ti({}), from_task_ids=["retell"])
    assert report["considered"] == 0
    assert sim.state()["open_sessions"] == [session_id]


def test_without_filters_every_open_session_is_closed_and_confirmed(sim: SimServer) -> None:
    opened = open_sessions(sim, 3)
    report = sweep()
    assert ids(report["closed"]) == set(opened)
    state = sim.state()
    assert state["open_sessions"] == [] and all(s["ended_by"] == "close" for s in state["sessions"])


def test_older_than_skips_sessions_of_unknown_age(sim: SimServer) -> None:
    (session_id,) = open_sessions(sim, 1)
    report = sweep(older_than_minutes=5)
    assert report["closed"] == [] and ids(report["skipped"]) == {session_id}
    assert "age unknown" in report["skipped"][0]["reason"]
    assert sim.state()["open_sessions"] == [session_id]


def test_failed_close_fails_the_task_after_reporting(sim: SimServer) -> None:
    (session_id,) = open_sessions(sim, 1)
    sim.set_faults(1.0, kinds=["http_500"], paths=["/api/open/v4/liveAvatar/session/close"])
    ti = pulling_ti({})
    with pytest.raises(AirflowException, match=session_id):
        sweep(ti)
    assert ids(ti.xcom("sweep_report")["failed"]) == {session_id}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"create_time": 1767225600000}, 1767225600.0),
        ({"created_at": 1767225600}, 1767225600.0),
        ({"createdAt": "2026-01-01T00:00:00Z"}, 1767225600.0),
        ({}, None),
    ],
)
def test_creation_time_read_from_whatever_field_the_api_gives(extra: dict[str, Any], expected: float | None) -> None:
    session = Session.model_validate({"_id": "s1", "status": 2, **extra})
    assert session_created_at(session) == expected
