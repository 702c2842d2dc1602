"""Secret scan of a whole DAG run: ``airflow dags test akool_end_to_end`` in token mode (``make chaos``).

The same distinctive values as ``test_rel_secrets.py`` (API key, client secret, every bearer and
RTC token the sim issues); the connection uses clientId/clientSecret, so bearer tokens are fetched
and cached by the tasks. Scanned: the run's whole console log (``airflow dags test`` prints every
task's log there), every file under AIRFLOW_HOME/logs, every row of the XCom table, the rendered
task-instance fields, and every object in the bucket (manifests, transcripts, resources).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from chaos_support import E2E_DAG, airflow_env, aws_conn_json, dags_test, local_s3, migrate
from rel_support import SecretSet, bucket_objects
from task_support import akool_conn_json

from airflow_provider_akool.sim.runner import SimServer

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(900)
def test_no_secret_in_a_dag_runs_logs_xcom_or_s3(secret_set: SecretSet, tmp_path: Path) -> None:
    # Time scale 20: sessions sized by duration="auto" keep their real-time overheads inside the margin.
    with SimServer(
        time_scale=20,
        api_key=secret_set.api_key,
        client_id=secret_set.client_id,
        client_secret=secret_set.client_secret,
    ) as sim:
        texts = _run_and_collect(sim, secret_set, tmp_path)
    issued = {v[:11] for v in secret_set.issued}
    assert any(v.startswith("AKOOLBEARER") for v in secret_set.issued), issued
    assert sum(v.startswith("AKOOLRTC") for v in secret_set.issued) >= 3, "one RTC token per session"
    assert len([t for t in texts if t.startswith("xcom")]) > 10
    leaks = secret_set.leaks(texts)
    assert leaks == [], "\n".join(leaks[:20])
    print(
        f"scanned {len(texts)} texts ({sum(len(t) for t in texts.values()) / 1e6:.1f} MB) for "
        f"{len(secret_set.all())} secrets: 0 occurrences"
    )


def _run_and_collect(sim: SimServer, secret_set: SecretSet, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    migrate(home)
    assert sim.config.client_id == secret_set.client_id
    conn = akool_conn_json(sim, token_mode=True, api_key=secret_set.client_secret, max_retry_wait=None)
    with local_s3() as (endpoint, s3):
        s3.create_bucket(Bucket="secret-scan")
        env = airflow_env(home, AIRFLOW_CONN_AKOOL_SECRET=conn, AIRFLOW_CONN_AWS_SECRET=aws_conn_json(endpoint))
        conf = {
            "akool_conn_id": "akool_secret",
            "aws_conn_id": "aws_secret",
            "s3_bucket": "secret-scan",
            "s3_prefix": "scan",
            "avatar_poll_seconds": 0.5,
        }
        run = dags_test(home, env, E2E_DAG, conf, tmp_path / "run.log", timeout=600)
        assert run.state == "success", (run.tasks, Path(run.log).read_text()[-3000:])
        texts: dict[str, str] = {"console log": Path(run.log).read_text(errors="replace")}
        for path in (home / "logs").rglob("*"):
            if path.is_file():
                texts[str(path)] = path.read_text(errors="replace")
        with sqlite3.connect(home / "airflow.db") as db:
            for task_id, key, value in db.execute("SELECT task_id, key, value FROM xcom"):
                texts[f"xcom {task_id}/{key}"] = value if isinstance(value, str) else repr(value)
            for task_id, fields in db.execute("SELECT task_id, rendered_fields FROM rendered_task_instance_fields"):
                texts[f"rendered {task_id}"] = str(fields)
        for key, item in bucket_objects(s3, "secret-scan"):
            texts[f"s3 {key}"] = json.dumps(item)
    return texts
