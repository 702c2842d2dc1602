"""The end-to-end example against akool-sim and a local S3: ``python -m akool_demo`` (``make demo``).

Starts akool-sim and SeaweedFS (a real S3 server) as subprocesses on free loopback ports, creates the bucket,
points the ``akool_default`` and ``aws_default`` connections at them (environment variables in a
throw-away AIRFLOW_HOME), runs ``dags/akool_end_to_end.py`` with ``airflow dags test``, then prints
what really happened, read from the simulator's state and from S3: avatars, sessions and credits,
archived objects with size and sha256, open sessions. Everything it started is stopped by PID.
Exits non-zero when the run failed or any invariant does not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DAG_ID = "akool_end_to_end"
BUCKET = "akool-demo"
PREFIX = "akool-e2e"
RUN_TIMEOUT = 300.0
_TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
_DEFERRED = re.compile(r"\[DAG TEST\] running trigger in line")
# A progress line an example DAG logs (logger "airflow.task.<dag_id>"), as `airflow dags test` prints it:
# "<time> [info     ] <message>   [airflow.task.akool_end_to_end] loc=<file>:<line>".
_PROGRESS = re.compile(r"^\S+ \[\w+\s*\] (.*?)\s+\[airflow\.task\.akool_\w+\](?: |$)")


def _inputs(dags_folder: Path) -> tuple[list[str], list[str]]:
    data = dags_folder / "data"
    urls: list[str] = json.loads((data / "e2e_videos.json").read_text(encoding="utf-8"))["video_urls"]
    lines = (data / "e2e_scripts.jsonl").read_text(encoding="utf-8").splitlines()
    return urls, [json.loads(line)["text"] for line in lines if line.strip()]


def _airflow(env: dict[str, str], *args: str, log: Path, echo: bool = False, timeout: float = 300.0) -> int:
    """Run an ``airflow`` command, appending its output to ``log``; with ``echo`` show progress lines.

    Past ``timeout`` the command's process tree is stopped by PID and 124 is returned.
    """
    from akool_demo.processes import Managed, venv_command

    started = time.monotonic()
    with log.open("a", encoding="utf-8") as sink:
        sink.write(f"\n$ airflow {' '.join(args)}\n")
        sink.flush()
        process = subprocess.Popen(
            [venv_command("airflow"), *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        child = Managed(f"airflow {args[0]}", process, log)
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            child.stop()

        watchdog = threading.Timer(timeout, expire)
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                sink.write(line)
                if echo:
                    _echo(line, time.monotonic() - started)
            code = process.wait()
        finally:
            watchdog.cancel()
            if child.alive():
                child.stop()
    if timed_out.is_set():
        print(f"  airflow {' '.join(args[:2])} took over {timeout:.0f} s; stopped it by PID")
        return 124
    return code


def _echo(line: str, elapsed: float) -> None:
    if progress := _PROGRESS.search(line):
        print(f"  [{elapsed:5.1f}s]   " + progress.group(1).strip())
    elif match := _TASK_START.search(line):
        task_id, index = match.groups()
        print(f"  [{elapsed:5.1f}s] {task_id}{f'[{index}]' if index != '-1' else ''}")
    elif _DEFERRED.search(line):
        print(f"  [{elapsed:5.1f}s]   deferred; the trigger runs in line (a deployment runs it in the triggerer)")


def run_demo(dags_folder: Path, extra_dags: list[str], time_scale: float, keep_home: bool) -> int:
    """Run the demo once; return the process exit code."""
    import httpx

    from akool_demo.processes import Managed, s3_client, sim_connection_json, start_s3, start_sim
    from akool_demo.report import collect

    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="akool-demo-"))
    log = home / "demo.log"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder.resolve()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }
    children: list[Managed] = []
    ok = False
    try:
        sim, sim_url = start_sim(home, env, time_scale=time_scale)
        children.append(sim)
        s3_server, s3_url, aws_conn = start_s3(home)
        children.append(s3_server)
        print(f"akool-sim   pid {sim.pid:<7} {sim_url}  (simulated time x{time_scale:g})")
        print(f"SeaweedFS   pid {s3_server.pid:<7} {s3_url}  bucket {BUCKET}")
        print(f"AIRFLOW_HOME {home}")
        s3 = s3_client(s3_url)
        s3.create_bucket(Bucket=BUCKET)
        env["AIRFLOW_CONN_AKOOL_DEFAULT"] = sim_connection_json(sim_url, time_scale)
        env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(aws_conn)
        print("\n$ airflow db migrate")
        if _airflow(env, "db", "migrate", log=log) != 0:
            print(f"airflow db migrate failed; see {log}", file=sys.stderr)
            return 1
        for dag_id in extra_dags:
            print(f"\n$ airflow dags test {dag_id}")
            code = _airflow(env, "dags", "test", dag_id, log=log, echo=True, timeout=RUN_TIMEOUT)
            print(f"  -> {dag_id}: {'success' if code == 0 else 'FAILED'}")
        conf = {"s3_bucket": BUCKET, "s3_prefix": PREFIX, "avatar_poll_seconds": 0.5, "session_duration": 180}
        print(f"\n$ airflow dags test {DAG_ID} -c '{json.dumps(conf)}'")
        run_started = time.monotonic()
        code = _airflow(env, "dags", "test", DAG_ID, "-c", json.dumps(conf), log=log, echo=True, timeout=RUN_TIMEOUT)
        took = time.monotonic() - run_started
        print(f"  -> {DAG_ID}: {'success' if code == 0 else f'FAILED (exit {code})'} in {took:.0f} s\n")

        urls, scripts = _inputs(dags_folder)
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
                run_ok=code == 0,
                run_detail="" if code == 0 else f"see {log}",
            )
        print("What happened, read from akool-sim's /_sim/state and from S3 (objects re-hashed):\n")
        print(report.render())
        ok = report.ok
    finally:
        for child in reversed(children):
            notes = child.stop()
            if any("ALIVE" in n or n.endswith("SIGKILLed") for n in notes):  # beyond its stop signal
                print(f"{child.name}: {'; '.join(notes)}", file=sys.stderr)
        print(f"\nstopped by PID: {', '.join(f'{c.name} {c.pid}' for c in children) or 'nothing'}")
        elapsed = time.monotonic() - started
        if keep_home or not ok:
            print(f"full log: {log} (and {home / 'logs'})")
        else:
            shutil.rmtree(home, ignore_errors=True)
        print(f"demo {'PASSED' if ok else 'FAILED'} in {elapsed:.0f} s")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dags-folder", type=Path, default=Path("dags"))
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="DAG_ID",
        help="another example DAG to run first with airflow dags test (repeatable)",
    )
    parser.add_argument("--time-scale", type=float, default=20.0, help="simulated seconds per real second")
    parser.add_argument("--keep-home", action="store_true", help="keep the throw-away AIRFLOW_HOME and logs")
    args = parser.parse_args(argv)
    return run_demo(args.dags_folder, args.also, args.time_scale, args.keep_home)


if __name__ == "__main__":
    sys.exit(main())
