"""Run the example DAGs against akool-sim: ``python -m airflow_provider_akool.demo`` (``make demo``).

Everything it starts lives in a throw-away AIRFLOW_HOME and is stopped by PID at the end: the
simulator runs as a subprocess on a free loopback port, DAGs run with ``airflow dags test``.
Lines the DAG tasks print with the ``AKOOL-DEMO|`` marker form the summary shown to the user.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DEMO_MARK = "AKOOL-DEMO|"
DEFAULT_DAGS = ["akool_connection_check"]


def _stop(process: subprocess.Popen[str], name: str) -> None:
    """Stop a child by PID: SIGTERM, then SIGKILL after a grace period."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        print(f"{name} (pid {process.pid}) ignored SIGTERM; killing it", file=sys.stderr)
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def started_sim(env: dict[str, str], time_scale: float) -> Iterator[str]:
    """Start akool-sim on a free loopback port; yield its base URL; stop it by PID."""
    command = [sys.executable, "-m", "airflow_provider_akool.sim", "--host", "127.0.0.1", "--port", "0"]
    command += ["--time-scale", str(time_scale)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if "listening on " not in first:
            raise RuntimeError(f"akool-sim did not start (said {first!r})")
        url = first.rsplit(" ", 1)[-1]
        print(f"akool-sim pid {process.pid} at {url}")
        yield url
    finally:
        _stop(process, "akool-sim")


def _airflow(env: dict[str, str], *args: str, log: Path) -> subprocess.CompletedProcess[str]:
    airflow = str(Path(sys.executable).with_name("airflow"))
    with log.open("a") as sink:
        sink.write(f"\n$ airflow {' '.join(args)}\n")
        sink.flush()
        result = subprocess.run([airflow, *args], env=env, text=True, capture_output=True, check=False)
        sink.write(result.stdout + result.stderr)
    return result


def run_demo(dags_folder: Path, dag_ids: list[str], time_scale: float, keep_home: bool) -> int:
    """Run each DAG once against a fresh simulator; return a process exit code."""
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
    failures = 0
    started = time.monotonic()
    try:
        if _airflow(env, "db", "migrate", log=log).returncode != 0:
            print(f"airflow db migrate failed; see {log}", file=sys.stderr)
            return 1
        with started_sim(env, time_scale) as url:
            env["AIRFLOW_CONN_AKOOL_DEFAULT"] = json.dumps(
                {"conn_type": "akool", "host": url, "password": "sim-api-key", "extra": {"stream_type": "sim"}}
            )
            for dag_id in dag_ids:
                print(f"\n== {dag_id} ==")
                result = _airflow(env, "dags", "test", dag_id, log=log)
                for line in (result.stdout + result.stderr).splitlines():
                    if DEMO_MARK in line:
                        print("  " + line.split(DEMO_MARK, 1)[1].strip())
                succeeded = result.returncode == 0 and "state=failed" not in result.stdout + result.stderr
                print(f"-> {dag_id}: {'success' if succeeded else 'FAILED'}")
                failures += not succeeded
    finally:
        elapsed = time.monotonic() - started
        print(f"\nfull log: {log}" if keep_home or failures else "")
        print(f"demo finished in {elapsed:.0f}s: {len(dag_ids) - failures}/{len(dag_ids)} DAG(s) succeeded")
        if not keep_home and not failures:
            import shutil

            shutil.rmtree(home, ignore_errors=True)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dags-folder", type=Path, default=Path("dags"))
    parser.add_argument("--dag", action="append", dest="dags", help="DAG id to run (repeatable)")
    parser.add_argument("--time-scale", type=float, default=1000.0, help="simulated seconds per real second")
    parser.add_argument("--keep-home", action="store_true", help="keep the throw-away AIRFLOW_HOME and log")
    args = parser.parse_args(argv)
    return run_demo(args.dags_folder, args.dags or DEFAULT_DAGS, args.time_scale, args.keep_home)


if __name__ == "__main__":
    sys.exit(main())
