"""``akool_end_to_end`` through a real Airflow: API server, scheduler (LocalExecutor), dag-processor and
triggerer, each its own process, with the triggerer killed and restarted while avatar waits are deferred.

``python -m akool_demo.e2e`` (``make e2e`` / ``.ci/e2e``). Everything runs
in a throw-away AIRFLOW_HOME on 127.0.0.1 with sqlite (LocalExecutor works with sqlite in Airflow 3,
as ``airflow standalone`` uses it). Steps:

1. akool-sim (avatars stay queued for a simulated day, so the waits are deferred as long as needed)
   and SeaweedFS (S3); the bucket; the two connections as environment variables.
2. ``airflow db migrate``, the ``akool_sessions`` pool, then the four components.
3. Trigger the DAG; wait until every ``create_avatar`` instance is DEFERRED and its
   ``AkoolAvatarTrigger`` runs in triggerer #1.
4. SIGKILL triggerer #1's whole process tree (a crash), start triggerer #2, wait until it has
   adopted the triggers, then advance the simulator's clock so the avatars become ready.
5. Wait for the run; check the task logs (deferred, then resumed with the trigger's event), the
   triggerers' logs and the end-to-end invariants (sim state and S3, as ``make demo`` does).
6. Stop every process by PID (process trees recorded before signalling) and check none is left.

Exits 0 when everything held; prints the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from akool_demo.processes import (
    Managed,
    free_port,
    s3_client,
    sim_connection_json,
    start,
    start_s3,
    start_sim,
    venv_command,
)

DAG_ID = "akool_end_to_end"
CREATE_TASK = "create_avatar"
TRIGGER_CLASS = "AkoolAvatarTrigger"
BUCKET = "akool-e2e"
PREFIX = "akool-e2e"
TIME_SCALE = 20.0
QUEUE_SECONDS = 86_400.0  # simulated: an upload stays queued for a day unless the clock is advanced
HEALTH_THRESHOLD = 6  # seconds without a heartbeat before a triggerer's triggers are reassigned
T = TypeVar("T")


class E2EError(RuntimeError):
    """A step did not happen in time or an invariant did not hold."""


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, *, every: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy; E2EError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise E2EError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class MetaDB:
    """Read-only look at the metadata DB (sqlite) while the components write to it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        try:
            with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5) as db:
                return list(db.execute(sql, args).fetchall())
        except sqlite3.OperationalError:  # locked or not created yet: ask again on the next poll
            return []

    def dag_parsed(self) -> bool:
        return bool(self.rows("SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID))

    def run_state(self, run_id: str) -> str | None:
        found = self.rows("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", DAG_ID, run_id)
        return str(found[0][0]) if found else None

    def task_states(self, run_id: str) -> dict[str, str]:
        found = self.rows(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?", DAG_ID, run_id
        )
        return {(t if m < 0 else f"{t}[{m}]"): str(s) for t, m, s in found}

    def avatar_triggers(self) -> list[tuple[int, int | None]]:
        """(trigger id, triggerer job id) of every live AkoolAvatarTrigger."""
        found = self.rows("SELECT id, triggerer_id, classpath FROM trigger")
        return [(int(i), j) for i, j, c in found if str(c).endswith(TRIGGER_CLASS)]


def _dags_folder(home: Path, source: Path) -> Path:
    """A DAGs folder holding only the e2e DAG and its data (no other example gets scheduled)."""
    target = home / "dags"
    (target / "data").mkdir(parents=True)
    shutil.copy2(source / f"{DAG_ID}.py", target)
    for path in (source / "data").glob("e2e_*"):
        shutil.copy2(path, target / "data")
    return target


def _environment(home: Path, port: int, dags: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_THRESHOLD),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }


def _api(base: str, method: str, path: str, body: dict[str, Any]) -> Any:
    import httpx

    response = httpx.request(method, base + path, json=body, timeout=30.0)
    if response.status_code == 401:
        # Airflow 3.1's simple auth manager has no all-admins middleware: it wants the bearer token
        # its credential-free /auth/token endpoint hands out when all users are admins.
        root = base.rsplit("/api/", 1)[0]
        token = httpx.get(root + "/auth/token", timeout=30.0).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        response = httpx.request(method, base + path, json=body, timeout=30.0, headers=headers)
    if response.status_code >= 300:
        raise E2EError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
    return response.json()


def _api_ready(base: str) -> bool:
    import httpx

    try:
        return httpx.get(base + "/monitor/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _task_logs(home: Path, run_id: str, task_id: str, suffix: str = "") -> dict[int, str]:
    """map_index -> text of the first attempt's log of a mapped task (``suffix``: e.g. its trigger log
    ``.trigger.<triggerer job id>.log``, where Airflow 3 writes what a trigger logs)."""
    found: dict[int, str] = {}
    base = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
    for path in sorted(base.glob(f"map_index=*/attempt=1.log{suffix}")):
        index = int(path.parent.name.split("=", 1)[1])
        found[index] = path.read_text(encoding="utf-8", errors="replace")
    return found


def _trigger_logs(home: Path, run_id: str, job: int) -> dict[int, str]:
    """map_index -> what the create_avatar trigger logged while running in triggerer job ``job``."""
    logs = _task_logs(home, run_id, CREATE_TASK, f".trigger.{job}.log")
    # Airflow 3.1 triggerers log "trigger <dag>/<run>/<task>/<map>/<try> (ID n) starting", without the class.
    return {index: text for index, text in logs.items() if TRIGGER_CLASS in text or ") starting" in text}


class Run:
    """One e2e run: its processes, what it observed, and the checks."""

    def __init__(self, home: Path, timeout: float, dags: Path) -> None:
        self.home = home
        self.source_dags = dags
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.children: list[Managed] = []
        self.checks: list[tuple[str, bool, str]] = []

    def left(self, cap: float) -> float:
        return max(1.0, min(cap, self.deadline - time.monotonic()))

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {text}" if text else "", flush=True)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append((name, ok, detail))

    def start(self, name: str, *args: str, env: dict[str, str]) -> Managed:
        child = start(name, [venv_command("airflow"), *args], env=env, logs=self.home / "logs")
        self.children.append(child)
        self.say(f"  started {name:<13} pid {child.pid}")
        return child

    def report(self, title: str, label: str, *, keep_home: bool, extra: str = "") -> int:
        """Print the checks (and ``extra``), remove the home unless kept or failed; the exit code."""
        print(f"\n{title}")
        for name, ok, detail in self.checks:
            print(f"  [{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""))
        passed = all(ok for _, ok, _ in self.checks)
        if extra:
            print(extra)
        if keep_home or not passed:
            print(f"logs: {self.home / 'logs'}")
        else:
            shutil.rmtree(self.home, ignore_errors=True)
        print(f"{label} {'PASSED' if passed else 'FAILED'} in {time.monotonic() - self.started:.0f} s")
        return 0 if passed else 1

    def wait_migrated(self, migrate: Managed, cap: float, backend: str) -> None:
        """Wait for ``airflow db migrate`` (started earlier, running while the servers start)."""
        try:
            code = migrate.process.wait(timeout=self.left(cap))
        except subprocess.TimeoutExpired:
            raise E2EError(f"airflow db migrate took too long; see {migrate.log}") from None
        if code != 0:
            raise E2EError(f"airflow db migrate failed (exit {code}); see {migrate.log}")
        self.say(f"  airflow db migrate done ({backend})")

    def execute(self) -> None:
        import httpx

        from akool_demo.report import collect

        home = self.home
        port = free_port()
        env = _environment(home, port, _dags_folder(home, self.source_dags))
        migrate = start("db-migrate", [venv_command("airflow"), "db", "migrate"], env=env, logs=home / "logs")
        self.children.append(migrate)  # runs while the servers start
        sim, sim_url = start_sim(home, env, time_scale=TIME_SCALE, overrides={"avatar_queue_seconds": QUEUE_SECONDS})
        self.children.append(sim)
        s3_server, s3_url, aws_conn = start_s3(home)
        self.children.append(s3_server)
        self.say(f"  akool-sim pid {sim.pid} {sim_url}; SeaweedFS S3 pid {s3_server.pid} {s3_url}")
        s3 = s3_client(s3_url)
        s3.create_bucket(Bucket=BUCKET)
        env["AIRFLOW_CONN_AKOOL_DEFAULT"] = sim_connection_json(sim_url, TIME_SCALE)
        env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(aws_conn)
        self.wait_migrated(migrate, 180, "SQLite")

        self.say("- starting api-server, scheduler, dag-processor, triggerer #1 (LocalExecutor, sqlite, 127.0.0.1)")
        self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port), env=env)
        # --skip-serve-logs: the log servers would listen on every interface; the logs are local files.
        self.start("scheduler", "scheduler", "--skip-serve-logs", env=env)
        self.start("dag-processor", "dag-processor", env=env)
        first = self.start("triggerer-1", "triggerer", "--skip-serve-logs", env=env)
        db = MetaDB(home / "airflow.db")
        api = f"http://127.0.0.1:{port}/api/v2"
        # No credentials needed: simple auth manager with all_admins (this AIRFLOW_HOME only).
        wait_until("the API server", lambda: _api_ready(api), self.left(240))
        self.say("  the API server answers")
        _api(api, "POST", "/pools", {"name": "akool_sessions", "slots": 3, "description": "Akool streaming sessions"})
        wait_until("the DAG to be parsed by the dag-processor", db.dag_parsed, self.left(180))
        self.say("  the dag-processor has parsed the DAG; pool akool_sessions has 3 slots")

        run_id = f"e2e__{int(time.time())}"
        conf = {"s3_bucket": BUCKET, "s3_prefix": PREFIX, "avatar_poll_seconds": 1.0, "session_duration": 180}
        _api(api, "POST", f"/dags/{DAG_ID}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf})
        self.say(f"- triggered {DAG_ID} run {run_id}")

        def deferred_in_first() -> list[tuple[int, int | None]] | None:
            states = db.task_states(run_id)
            creates = [s for t, s in states.items() if t.startswith(CREATE_TASK + "[")]
            triggers = db.avatar_triggers()
            assigned = [t for t in triggers if t[1] is not None]
            if len(creates) == 3 and set(creates) == {"deferred"} and len(assigned) == 3:
                return assigned
            if states and any(s == "failed" for s in states.values()):
                raise E2EError(f"a task failed before the triggerer restart: {states}")
            return None

        assigned = wait_until(
            "3 deferred create_avatar instances with their triggers assigned", deferred_in_first, self.left(180)
        )
        old_jobs = {job for _, job in assigned if job is not None}
        (old_job,) = old_jobs
        wait_until(
            f"the 3 triggers to log from triggerer job {old_job}",
            lambda: len(_trigger_logs(home, run_id, old_job)) == 3,
            self.left(60),
        )
        self.say(f"- 3 avatar waits deferred; triggers {[t for t, _ in assigned]} run in triggerer #1 (job {old_job})")

        tree = [p.pid for p in first.tree()]
        notes = first.stop(kill=True)
        self.say(f"- killed triggerer #1 (SIGKILL to every PID of its tree {tree}): {'; '.join(notes)}")
        self.check(
            "triggerer #1 ran the 3 AkoolAvatarTriggers (trigger logs of its job), then was killed",
            len(_trigger_logs(home, run_id, old_job)) == 3 and not first.alive(),
            f"pids {tree}",
        )
        self.start("triggerer-2", "triggerer", "--skip-serve-logs", env=env)

        def adopted() -> list[tuple[int, int | None]] | None:
            triggers = db.avatar_triggers()
            moved = [t for t in triggers if t[1] is not None and t[1] not in old_jobs]
            return moved if len(moved) == 3 else None

        moved = wait_until("triggerer #2 to adopt the 3 triggers", adopted, self.left(HEALTH_THRESHOLD * 6))
        (new_job,) = {job for _, job in moved if job is not None}
        wait_until(
            f"the 3 triggers to log from triggerer job {new_job}",
            lambda: len(_trigger_logs(home, run_id, new_job)) == 3,
            self.left(60),
        )
        self.say(
            f"- triggerer #2 (job {new_job}) adopted triggers {[t for t, _ in moved]}; the avatars are still queued"
        )
        self.check("triggerer #2 adopted the deferred waits", new_job != old_job, f"job {old_job} -> {new_job}")

        advance = {"seconds": QUEUE_SECONDS + 120}
        httpx.post(f"{sim_url}/_sim/clock/advance", json=advance, timeout=10).raise_for_status()
        self.say("- advanced akool-sim's clock by a simulated day: the avatars become ready")

        final = wait_until(
            "the DAG run to finish",
            lambda: s if (s := db.run_state(run_id)) in ("success", "failed") else None,
            self.left(240),
        )
        states = db.task_states(run_id)
        self.say(f"- run {run_id}: {final}")
        for task, state in sorted(states.items()):
            self.say(f"    {task:<24} {state}")

        logs = _task_logs(home, run_id, CREATE_TASK)
        deferred = sorted(i for i, text in logs.items() if "Pausing task as DEFERRED" in text)
        resumed = sorted(i for i, text in logs.items() if "is ready" in text)
        self.check(
            "each create_avatar task log shows the deferral, then the resume in a worker",
            deferred == resumed == [0, 1, 2],
            f"deferred {deferred}, resumed {resumed}",
        )
        fired = sorted(
            i
            for i, text in _trigger_logs(home, run_id, new_job).items()
            if "status=3" in text and "Trigger fired event" in text
        )
        self.check(
            f"the avatars became ready while their triggers ran in triggerer #2 (job {new_job}), "
            "which fired the events",
            fired == [0, 1, 2],
            f"map indexes {fired}",
        )
        early = sorted(i for i, text in _trigger_logs(home, run_id, old_job).items() if "Trigger fired event" in text)
        self.check(
            "no event fired before the restart (the waits really were interrupted)",
            not early,
            f"fired in job {old_job}: {early}" if early else "",
        )

        data = self.source_dags / "data"
        urls = json.loads((data / "e2e_videos.json").read_text(encoding="utf-8"))["video_urls"]
        scripts = [
            json.loads(line)["text"] for line in (data / "e2e_scripts.jsonl").read_text().splitlines() if line.strip()
        ]
        with httpx.Client(timeout=30.0) as http:
            state = http.get(f"{sim_url}/_sim/state").json()
            report = collect(
                sim_state=state,
                s3=s3,
                bucket=BUCKET,
                prefix=PREFIX,
                video_urls=urls,
                scripts=scripts,
                http=http,
                run_ok=final == "success",
            )
        self.say("")
        self.say(report.render())
        self.checks += [(c.name, c.ok, c.detail) for c in report.checks]

    def stop_all(self) -> None:
        """Stop every child at once (each by PID, its tree recorded first), then look for survivors."""
        import threading

        import psutil

        recorded = {c.name: [p.pid for p in c.tree()] for c in self.children}
        live = [c for c in self.children if c.alive()]
        threads = [threading.Thread(target=c.stop, name=f"stop-{c.name}") for c in live]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for child in live:
            self.say(f"  stopped {child.name:<13} {'; '.join(child.stopped)}")

        def survives(pid: int) -> bool:
            try:
                return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return False

        survivors = [pid for pids in recorded.values() for pid in pids if survives(pid)]
        self.check(
            "every process started was stopped by PID",
            not survivors,
            f"survivors {survivors}" if survivors else f"{sum(map(len, recorded.values()))} PIDs",
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="akool_end_to_end through a real scheduler and triggerer.")
    parser.add_argument("--timeout", type=float, default=480.0, help="seconds for the whole run")
    parser.add_argument("--keep-home", action="store_true")
    parser.add_argument("--dags-folder", default="dags", help="where akool_end_to_end.py and data/ are")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="akool-e2e-"))
    run = Run(home, args.timeout, Path(args.dags_folder).resolve())
    print(f"AIRFLOW_HOME {home}", flush=True)
    error: str | None = None
    try:
        run.execute()
    except (E2EError, RuntimeError, subprocess.TimeoutExpired) as exc:
        error = str(exc)
    finally:
        print("- stopping everything by PID", flush=True)
        run.stop_all()
    if error:
        run.check("the run got to the end", False, error)
    return run.report("E2E checks", "e2e", keep_home=args.keep_home)


if __name__ == "__main__":
    sys.exit(main())
