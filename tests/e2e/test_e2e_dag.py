"""``akool_end_to_end`` with dag.test() against akool-sim and a SeaweedFS S3 server, checked from outside.

The invariants are read from the sim's admin state and from S3 (re-hashing every object), not
from the DAG's XCom: each video is one avatar, every script is spoken once, no session is left
open, and every archived object's sha256 matches its source, the manifest and its metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow_support import dag_run, load_dag, map_labels, task_states, xcom_value
from task_support import set_akool_conn

from airflow_provider_akool.sim.runner import SimServer
from akool_demo.report import collect

DAG_ID = "akool_end_to_end"
DATA = Path(__file__).resolve().parents[2] / "dags" / "data"
# Fast enough for a test, slow enough that a session's real-time overheads stay inside the margin
# duration="auto" adds (see tests/sessions/test_session_batch_dag.py).
TIME_SCALE = 20.0


def e2e_inputs() -> tuple[list[str], list[str]]:
    urls = json.loads((DATA / "e2e_videos.json").read_text(encoding="utf-8"))["video_urls"]
    lines = (DATA / "e2e_scripts.jsonl").read_text(encoding="utf-8").splitlines()
    return urls, [json.loads(line)["text"] for line in lines if line.strip()]


@pytest.fixture
def e2e_sim(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    sim: SimServer = akool_sim_factory(time_scale=TIME_SCALE)
    set_akool_conn(monkeypatch, sim, "akool_e2e_test", max_retry_wait=None)
    return sim


@pytest.mark.timeout(240)
def test_e2e_dag_runs_against_the_sim_and_s3_and_leaves_nothing_open(
    airflow_db: None, e2e_sim: SimServer, s3: Any, bucket: str, aws_conn: str
) -> None:
    conf = {
        "akool_conn_id": "akool_e2e_test",
        "aws_conn_id": aws_conn,
        "s3_bucket": bucket,
        "s3_prefix": "e2e",
        "avatar_poll_seconds": 0.5,
        # 180 simulated seconds = 9 real seconds: room for a loaded CI machine (auto would give 60).
        "session_duration": 180,
    }
    run = dag_run(DAG_ID, conf=conf)
    states = task_states(DAG_ID, run.run_id)
    assert str(run.state) == "success", states
    assert set(states.values()) == {"success"}, states

    urls, scripts = e2e_inputs()
    with httpx.Client(timeout=30.0) as http:
        report = collect(
            sim_state=e2e_sim.state(),
            s3=s3,
            bucket=bucket,
            prefix="e2e",
            video_urls=urls,
            scripts=scripts,
            http=http,
            run_ok=True,
        )
    assert report.ok, report.render()
    assert len(report.avatars) == 3 and len(report.sessions) == 3
    assert report.open_sessions == []
    assert report.credits["refunded"] > 0, "closing early refunds the unused pre-charged time"
    kinds = sorted(o.kind for o in report.objects)
    assert kinds.count("transcript") == 3
    assert kinds.count("resource") >= 6, "at least a video and a thumbnail per avatar"

    # The DAG's own view agrees with the outside one.
    summary = xcom_value(DAG_ID, run.run_id, "summarise")
    assert summary == {"avatars": 3, "sessions": 3, "ok": True}
    sweep = xcom_value(DAG_ID, run.run_id, "close_stale_sessions")
    assert sweep["closed"] == [] and sweep["failed"] == []
    # The UI's Map Index column: each avatar by its source video, each session task by its avatar.
    assert map_labels(DAG_ID, run.run_id, "create_avatar") == urls
    sessions = xcom_value(DAG_ID, run.run_id, "session_kwargs")
    assert map_labels(DAG_ID, run.run_id, "retell") == [s["avatar_id"] for s in sessions]
    stored = xcom_value(DAG_ID, run.run_id, "store_transcripts")
    assert sorted(o["session_id"] for o in stored["objects"]) == sorted(s["session_id"] for s in report.sessions)
    # The connection ids came from params: akool_default and aws_default do not exist in this test.
    assert "AIRFLOW_CONN_AKOOL_DEFAULT" not in os.environ and "AIRFLOW_CONN_AWS_DEFAULT" not in os.environ


def test_e2e_dag_is_configured_by_params_and_parses_light(airflow_db: None) -> None:
    dag = load_dag(DAG_ID)
    assert {"akool_conn_id", "aws_conn_id", "s3_bucket", "s3_prefix"} <= set(dag.params.keys())
    assert dag.params["akool_conn_id"] == "akool_default" and dag.params["aws_conn_id"] == "aws_default"
    sweep = dag.get_task("close_stale_sessions")
    assert sweep.trigger_rule == "all_done" and dag.get_task("summarise").trigger_rule == "all_done"
    assert dag.get_task("create_avatar").partial_kwargs["deferrable"] is True
