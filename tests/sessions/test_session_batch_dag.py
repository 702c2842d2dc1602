"""The example batch DAG end to end with dag.test() against akool-sim."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from airflow_support import dag_run, task_states, xcom_value
from session_support import set_sim_connection

from airflow_provider_akool.sim.runner import SimServer

DAG_ID = "akool_retelling_batch"
SAMPLE = Path(__file__).resolve().parents[2] / "dags" / "data" / "retelling_scripts.jsonl"


def sample_scripts() -> list[dict[str, str]]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("airflow_db")
def test_batch_dag_speaks_every_script_once_and_leaves_nothing_open(
    akool_sim_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20x real time: the sample (~160 s of speech) takes ~8 s, and real-time overheads stay far
    # inside the margin that duration="auto" adds.
    sim: SimServer = akool_sim_factory(time_scale=20)
    set_sim_connection(monkeypatch, sim)

    run = dag_run(DAG_ID, conf={"batches": 3})
    states = task_states(DAG_ID, run.run_id)
    assert str(run.state) == "success", states

    scripts = sample_scripts()
    state = sim.state()
    assert state["open_sessions"] == []
    sessions = state["sessions"]
    assert len(sessions) == 3
    spoken = Counter(text for s in sessions for text in s["spoken"])
    assert spoken == Counter(s["text"] for s in scripts), "every script spoken exactly once"
    assert all(s["ended_by"] == "close" for s in sessions), "closed by the task, not by running out"

    summary = xcom_value(DAG_ID, run.run_id, "summarise")
    assert summary == {"spoken": len(scripts), "scripts": len(scripts)}
    for index in range(3):
        manifest = xcom_value(DAG_ID, run.run_id, "retell", map_index=index)
        assert manifest["status"] == "completed"
        pushed = xcom_value(DAG_ID, run.run_id, "retell", key="session_ids", map_index=index)
        assert pushed == manifest["session_ids"]
        opened = next(s for s in sessions if s["_id"] == pushed[0])
        assert opened["duration"] == manifest["sessions"][0]["duration"] < 3600, "duration auto"
    sweep = xcom_value(DAG_ID, run.run_id, "close_stale_sessions")
    assert sweep["considered"] == 0 and sweep["closed"] == []
