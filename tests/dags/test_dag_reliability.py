"""The example DAGs' reliability wiring: a connection check that survives one transient fault (finding 9)
and a first task that closes what earlier runs left open (finding 2)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import respx
from task_support import set_akool_conn

from airflow_provider_akool._compat import AirflowFailException
from airflow_provider_akool.hooks.akool import AkoolHook
from airflow_provider_akool.sim.runner import SimServer

DAGS = Path(__file__).resolve().parents[2] / "dags"
BASE = "https://akool.test"
LIST = "/api/open/v4/liveAvatar/avatar/list"
PAGE = {"code": 1000, "msg": "OK", "data": {"count": 1, "result": [{"avatar_id": "dvp_Tristan_cloth2_1080P"}]}}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", DAGS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def e2e() -> ModuleType:
    return load("akool_end_to_end")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    set_akool_conn(monkeypatch, BASE, "akool_e2e", api_key="key-e2e", stream_type=None, max_retry_wait=0.01)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def test_the_connection_check_survives_one_transient_fault(e2e: ModuleType, api: respx.MockRouter) -> None:
    route = api.get(LIST).mock(side_effect=[httpx.ConnectError("connection reset"), httpx.Response(200, json=PAGE)])
    message = e2e.check_akool("akool_e2e")
    assert message == "Akool connection 'akool_e2e' answers (1 streaming avatar(s) visible)"
    assert route.call_count == 2, "retried once by the client, within the same task try"


def test_the_ui_test_button_still_makes_one_attempt(api: respx.MockRouter) -> None:
    route = api.get(LIST).mock(side_effect=[httpx.ConnectError("connection reset"), httpx.Response(200, json=PAGE)])
    ok, message = AkoolHook(akool_conn_id="akool_e2e").test_connection()
    assert not ok and "Cannot reach" in message
    assert route.call_count == 1


def test_the_connection_check_fails_a_wrong_key_without_retry(
    e2e: ModuleType, akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_akool_conn(monkeypatch, akool_sim, "akool_e2e", api_key="bad-key-e2e", stream_type=None, max_retry_wait=None)
    with pytest.raises(AirflowFailException) as caught:
        e2e.check_akool("akool_e2e")
    assert "akool_conn_id 'akool_e2e'" in str(caught.value) and "1101" in str(caught.value)
    assert "bad-key-e2e" not in str(caught.value)


def test_the_end_to_end_dag_closes_earlier_runs_sessions_before_creating_anything(airflow_db: None) -> None:
    from airflow_support import load_dag

    dag = load_dag("akool_end_to_end")
    prior = dag.get_task("close_prior_sessions")
    assert prior.include_prior_runs is True and prior.from_task_ids == ["retell"]
    assert prior.xcom_keys == ["session_ids"], "earlier runs' orphan candidates may be other callers' sessions"
    assert prior.upstream_task_ids == {"check_connections"}
    assert "avatar_kwargs" in prior.downstream_task_ids
    assert dag.max_active_runs == 1, "no other run can be speaking while earlier runs' sessions are closed"
    assert dag.get_task("close_stale_sessions").include_prior_runs is False


def test_the_batch_dag_starts_by_closing_earlier_runs_sessions(airflow_db: None) -> None:
    from airflow_support import load_dag

    dag = load_dag("akool_retelling_batch")
    prior = dag.get_task("close_prior_sessions")
    assert prior.include_prior_runs is True and prior.from_task_ids == ["retell"]
    assert prior.xcom_keys == ["session_ids"]
    assert dag.get_task("close_stale_sessions").xcom_keys == ["session_ids", "orphan_candidates"]
    assert prior.upstream_task_ids == set() and prior.downstream_task_ids == {"load_scripts"}
    assert prior.retries == 2
    assert dag.max_active_runs == 1
