"""The connection-check example DAG succeeds against akool-sim and fails clearly with a wrong key."""

from __future__ import annotations

import pytest
from airflow_support import dag_run, xcom_value
from task_support import set_akool_conn

from airflow_provider_akool.sim.runner import SimServer


@pytest.mark.timeout(180)
def test_connection_check_dag_lists_catalog(airflow_db: None, akool_sim: SimServer, akool_sim_conn: str) -> None:
    run = dag_run("akool_connection_check")
    assert str(run.state) == "success"
    catalog = xcom_value("akool_connection_check", run.run_id, "list_catalog")
    assert "dvp_Tristan_cloth2_1080P" in catalog["ready_avatars"]
    assert catalog["voices"]
    assert catalog["languages"]


@pytest.mark.timeout(180)
def test_connection_check_dag_fails_on_wrong_key(
    airflow_db: None, akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_akool_conn(monkeypatch, akool_sim, api_key="not-the-key", stream_type=None, max_retry_wait=None)
    run = dag_run("akool_connection_check")
    assert str(run.state) == "failed"
    assert not [
        r
        for r in akool_sim.requests()
        if r["path"].endswith("/avatar/list") and r["auth"] == "api_key" and r.get("code") == 1000
    ]
