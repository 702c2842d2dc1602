"""Children of the demo are stopped by PID, including the grandchildren a parent leaves behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest
from polling import wait_until

from akool_demo.processes import s3_client, start, start_s3, start_sim

# A parent that ignores SIGTERM and has a child that ignores it too: the worst case for a clean stop.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
subprocess.Popen([sys.executable, "-c", child])
print("ready", flush=True)
time.sleep(600)
"""


@pytest.mark.timeout(60)
def test_e2e_stop_kills_a_tree_that_ignores_sigterm_pid_by_pid(tmp_path: Path) -> None:
    child = start("stubborn", [sys.executable, "-c", STUBBORN], env={}, logs=tmp_path)
    assert wait_until(lambda: len(child.tree()) == 2 and "ready" in child.log.read_text(), 20.0), "timed out"
    pids = [p.pid for p in child.tree()]

    notes = child.stop(grace=1.0)

    assert not child.alive()
    assert [n for n in notes if "SIGKILLed" in n] and not [n for n in notes if "ALIVE" in n]
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


@pytest.mark.timeout(90)
def test_e2e_servers_start_on_loopback_and_stop_cleanly(tmp_path: Path) -> None:
    import httpx

    sim, sim_url = start_sim(tmp_path, dict(os.environ), time_scale=50.0)
    s3_server, s3_url, aws_conn = start_s3(tmp_path)
    try:
        assert sim_url.startswith("http://127.0.0.1:") and s3_url.startswith("http://127.0.0.1:")
        assert aws_conn["extra"]["endpoint_url"] == s3_url
        assert httpx.get(f"{sim_url}/_sim/health").json() == {"ok": True}
        s3 = s3_client(s3_url)
        s3.create_bucket(Bucket="probe-bucket")
        s3.put_object(Bucket="probe-bucket", Key="k", Body=b"stored by SeaweedFS")
        assert s3.get_object(Bucket="probe-bucket", Key="k")["Body"].read() == b"stored by SeaweedFS"
        s3_tree = [p.pid for p in s3_server.tree()]
    finally:
        sim_notes, s3_notes = sim.stop(), s3_server.stop()
    assert all("SIGTERM" in n for n in sim_notes), sim_notes
    assert sim.process.returncode == 0
    # SeaweedFS ignores SIGTERM while it starts: it is SIGKILLed by PID, and nothing of it is left.
    assert s3_notes and all("SIGKILL" in n for n in s3_notes), s3_notes
    assert not [pid for pid in s3_tree if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


# A parent whose child writes a file as soon as it sees its parent gone (as a task process closes its
# session when its supervisor dies): a crash of the whole tree must give the child no such moment.
ORPHAN_AWARE = """
import os, subprocess, sys, time
child = '''
import os, sys, time
parent = os.getppid()
print("ready", flush=True)
while os.getppid() == parent:
    time.sleep(0.01)
open(sys.argv[1], "w").write("reacted")
'''
subprocess.Popen([sys.executable, "-c", child, sys.argv[1]])
time.sleep(600)
"""


@pytest.mark.timeout(60)
def test_e2e_kill_tree_gives_no_process_the_chance_to_react_to_its_parents_death(tmp_path: Path) -> None:
    marker = tmp_path / "reacted"
    child = start("crashing", [sys.executable, "-c", ORPHAN_AWARE, str(marker)], env={}, logs=tmp_path)
    assert wait_until(lambda: len(child.tree()) == 2 and "ready" in child.log.read_text(), 20.0), "timed out"
    pids = [p.pid for p in child.tree()]

    notes = child.kill_tree()

    assert len(notes) == 2 and all(n.endswith("SIGKILLed") for n in notes), notes
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert not marker.exists(), "a child outlived its parent long enough to react"
