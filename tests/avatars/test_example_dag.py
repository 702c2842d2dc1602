"""The example DAG runs end to end against akool-sim with inline deferrals, and re-runs idempotently."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from airflow_support import dag_run, map_labels, task_states, xcom_value

from airflow_provider_akool.sim.runner import SimServer

DAG_ID = "akool_avatars_from_videos"
SAMPLE = Path(__file__).resolve().parents[2] / "dags" / "data" / "sample_videos.json"


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    # The DAG reads the poll interval at parse time; the sim runs 1000x faster than real time.
    monkeypatch.setenv("AKOOL_AVATAR_POLL_SECONDS", "0.05")


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("airflow_db", "fast_polls")
def test_example_dag_succeeds_and_reruns_without_duplicates(akool_sim: SimServer, akool_sim_conn: str) -> None:
    urls = json.loads(SAMPLE.read_text())["video_urls"]

    first = dag_run(DAG_ID)
    assert str(first.state) == "success", task_states(DAG_ID, first.run_id)
    summary = xcom_value(DAG_ID, first.run_id, "summarise")
    failing = [u for u in urls if "fail" in u]
    assert sorted(r["avatar_id"] for r in summary["ready"]) == sorted(
        a["avatar_id"] for a in akool_sim.state()["avatars"] if a["status"] == 3 and a["source_url"] in urls
    )
    assert len(summary["ready"]) == len(urls) - len(failing)
    assert [f["url"] for f in summary["failed"]] == failing
    for record in summary["ready"]:
        assert record["created_at"] and record["expires_at"] and record["url"]
    # The Map Index column of the UI names each instance by its source video, not 0..n-1.
    assert map_labels(DAG_ID, first.run_id, "create_avatar") == urls

    second = dag_run(DAG_ID)
    assert str(second.state) == "success", task_states(DAG_ID, second.run_id)
    uploads = Counter(a["source_url"] for a in akool_sim.state()["avatars"] if a["source_url"])
    assert uploads == Counter(dict.fromkeys(urls, 1)), "one avatar per input URL after two runs"
    creates = [r for r in akool_sim.requests() if r["path"] == "/api/open/v3/avatar/create"]
    assert len(creates) == len(urls), "the second run adopted every avatar instead of uploading again"
    assert xcom_value(DAG_ID, second.run_id, "summarise") == summary


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("airflow_db", "fast_polls")
def test_example_dag_takes_urls_from_params(akool_sim: SimServer, akool_sim_conn: str) -> None:
    urls = ["https://cdn.example.org/clips/dora.mp4", "https://cdn.example.org/clips/dora.mp4"]
    run = dag_run(DAG_ID, conf={"video_urls": urls})
    assert str(run.state) == "success", task_states(DAG_ID, run.run_id)
    summary = xcom_value(DAG_ID, run.run_id, "summarise")
    assert [r["name"] for r in summary["ready"]] == ["dora"]
    assert [a["source_url"] for a in akool_sim.state()["avatars"] if a["source_url"]] == [urls[0]]
