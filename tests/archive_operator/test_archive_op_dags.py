"""The daily sweep DAG end to end (dag.test against akool-sim and SeaweedFS), and XComArg inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow_support import dag_run, load_dag, task_states, xcom_value
from archive_op_support import keys, read_manifest
from task_support import make_context

from airflow_provider_akool.operators.archive import AkoolArchiveToS3Operator
from airflow_provider_akool.sim.runner import SimServer

DAG_ID = "akool_archive_sweep"
DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "akool_archive_sweep.py"
# 5 avatars (open + aigc) x (video, modified video, thumbnail) + 6 voice previews, as seeded by akool-sim.
SWEPT = 5 * 3 + 6


def asset_events(dag_id: str) -> list[tuple[str, dict[str, Any]]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(AssetEvent).filter(AssetEvent.source_dag_id == dag_id).all()
        return [(row.asset.uri, dict(row.extra or {})) for row in rows]


@pytest.mark.timeout(240)
def test_sweep_archives_everything_once_and_a_second_run_uploads_nothing(
    airflow_db: None, sim: SimServer, s3: Any, bucket: str, aws_conn: str
) -> None:
    conf = {"s3_bucket": bucket, "s3_prefix": "sweep", "aws_conn_id": aws_conn, "akool_conn_id": "akool_default"}
    events_before = len(asset_events(DAG_ID))

    first = dag_run(DAG_ID, conf=conf)
    assert task_states(DAG_ID, first.run_id) == {"archive_all": "success"}
    summary = xcom_value(DAG_ID, first.run_id, "archive_all")
    assert summary["counts"] == {"archived": SWEPT, "skipped": 0, "expired": 0, "failed": 0}
    stored = [k for k in keys(s3, bucket) if "/manifests/" not in k]
    assert len(stored) == SWEPT and all(k.startswith("sweep/") for k in stored)
    manifest = read_manifest(s3, summary["manifest_uri"])
    assert {e["status"] for e in manifest["entries"]} == {"archived"}
    assert summary["manifest_uri"].startswith(f"s3://{bucket}/sweep/manifests/{DAG_ID}/")
    events = asset_events(DAG_ID)[events_before:]
    assert sorted(uri for uri, _ in events) == sorted(f"s3://{bucket}/{k}" for k in stored)
    assert all(len(extra["sha256"]) == 64 for _, extra in events)

    second = dag_run(DAG_ID, conf=conf)
    assert str(second.state) == "success"
    again = xcom_value(DAG_ID, second.run_id, "archive_all")
    assert again["bytes_uploaded"] == 0
    assert again["counts"] == {"archived": 0, "skipped": SWEPT, "expired": 0, "failed": 0}
    assert len(asset_events(DAG_ID)) == events_before + SWEPT  # nothing new, no new events
    assert again["manifest_uri"] != summary["manifest_uri"]  # one manifest per run


@pytest.mark.timeout(240)
def test_sweep_runs_with_the_airflow_dags_test_cli(
    airflow_db: None, sim: SimServer, s3: Any, bucket: str, aws_conn: str
) -> None:
    conf = json.dumps({"s3_bucket": bucket, "aws_conn_id": aws_conn})
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run(
        [airflow, "dags", "test", DAG_ID, "-c", conf],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len([k for k in keys(s3, bucket) if "/manifests/" not in k]) == SWEPT
    assert len([k for k in keys(s3, bucket) if "/manifests/" in k]) == 1


def test_sweep_dag_is_configured_by_params_and_parses_light(airflow_db: None) -> None:
    dag = load_dag(DAG_ID)
    assert dag.schedule == "@daily"
    assert {"s3_bucket", "s3_prefix", "aws_conn_id", "akool_conn_id"} <= set(dag.params.keys())
    task = dag.get_task("archive_all")
    assert task.aws_conn_id == "{{ params.aws_conn_id }}" and task.akool_conn_id == "{{ params.akool_conn_id }}"
    # Parsing the file must not import the client, the archive copier/batch or boto3/botocore
    # (airflow.sdk brings httpx; the archive package itself is lazy and light).
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "heavy = [m for m in ('airflow_provider_akool.client', 'airflow_provider_akool.archive.copier', "
        "'airflow_provider_akool.archive.batch', 'boto3', 'botocore') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(DAG_FILE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-2000:]


def test_records_from_an_upstream_task_arrive_through_xcomarg(
    sim: SimServer, s3: Any, bucket: str, aws_conn: str
) -> None:
    from airflow.sdk import DAG, task

    first = sim.add_file(2048, "video/mp4", "a.mp4")
    second = sim.add_file(2048, "video/mp4", "b.mp4")
    with DAG("archive_op_xcomarg", schedule=None):

        @task
        def records() -> list[dict[str, Any]]:
            return []

        op = AkoolArchiveToS3Operator(task_id="archive", s3_bucket=bucket, aws_conn_id=aws_conn, sources=records())

    def upstream(task_ids: str, key: str, **_: Any) -> Any:
        assert (task_ids, key) == ("records", "return_value")
        return [{"avatar_id": "up1", "url": first}, [{"voice_id": "v1", "preview": second}]]

    context = make_context(pull=upstream)
    op.render_template_fields(context)
    summary = op.execute(context)
    assert summary["counts"]["archived"] == 2
    assert [k for k in keys(s3, bucket) if "manifests" not in k] == [
        "akool/avatar-video/up1/a.mp4",
        "akool/voice-preview/v1/b.mp4",
    ]
