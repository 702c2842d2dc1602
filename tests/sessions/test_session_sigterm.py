"""SIGTERM to a running `airflow dags test` of the batch DAG: every session is closed within 10 s.

The CLI runs in a subprocess on the throw-away AIRFLOW_HOME and DB of this test session; akool-sim
runs in this process (a thread), slowed to 5x real time so a session is mid-speech when the signal
arrives. Airflow's task runner turns SIGTERM into ``on_kill``; `airflow dags test` then goes on
with the next tasks, which must not open new sessions in a process that is being stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from polling import wait_until
from task_support import akool_conn_json

from airflow_provider_akool.sim.runner import SimServer

DAG_ID = "akool_retelling_batch"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def speaking_session(sim: SimServer) -> str | None:
    for session in sim.state()["sessions"]:
        if session["closed_at"] is None and session["segments"]:
            return str(session["_id"])
    return None


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("airflow_db")
def test_sigterm_to_dags_test_closes_every_session_within_10s(akool_sim_factory: Any, tmp_path: Path) -> None:
    sim: SimServer = akool_sim_factory(time_scale=5)
    conn = akool_conn_json(sim, max_retry_wait=None)
    env = {**os.environ, "AIRFLOW_CONN_AKOOL_DEFAULT": conn, "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "dags-test.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [AIRFLOW, "dags", "test", DAG_ID, "-c", json.dumps({"batches": 3})],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_until(lambda: speaking_session(sim) or process.poll() is not None, 120), "no session started"
        assert process.poll() is None, log_path.read_text()[-3000:]
        sessions_before = len(sim.state()["sessions"])

        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        closed = wait_until(lambda: not sim.state()["open_sessions"], 10)
        elapsed = time.monotonic() - signalled
        assert closed, f"sessions still open 10 s after SIGTERM: {sim.state()['open_sessions']}"

        assert process.wait(timeout=90) is not None
        state = sim.state()
        assert state["open_sessions"] == []
        assert len(state["sessions"]) == sessions_before, "no session opened after SIGTERM"
        assert all(s["ended_by"] == "close" for s in state["sessions"])
        output = log_path.read_text()
        assert "on_kill: closed session" in output, output[-3000:]
        assert "not opening new sessions" in output, "later tasks refused to open sessions"
        print(f"all sessions closed {elapsed:.2f} s after SIGTERM")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
