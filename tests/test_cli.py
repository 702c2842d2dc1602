"""What an operator of an Airflow deployment sees from the CLI: provider listed, connection test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from task_support import akool_conn_json

from airflow_provider_akool.sim.runner import SimServer

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(time_scale=1000) as server:
        yield server


def airflow(*args: str, conn: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``airflow`` CLI; ``conn``: JSON of the ``akool_default`` connection."""
    env = {**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    if conn is not None:
        env["AIRFLOW_CONN_AKOOL_DEFAULT"] = conn
    return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_providers_list_shows_akool() -> None:
    result = airflow("providers", "list")
    assert result.returncode == 0, result.stderr
    assert "airflow-provider-akool" in result.stdout


@pytest.mark.parametrize(
    ("password", "expected"),
    [("sim-api-key", "Connection success"), ("wrong-key-value", "rejected the credentials")],
    ids=["good-key", "wrong-key"],
)
def test_connections_test_against_sim(sim: SimServer, password: str, expected: str) -> None:
    conn = akool_conn_json(sim, api_key=password, stream_type=None, max_retry_wait=None)
    result = airflow("connections", "test", "akool_default", conn=conn)
    output = result.stdout + result.stderr
    assert expected in output
    assert "wrong-key-value" not in output
