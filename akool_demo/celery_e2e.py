"""``akool_end_to_end`` on a distributed Airflow: CeleryExecutor, PostgreSQL, Redis, SeaweedFS, two workers.

``python -m akool_demo.celery_e2e`` (``make e2e-celery`` / ``.ci/e2e-celery``).
Everything is a child process on 127.0.0.1 in a throw-away AIRFLOW_HOME, stopped by PID at the end:
PostgreSQL (metadata DB and Celery result backend), Redis (broker), SeaweedFS (S3), akool-sim,
then API server, scheduler, dag-processor, triggerer and two Celery workers, each worker in its own
working directory and reporting its own hostname (``hostname.py``).

1. A clean run: it succeeds, its task instances ran on both workers, and every invariant of
   ``make demo`` holds (``report.collect``).
2. A worker kill (skipped with ``--no-kill``): a second run with other videos and longer scripts;
   once a ``retell`` try has a session open, SIGKILL its worker's whole process tree. The scheduler
   notices the missing heartbeats, the retry runs on the other worker and first closes the session
   the killed try left open (the session ledger: ``task_state_store`` in PostgreSQL). Checked: the
   run succeeds, the retry ran on the surviving worker, the leaked session was closed by the DAG,
   every script spoken once, nothing open, and the sim's open-session count, sampled all along,
   never exceeded the ``akool_sessions`` pool. Prints the time from the kill to that close.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from akool_demo.backends import start_postgres, start_redis
from akool_demo.celery_meta import OpenSessionSampler, PgMeta
from akool_demo.e2e import (
    DAG_ID,
    E2EError,
    Run,
    _api,
    _api_ready,
    _dags_folder,
    _environment,
    wait_until,
)
from akool_demo.hostname import ENV as HOSTNAME_ENV
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

BUCKET = "akool-e2e-celery"
TIME_SCALE = 20.0
POOL_SLOTS = 3
WORKERS = ("celery-worker-1", "celery-worker-2")
HEARTBEAT_TIMEOUT = 30  # seconds without a task heartbeat before the scheduler fails the try
RETELL_TASK = "retell"


def _celery_environment(home: Path, port: int, dags: Path, db_url: str, broker: str) -> dict[str, str]:
    env = _environment(home, port, dags)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db_url,  # with +psycopg2: a bare postgresql:// means psycopg 3
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "3",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "akool_demo.hostname.worker_hostname",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
        }
    )
    return env


def _inputs(dags: Path) -> tuple[list[str], list[str]]:
    data = dags / "data"
    urls = json.loads((data / "e2e_videos.json").read_text(encoding="utf-8"))["video_urls"]
    lines = (data / "e2e_scripts.jsonl").read_text(encoding="utf-8").splitlines()
    return urls, [json.loads(line)["text"] for line in lines if line.strip()]


def _long_scripts(path: Path, base: list[str], rounds: int) -> list[str]:
    """A scripts file ``rounds`` times as long as the e2e one (distinct ids and texts), so that each
    retelling session stays open long enough for a worker to be killed in the middle of it."""
    texts = [f"Part {n + 1}. {text}" for n in range(rounds) for text in base]
    path.write_text(
        "".join(json.dumps({"id": f"k{i}", "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8"
    )
    return texts


class CeleryRun(Run):
    """The distributed run: backends, components, the clean run and the kill run, and the checks."""

    def __init__(self, home: Path, timeout: float, dags: Path, *, kill: bool, pool_slots: int = POOL_SLOTS) -> None:
        super().__init__(home, timeout, dags)
        self.kill = kill
        self.pool_slots = pool_slots
        self.backends: list[Managed] = []
        self.workers: dict[str, Managed] = {}
        self.timings: dict[str, float] = {}

    def start_worker(self, name: str, env: dict[str, str]) -> Managed:
        workdir = self.home / "workers" / name
        workdir.mkdir(parents=True)
        child = start(
            name,
            [
                venv_command("airflow"),
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@127.0.0.1",
                "--concurrency",
                "3",
                "--skip-serve-logs",
                "--without-gossip",
                "--without-mingle",
            ],
            env={**env, HOSTNAME_ENV: name},
            logs=self.home / "logs",
            cwd=workdir,
        )
        self.children.append(child)
        self.workers[name] = child
        self.say(f"  started {name:<15} pid {child.pid} in {workdir}")
        return child

    def execute(self) -> None:
        import importlib.util

        for module, why in (
            ("psycopg2", "the metadata DB"),
            ("asyncpg", "Airflow 3's async engine on PostgreSQL"),
            ("redis", "the Celery broker"),
            ("airflow.providers.celery", "CeleryExecutor"),
        ):
            if importlib.util.find_spec(module.split(".")[0]) is None or (
                "." in module and importlib.util.find_spec(module) is None
            ):
                raise E2EError(f"{module} is not installed ({why}): make venv installs the celery extra")
        home = self.home
        port = free_port()
        base_env = dict(_environment(home, port, home))
        postgres, db_url = start_postgres(home, base_env)
        self.backends.append(postgres)
        redis, broker = start_redis(home, base_env)
        self.backends.append(redis)
        sim, sim_url = start_sim(home, base_env, time_scale=TIME_SCALE)
        self.backends.append(sim)
        s3_server, s3_url, aws_conn = start_s3(home)
        self.backends.append(s3_server)
        self.say(f"  PostgreSQL pid {postgres.pid} {db_url.rsplit('@', 1)[1]}; Redis pid {redis.pid} {broker}")
        self.say(f"  akool-sim pid {sim.pid} {sim_url}; SeaweedFS S3 pid {s3_server.pid} {s3_url}")
        s3 = s3_client(s3_url)
        s3.create_bucket(Bucket=BUCKET)
        dags = _dags_folder(home, self.source_dags)
        env = _celery_environment(home, port, dags, db_url, broker)
        env["AIRFLOW_CONN_AKOOL_DEFAULT"] = sim_connection_json(sim_url, TIME_SCALE)
        env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(aws_conn)
        # The executor's module imports Celery internals that Celery releases have dropped: fail here,
        # with Python's own message, rather than with a scheduler that dies in the background.
        executor = "airflow.providers.celery.executors.celery_executor_utils"
        probe = subprocess.run(
            [sys.executable, "-c", f"import {executor}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["?"])[-1]
            raise E2EError(f"CeleryExecutor cannot be imported with the installed Celery: {last}")
        migrate = start("db-migrate", [venv_command("airflow"), "db", "migrate"], env=env, logs=home / "logs")
        self.children.append(migrate)
        self.wait_migrated(migrate, 240, "PostgreSQL")

        self.say("- starting api-server, scheduler, dag-processor, triggerer and two Celery workers")
        self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port), env=env)
        self.start("scheduler", "scheduler", "--skip-serve-logs", env=env)
        self.start("dag-processor", "dag-processor", env=env)
        self.start("triggerer", "triggerer", "--skip-serve-logs", env=env)
        for name in WORKERS:
            self.start_worker(name, env)
        db = PgMeta(db_url)
        api = f"http://127.0.0.1:{port}/api/v2"
        wait_until("the API server", lambda: _api_ready(api), self.left(240))
        _api(
            api,
            "POST",
            "/pools",
            {"name": "akool_sessions", "slots": self.pool_slots, "description": "Akool streaming sessions"},
        )
        wait_until("the DAG to be parsed by the dag-processor", db.dag_parsed, self.left(180))
        self.say(f"  the API server answers; the DAG is parsed; pool akool_sessions has {self.pool_slots} slots")

        urls, scripts = _inputs(self.source_dags)
        clean = self.clean_run(api, db, sim_url, s3, urls, scripts)
        self.timings["clean run"] = clean
        if self.kill:
            self.kill_run(api, db, sim_url, s3, urls, scripts)

    def trigger(self, api: str, run_id: str, conf: dict[str, Any]) -> None:
        _api(api, "POST", f"/dags/{DAG_ID}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf})
        self.say(f"- triggered {DAG_ID} run {run_id}")

    def finish(self, db: PgMeta, run_id: str) -> str:
        final = wait_until(
            f"run {run_id} to finish",
            lambda: s if (s := db.run_state(run_id)) in ("success", "failed") else None,
            self.left(300),
            every=1.0,
        )
        self.say(f"  run {run_id}: {final}")
        for task, state in sorted(db.task_states(run_id).items()):
            if state != "success":
                self.say(f"    {task:<24} {state}")
        return final

    def invariants(
        self,
        label: str,
        *,
        sim_url: str,
        s3: Any,
        prefix: str,
        urls: list[str],
        scripts: list[str],
        run_ok: bool,
        killed: frozenset[str] = frozenset(),
    ) -> None:
        """The demo's invariants (``report.collect``) for one run, each check prefixed with ``label``.

        ``killed``: sessions a SIGKILLed try opened. Its retry cannot know what that try said (its
        XCom is gone), so it speaks its whole share again and the killed try's transcript is never
        stored: for such a run "spoken exactly once" becomes "none unspoken" (repeats counted) and
        the transcripts are required for every other session.
        """
        import httpx

        from akool_demo.report import Check, collect

        with httpx.Client(timeout=30.0) as http:
            state = http.get(f"{sim_url}/_sim/state").json()
            report = collect(
                sim_state=state,
                s3=s3,
                bucket=BUCKET,
                prefix=prefix,
                video_urls=urls,
                scripts=scripts,
                http=http,
                run_ok=run_ok,
            )
        if killed:
            spoken = [text for row in report.sessions for text in row["texts"]]
            unspoken = sorted(set(scripts) - set(spoken))
            stored = {o.name.split()[-1] for o in report.objects if o.kind == "transcript"}
            others = {row["session_id"] for row in report.sessions} - killed
            replaced = {
                "every script was spoken exactly once": Check(
                    "no script left unspoken (the retry re-speaks the killed try's share)",
                    not unspoken,
                    f"{len(set(spoken) & set(scripts))}/{len(set(scripts))} spoken, "
                    f"{len(spoken) - len(set(spoken))} repeated" + (f"; unspoken {unspoken[:3]}" if unspoken else ""),
                ),
                "every session's transcript was archived": Check(
                    "every transcript but the killed try's was archived",
                    others <= stored,
                    f"{len(stored & others)}/{len(others)}; killed try's session(s) {sorted(killed)}",
                ),
            }
            report.checks = [replaced.get(c.name, c) for c in report.checks]
        self.say("")
        self.say(report.render())
        self.checks += [(f"{label}: {c.name}", c.ok, c.detail) for c in report.checks]

    def clean_run(self, api: str, db: PgMeta, sim_url: str, s3: Any, urls: list[str], scripts: list[str]) -> float:
        started = time.monotonic()
        run_id = f"celery__{int(time.time())}"
        prefix = "akool-e2e"
        conf = {"s3_bucket": BUCKET, "s3_prefix": prefix, "avatar_poll_seconds": 1.0, "session_duration": 180}
        self.trigger(api, run_id, conf)
        final = self.finish(db, run_id)
        took = time.monotonic() - started
        tries = db.tries(run_id)
        hosts: dict[str, int] = {}
        for _, _, _, host, _ in tries:
            hosts[host] = hosts.get(host, 0) + 1
        self.say(f"  task tries per worker hostname: {hosts}")
        self.check(
            "clean run: the task instances ran on both Celery workers (task_instance.hostname)",
            set(hosts) == set(WORKERS),
            json.dumps(hosts),
        )
        self.invariants(
            "clean run", sim_url=sim_url, s3=s3, prefix=prefix, urls=urls, scripts=scripts, run_ok=final == "success"
        )
        self.say(f"  clean run took {took:.0f} s")
        return took

    def kill_run(self, api: str, db: PgMeta, sim_url: str, s3: Any, urls: list[str], base: list[str]) -> None:
        import httpx

        started = time.monotonic()
        run_id = f"celery_kill__{int(time.time())}"
        prefix = "akool-e2e-kill"
        kill_urls = [url.replace(".mp4", "-kill-run.mp4") for url in urls]  # new avatars for this run
        scripts_file = self.home / "dags" / "data" / "kill_run_scripts.jsonl"
        scripts = _long_scripts(scripts_file, base, rounds=10)
        # 3600 simulated s (180 real): the sim must not end the leaked session on its own before the
        # retry closes it, or the check would prove nothing.
        conf = {
            "s3_bucket": BUCKET,
            "s3_prefix": prefix,
            "avatar_poll_seconds": 1.0,
            "session_duration": 3600,
            "video_urls": kill_urls,
            "scripts_file": str(scripts_file),
        }
        sampler = OpenSessionSampler(sim_url).start()
        try:
            self.trigger(api, run_id, conf)

            def retelling_with_open_session() -> tuple[int, str] | None:
                """A running retell try (map index, worker) whose avatar has a session open in the sim."""
                if (state := db.run_state(run_id)) in ("success", "failed"):
                    raise E2EError(f"run {run_id} ended ({state}) before a retell try had a session open")
                running = db.running(run_id, RETELL_TASK)
                if not running or not sampler.current:
                    return None
                plan = db.xcom(run_id, "session_kwargs") or []
                sessions = httpx.get(f"{sim_url}/_sim/state", timeout=10).json()["sessions"]
                speaking = {s["avatar_id"] for s in sessions if s["_id"] in sampler.current}
                for index, host in sorted(running.items()):
                    if index < len(plan) and plan[index]["avatar_id"] in speaking and host in self.workers:
                        return index, host
                return None

            index, host = wait_until(
                "a retell try with an open session", retelling_with_open_session, self.left(240), every=0.2
            )
            time.sleep(0.5)  # a moment into speaking (each share takes several seconds)
            open_at_kill = list(sampler.current)
            victim = self.workers[host]
            tree = [p.pid for p in victim.tree()]
            killed_at = time.monotonic()
            notes = victim.kill_tree()
            self.say(
                f"- SIGKILLed {host} (retell[{index}] running there; open sessions {open_at_kill}): "
                f"{len(tree)} PIDs {tree}; {'; '.join(n for n in notes if 'ALIVE' in n) or 'all gone'}"
            )
            self.check(
                f"kill run: {host}'s whole process tree was SIGKILLed while retell[{index}] spoke",
                not victim.alive() and not [n for n in notes if "ALIVE" in n],
                f"{len(tree)} PIDs",
            )
            final = self.finish(db, run_id)
        finally:
            sampler.stop()
        self.timings["kill run"] = time.monotonic() - started

        with httpx.Client(timeout=30.0) as http:
            state = http.get(f"{sim_url}/_sim/state").json()
        plan = db.xcom(run_id, "session_kwargs") or []
        tries = [t for t in db.tries(run_id) if t[0] == RETELL_TASK]
        # every retell try that was running on the killed worker (not only the one picked above)
        hit = sorted({m for _, m, _, h, st in tries if h == host and st != "success"})
        avatars = {plan[m]["avatar_id"] for m in hit if m < len(plan)}
        leaked = [s for s in state["sessions"] if s["avatar_id"] in avatars and s["_id"] in open_at_kill]
        closed = [(s["_id"], s["ended_by"], sampler.last_seen.get(s["_id"], killed_at) - killed_at) for s in leaked]
        survivor = next(name for name in WORKERS if name != host)
        self.say(f"  retell tries (task, map index, try, hostname, state): {tries}")
        self.check(
            f"kill run: the killed retell tries {hit} were retried on {survivor} and succeeded",
            bool(hit) and all(any(t[1] == m and t[3] == survivor and t[4] == "success" for t in tries) for m in hit),
            json.dumps(tries),
        )
        self.check(
            f"kill run: the sessions the killed tries left open were closed by the DAG ({len(closed)})",
            bool(closed) and all(ended == "close" for _, ended, _ in closed),
            "; ".join(f"{sid} ended by {ended}, {after:.1f} s after the kill" for sid, ended, after in closed),
        )
        logs = self.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={RETELL_TASK}"
        said = " ".join(
            p.read_text(errors="replace")
            for m in hit
            for p in logs.glob(f"map_index={m}/attempt=*.log")
            if not p.name.startswith("attempt=1.")
        )
        self.check(
            "kill run: each retry closed the session its killed try left open (retry's log)",
            bool(closed) and all(f"Closed session {sid} left open by an earlier try" in said for sid, _, _ in closed),
            "" if said else f"no retry log under {logs}",
        )
        if closed:
            self.timings["kill -> leaked session closed"] = max(after for _, _, after in closed)
        self.check(
            f"kill run: the sim's open sessions never exceeded the pool ({self.pool_slots})",
            sampler.peak <= self.pool_slots and sampler.samples > 0,
            f"peak {sampler.peak} over {sampler.samples} samples",
        )
        self.invariants(
            "kill run",
            sim_url=sim_url,
            s3=s3,
            prefix=prefix,
            urls=kill_urls,
            scripts=scripts,
            run_ok=final == "success",
            killed=frozenset(sid for sid, _, _ in closed),
        )

    def stop_all(self) -> None:
        """Airflow's components first (they hold connections to the backends), then the backends."""
        super().stop_all()
        self.children = self.backends
        super().stop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="akool_end_to_end on CeleryExecutor, PostgreSQL, Redis, SeaweedFS.")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the whole run")
    parser.add_argument("--no-kill", action="store_true", help="only the clean run (no worker kill)")
    parser.add_argument("--pool-slots", type=int, default=POOL_SLOTS, help="akool_sessions pool size")
    parser.add_argument("--keep-home", action="store_true")
    parser.add_argument("--dags-folder", default="dags", help="where akool_end_to_end.py and data/ are")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="akool-e2e-celery-"))
    run = CeleryRun(
        home, args.timeout, Path(args.dags_folder).resolve(), kill=not args.no_kill, pool_slots=args.pool_slots
    )
    print(f"AIRFLOW_HOME {home}", flush=True)
    error: str | None = None
    try:
        run.execute()
    except (E2EError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        print("- stopping everything by PID", flush=True)
        run.stop_all()
    if error:
        run.check("the run got to the end", False, error)
    timings = "\nTimings: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items())
    return run.report("E2E (Celery) checks", "e2e-celery", keep_home=args.keep_home, extra=timings)


if __name__ == "__main__":
    sys.exit(main())
