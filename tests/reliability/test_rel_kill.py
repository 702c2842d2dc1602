"""Kill matrix (``make chaos``): processes killed mid-work, and what is left behind.

- SIGTERM to a task process mid-session: covered by ``tests/sessions/test_session_sigterm.py``
  (``airflow dags test`` of the batch DAG; every session closed within 10 s). Not repeated here.
- SIGKILL mid-session (no handler runs): the session stays open at Akool, everything else is
  intact, and its id is already in XCom; the sweeper of that run — which a scheduler still runs
  (``trigger_rule="all_done"``) once it has marked the killed task failed — closes it; so does the
  next run of the DAG (its first task, ``close_prior_sessions``, reads the ``session_ids`` XCom of
  earlier runs); and so does a retry of the killed task, which first closes what earlier tries left
  in the task instance's state store (Airflow deletes the killed try's XCom when the retry starts).
- SIGKILL mid-archive: no partial object (only complete, verified objects), and a re-run uploads
  only the objects that were missing.
- Triggerer killed and restarted while an avatar wait is deferred: a new trigger built from the
  serialised kwargs in a new process resumes and fires; a deadline that passed while the
  triggerer was down fires ``timeout`` at once (wall-clock deadlines survive restarts).

Airflow runs in subprocesses started in their own process group (killed with ``os.killpg`` on
that group's id); akool-sim runs in this process, SeaweedFS in its own process group.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chaos_support import AIRFLOW, airflow_env, aws_conn_json, check_invariants, local_s3, migrate
from polling import wait_until
from s3_support import verified_sha256
from task_support import akool_conn_json

from airflow_provider_akool.sim.runner import SimServer

pytestmark = pytest.mark.chaos

BATCH_DAG = "akool_retelling_batch"
# 1800 s sessions live 180 s real at time scale 10: an orphan cannot end by itself during the test.
BATCH_CONF = {"batches": 2, "duration": 1800}
ARCHIVE_DAG = "akool_archive_sweep"
SCRIPTS = [
    {
        "id": f"kill-{n}",
        "text": f"Script number {n}. " + "The harbour was busy that morning, and the ships "
        "waited for the tide while the crews loaded timber, salt fish and wool for the southern ports. " * 2,
    }
    for n in range(1, 5)
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kill-home")
    migrate(path)
    return path


@pytest.fixture(scope="module")
def s3_service() -> Iterator[tuple[str, Any]]:
    with local_s3() as service:
        yield service


def start_group(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A subprocess leading its own process group, output to ``log``."""
    with log.open("ab") as sink:
        return subprocess.Popen(args, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def sigkill_group(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # the group this test created; its id is the child's pid
    process.wait(timeout=30)


def run_cli(args: list[str], env: dict[str, str], log: Path, timeout: float = 600) -> int:
    process = start_group(args, env, log)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        sigkill_group(process)
        raise


def latest_run_id(home: Path, dag_id: str) -> str:
    with sqlite3.connect(home / "airflow.db") as db:
        row = db.execute("SELECT run_id FROM dag_run WHERE dag_id=? ORDER BY id DESC LIMIT 1", (dag_id,)).fetchone()
    assert row is not None
    return str(row[0])


def xcom(home: Path, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> list[Any]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT value FROM xcom WHERE dag_id=? AND run_id=? AND task_id=? AND key=? ORDER BY map_index",
            (dag_id, run_id, task_id, key),
        ).fetchall()
    return [json.loads(value) if isinstance(value, str | bytes) else value for (value,) in rows]


# -- SIGKILL mid-session ---------------------------------------------------------------------------
def speaking(sim: SimServer) -> str | None:
    for session in sim.state()["sessions"]:
        if session["closed_at"] is None and session["segments"]:
            return str(session["_id"])
    return None


def kill_mid_session(sim: SimServer, home: Path, tmp_path: Path) -> tuple[str, str, dict[str, str]]:
    """Run the batch DAG, SIGKILL it while a session speaks; return (orphan id, run id, env)."""
    scripts = tmp_path / "scripts.jsonl"
    scripts.write_text("\n".join(json.dumps(s) for s in SCRIPTS))
    env = airflow_env(home, AIRFLOW_CONN_AKOOL_DEFAULT=akool_conn_json(sim, max_retry_wait=None))
    conf = json.dumps(BATCH_CONF | {"scripts_file": str(scripts)})
    process = start_group([AIRFLOW, "dags", "test", BATCH_DAG, "-c", conf], env, tmp_path / "killed.log")
    try:
        # The second session, so that a closed session exists too ("nothing else lost").
        found = wait_until(
            lambda: process.poll() is not None or (len(sim.state()["sessions"]) >= 2 and speaking(sim)), 180
        )
        assert found and process.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
    finally:
        sigkill_group(process)
    orphan = speaking(sim)
    assert orphan is not None
    return orphan, latest_run_id(home, BATCH_DAG), env


def assert_nothing_else_lost(sim: SimServer, home: Path, run_id: str, orphan: str) -> None:
    state = sim.state()
    assert state["open_sessions"] == [orphan], state["open_sessions"]
    for session in state["sessions"]:
        if session["_id"] != orphan:
            assert session["ended_by"] == "close" and session["refunded"] > 0, session
    pushed = [i for ids in xcom(home, BATCH_DAG, run_id, "retell", "session_ids") for i in ids]
    assert orphan in pushed, "the orphan's id was in XCom before the kill, so a sweeper can find it"


@pytest.mark.timeout(600)
def test_sigkill_mid_session_the_runs_sweeper_closes_the_orphan(home: Path, tmp_path: Path) -> None:
    with SimServer(time_scale=10) as sim:
        sim.set_channel(join_delay_seconds=0)
        orphan, run_id, env = kill_mid_session(sim, home, tmp_path)
        assert_nothing_else_lost(sim, home, run_id, orphan)
        # What a scheduler does next in this run: the killed task is failed, the all_done sweeper runs.
        code = run_cli(
            [AIRFLOW, "tasks", "test", BATCH_DAG, "close_stale_sessions", run_id], env, tmp_path / "sweep.log"
        )
        assert code == 0, (tmp_path / "sweep.log").read_text()[-3000:]
        state = sim.state()
        assert state["open_sessions"] == []
        closed = next(s for s in state["sessions"] if s["_id"] == orphan)
        assert closed["ended_by"] == "close" and closed["refunded"] > 0, "closed early: unused credit refunded"


@pytest.mark.timeout(600)
def test_sigkill_mid_session_the_next_run_closes_the_orphan(home: Path, tmp_path: Path) -> None:
    with SimServer(time_scale=10) as sim:
        sim.set_channel(join_delay_seconds=0)
        orphan, run_id, env = kill_mid_session(sim, home, tmp_path)
        assert_nothing_else_lost(sim, home, run_id, orphan)
        scripts = tmp_path / "scripts.jsonl"
        code = run_cli(
            [AIRFLOW, "dags", "test", BATCH_DAG, "-c", json.dumps(BATCH_CONF | {"scripts_file": str(scripts)})],
            env,
            tmp_path / "next.log",
        )
        assert code == 0, (tmp_path / "next.log").read_text()[-3000:]
        state = sim.state()
        assert state["open_sessions"] == []
        after = next(s for s in state["sessions"] if s["_id"] == orphan)
        assert after["ended_by"] == "close" and after["refunded"] > 0, (
            f"session {orphan} orphaned by the SIGKILL was not closed by the next run of {BATCH_DAG}"
        )
        # Closed by the next run's first task, before that run opened any session of its own.
        next_run = latest_run_id(home, BATCH_DAG)
        assert next_run != run_id
        [prior] = xcom(home, BATCH_DAG, next_run, "close_prior_sessions")
        assert [e["session_id"] for e in prior["closed"]] == [orphan], prior
        assert prior["failed"] == [] and prior["not_open"] >= 1, "the killed run's closed session is only reported"
        new_sessions = [i for ids in xcom(home, BATCH_DAG, next_run, "retell", "session_ids") for i in ids]
        assert new_sessions and all(
            next(s for s in state["sessions"] if s["_id"] == i)["opened_at"] >= after["closed_at"] for i in new_sessions
        ), "the orphan is closed before the next run opens its own sessions"


@pytest.mark.timeout(600)
def test_sigkill_mid_session_then_a_retry_the_runs_sweeper_still_closes_the_orphan(home: Path, tmp_path: Path) -> None:
    """With task retries (as users configure them) the killed try is retried before the sweeper runs.

    Airflow clears a task instance's XCom when a new try starts (execution API ``ti_run`` sends
    ``xcom_keys_to_clear``), so the orphan's id pushed by the killed try is gone by the time the
    ``all_done`` sweeper reads ``session_ids``. The retry closes it itself, first thing: the killed
    try had also written it to the task instance's state store, which every try shares. Emulated
    with ``airflow tasks test`` of the retry (same run id and map index; it goes through the same
    ``ti_run``), then of the sweeper.
    """
    with SimServer(time_scale=10) as sim:
        sim.set_channel(join_delay_seconds=0)
        orphan, run_id, env = kill_mid_session(sim, home, tmp_path)
        assert_nothing_else_lost(sim, home, run_id, orphan)
        with sqlite3.connect(home / "airflow.db") as db:
            killed = [
                m
                for m, value in db.execute(
                    "SELECT map_index, value FROM xcom WHERE dag_id=? AND run_id=? AND task_id='retell' "
                    "AND key='session_ids'",
                    (BATCH_DAG, run_id),
                )
                if orphan in str(value)
            ]
        assert len(killed) == 1
        retry = run_cli(
            [AIRFLOW, "tasks", "test", BATCH_DAG, "retell", run_id, "--map-index", str(killed[0])],
            env,
            tmp_path / "retry.log",
        )
        retry_log = (tmp_path / "retry.log").read_text()
        assert retry == 0, retry_log[-3000:]
        now_in_xcom = xcom(home, BATCH_DAG, run_id, "retell", "session_ids")
        assert orphan not in str(now_in_xcom), "the retry cleared the killed try's XCom (Airflow does)"
        after = next(s for s in sim.state()["sessions"] if s["_id"] == orphan)
        assert after["ended_by"] == "close" and after["refunded"] > 0, (
            f"session {orphan} orphaned by the SIGKILL is still open after the retry (XCom now {now_in_xcom}): "
            "the retry did not close what the killed try left\n" + retry_log[-3000:]
        )
        assert f"Closed session {orphan} left open by an earlier try" in retry_log
        with sqlite3.connect(home / "airflow.db") as db:
            [(value,)] = db.execute(
                "SELECT value FROM xcom WHERE dag_id=? AND run_id=? AND task_id='retell' AND key='session_ids' "
                "AND map_index=?",
                (BATCH_DAG, run_id, killed[0]),
            ).fetchall()
        retry_sessions = json.loads(value)
        assert retry_sessions and all(
            next(s for s in sim.state()["sessions"] if s["_id"] == i)["opened_at"] >= after["closed_at"]
            for i in retry_sessions
        ), "closed before the retry opened its own session"
        sweep = run_cli(
            [AIRFLOW, "tasks", "test", BATCH_DAG, "close_stale_sessions", run_id], env, tmp_path / "sweep.log"
        )
        assert sweep == 0, (tmp_path / "sweep.log").read_text()[-3000:]
        assert sim.state()["open_sessions"] == []


# -- SIGKILL mid-archive ---------------------------------------------------------------------------
RESOURCE_BYTES = 24 * 1024 * 1024


@pytest.mark.timeout(900)
def test_sigkill_mid_archive_leaves_no_partial_object_and_a_rerun_uploads_only_the_rest(
    home: Path, s3_service: tuple[str, Any], tmp_path: Path
) -> None:
    endpoint, s3 = s3_service
    bucket = "kill-archive"
    s3.create_bucket(Bucket=bucket)
    with SimServer(time_scale=1000, resource_size_bytes=RESOURCE_BYTES) as sim:
        env = airflow_env(
            home,
            AIRFLOW_CONN_AKOOL_KILL=akool_conn_json(sim, stream_type=None, max_retry_wait=None),
            AIRFLOW_CONN_AWS_KILL=aws_conn_json(endpoint),
        )
        conf = json.dumps(
            {"s3_bucket": bucket, "s3_prefix": "kill", "aws_conn_id": "aws_kill", "akool_conn_id": "akool_kill"}
        )

        def verified() -> list[str]:
            listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
            keys = [o["Key"] for o in listed if "/manifests/" not in o["Key"]]
            return [k for k in keys if verified_sha256(s3, bucket, k)]

        def mid_copy() -> bool:  # some objects done and verified, others still uploading
            return bool(verified()) and bool(s3.list_multipart_uploads(Bucket=bucket).get("Uploads"))

        process = start_group([AIRFLOW, "dags", "test", ARCHIVE_DAG, "-c", conf], env, tmp_path / "killed.log")
        try:
            assert wait_until(lambda: process.poll() is not None or mid_copy(), 300, interval=0.02)
            assert process.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        finally:
            sigkill_group(process)

        # No partial object, and none a later run would take as verified when it is not: whatever is
        # at a key is the whole source (bytes re-hashed against it); one killed between its upload and
        # its tag is unverified, and the re-run uploads it again.
        done = set(verified())
        dangling = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        findings = check_invariants(
            sim_state=sim.state(),
            s3=s3,
            bucket=bucket,
            prefix="kill",
            video_urls=[],
            run_ok=False,
        )
        assert findings.violations == [], findings.violations
        print(f"killed with {len(done)} verified object(s), {len(dangling)} multipart upload(s) in flight")

        # The re-run uploads only what is missing.
        code = run_cli([AIRFLOW, "dags", "test", ARCHIVE_DAG, "-c", conf], env, tmp_path / "rerun.log")
        assert code == 0, (tmp_path / "rerun.log").read_text()[-3000:]
        summary = xcom(home, ARCHIVE_DAG, latest_run_id(home, ARCHIVE_DAG), "archive_all")[0]
        total = summary["resources"]
        assert summary["counts"]["skipped"] == len(done), summary["counts"]
        assert summary["counts"]["archived"] == total - len(done), summary["counts"]
        assert summary["bytes_uploaded"] == (total - len(done)) * RESOURCE_BYTES, "only the unverified objects"
        findings = check_invariants(
            sim_state=sim.state(), s3=s3, bucket=bucket, prefix="kill", video_urls=[], run_ok=True
        )
        assert findings.violations == [], findings.violations
        print(
            f"re-run: {total - len(done)} of {total} uploaded ({summary['bytes_uploaded']} bytes), "
            f"{len(done)} skipped; {findings.stats['dangling_multipart_uploads']} incomplete multipart "
            "upload(s) left behind by the kill"
        )


# -- triggerer killed and restarted ----------------------------------------------------------------
TRIGGER_PROCESS = """
import asyncio, json, sys
from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger
kwargs = json.loads(sys.argv[1])
async def main():
    async for event in AkoolAvatarTrigger(**kwargs).run():
        print("EVENT " + json.dumps(event.payload), flush=True)
asyncio.run(main())
"""


def trigger_process(kwargs: dict[str, Any], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_group([sys.executable, "-c", TRIGGER_PROCESS, json.dumps(kwargs)], env, log)


def event_of(log: Path) -> dict[str, Any] | None:
    for line in log.read_text().splitlines():
        if line.startswith("EVENT "):
            found: dict[str, Any] = json.loads(line[6:])
            return found
    return None


@pytest.mark.timeout(300)
def test_a_deferred_avatar_wait_resumes_in_a_new_triggerer_process(tmp_path: Path, home: Path) -> None:
    from airflow_provider_akool.client import AkoolClient, ClientConfig
    from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

    # The upload takes (20 + 300) / 10 = 32 s real: the first triggerer is killed while it waits.
    with SimServer(time_scale=10, avatar_processing_seconds=300) as sim:
        with AkoolClient(ClientConfig(base_url=sim.url, api_key=sim.config.api_key)) as client:
            client.create_avatar(url="https://media.example.com/v/restart.mp4", avatar_id="relRestart1", name="r")
        env = airflow_env(
            home,
            AIRFLOW_CONN_AKOOL_TRIG=akool_conn_json(sim, stream_type=None, max_retry_wait=None),
        )
        _, kwargs = AkoolAvatarTrigger(
            avatar_id="relRestart1", deadline=time.time() + 120, akool_conn_id="akool_trig", poll_interval=0.5
        ).serialize()
        kwargs = json.loads(json.dumps(kwargs))  # what the metadata DB keeps

        def polls() -> int:
            return sum(1 for r in sim.requests() if r["path"].endswith("/liveAvatar/avatar/detail"))

        first = trigger_process(kwargs, env, tmp_path / "first.log")
        try:
            assert wait_until(lambda: polls() >= 1, 60), (tmp_path / "first.log").read_text()[-2000:]
        finally:
            sigkill_group(first)
        assert event_of(tmp_path / "first.log") is None, "killed before the avatar was ready"
        status = next(a for a in sim.state()["avatars"] if a["avatar_id"] == "relRestart1")["status"]
        assert status in (1, 2)

        second = trigger_process(kwargs, env, tmp_path / "second.log")
        try:
            assert second.wait(timeout=120) == 0
        finally:
            if second.poll() is None:
                sigkill_group(second)
        event = event_of(tmp_path / "second.log")
        assert event is not None and event["status"] == "success", (tmp_path / "second.log").read_text()[-2000:]
        assert event["avatar"]["status"] == 3

        # A deadline that passed while no triggerer ran: the restarted trigger says timeout at once.
        with AkoolClient(ClientConfig(base_url=sim.url, api_key=sim.config.api_key)) as client:
            client.create_avatar(url="https://media.example.com/v/late.mp4", avatar_id="relRestart2", name="r")
        _, late = AkoolAvatarTrigger(
            avatar_id="relRestart2", deadline=time.time() + 1, akool_conn_id="akool_trig", poll_interval=0.5
        ).serialize()
        time.sleep(1.5)  # the triggerer is down past the deadline
        started = time.monotonic()
        third = trigger_process(json.loads(json.dumps(late)), env, tmp_path / "third.log")
        assert third.wait(timeout=60) == 0
        event = event_of(tmp_path / "third.log")
        assert event is not None and event["status"] == "timeout", event
        print(
            f"restarted trigger fired 'timeout' {time.monotonic() - started:.1f} s after starting "
            "(includes Python start-up)"
        )
