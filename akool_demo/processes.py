"""Child processes of the demo and the e2e run: start them, wait for them, stop every one by PID.

Airflow components leave children behind when their parent gets SIGTERM (``airflow standalone``
is the known case), so :meth:`Managed.stop` records the whole process tree first, signals the
root, then signals and finally kills each recorded PID that is still alive. Nothing is ever
looked up or killed by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

SERVERS_MODULE = "akool_demo.servers"


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for servers that cannot report the port they bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def venv_command(name: str) -> str:
    """A console script installed beside this interpreter (``airflow``, ``akool-sim``)."""
    return str(Path(sys.executable).with_name(name))


@dataclass
class Managed:
    """A started child process, its log file, and what was done to stop it."""

    name: str
    process: subprocess.Popen[Any]
    log: Path
    stopped: list[str] = field(default_factory=list)
    # What stops it cleanly: SIGINT for PostgreSQL (a fast shutdown; SIGTERM waits for clients),
    # SIGKILL for SeaweedFS (which ignores SIGTERM while starting).
    stop_signal: signal.Signals = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def tree(self) -> list[psutil.Process]:
        """The process and all its descendants (empty once it has gone)."""
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill_tree(self) -> list[str]:
        """A crash of the whole tree: SIGKILL to every recorded PID at once, deepest first, so no
        process outlives its parent long enough to react (a task's SIGTERM handler, for one)."""
        tree = self.tree()
        for proc in reversed(tree):  # psutil lists descendants after their ancestors
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        gone, alive = psutil.wait_procs(tree, timeout=10)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)
        self.stopped = [f"{p.pid}: SIGKILLed" for p in gone] + [f"{p.pid}: STILL ALIVE" for p in alive]
        return self.stopped

    def stop(self, grace: float = 10.0, *, kill: bool = False) -> list[str]:
        """Stop the recorded tree by PID: ``stop_signal`` (SIGKILL with ``kill``) to the root, then to
        each survivor, then SIGKILL; returns one line per PID saying how it ended."""
        tree = self.tree()
        first = signal.SIGKILL if kill else self.stop_signal
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, first)
        gone, alive = psutil.wait_procs(tree, timeout=grace)
        notes = [f"{p.pid}: exited after {first.name} to {self.pid}" for p in gone]
        for proc in alive:  # children the root left behind
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(first)
        gone, alive = psutil.wait_procs(alive, timeout=grace / 2)
        notes += [f"{p.pid}: exited after its own {first.name}" for p in gone]
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        gone, alive = psutil.wait_procs(alive, timeout=5)
        notes += [f"{p.pid}: SIGKILLed" for p in gone] + [f"{p.pid}: STILL ALIVE" for p in alive]
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)
        self.stopped = notes
        return notes


def start(
    name: str, command: list[str], *, env: dict[str, str], logs: Path, user: str | None = None, cwd: Path | None = None
) -> Managed:
    """Start ``command`` with stdout and stderr going to ``logs/<name>.log`` (as ``user``, in ``cwd`` if given)."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    sink: IO[bytes] = log.open("ab")
    try:
        process = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, user=user, cwd=cwd
        )
    finally:
        sink.close()  # the child has its own descriptor
    return Managed(name, process, log)


def wait_for_file(path: Path, child: Managed, timeout: float) -> str:
    """The first line of ``path`` once the child wrote it; RuntimeError if it died or took too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(encoding="utf-8").strip():
            return path.read_text(encoding="utf-8").strip().splitlines()[0]
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}; see {child.log}")
        time.sleep(0.05)
    raise RuntimeError(f"{child.name} did not start within {timeout:.0f} s; see {child.log}")


def sim_connection_json(sim_url: str, time_scale: float) -> str:
    """The ``akool_default`` connection (as AIRFLOW_CONN_* JSON) the demo runs use against akool-sim."""
    extra = {"stream_type": "sim", "sim_time_scale": time_scale}
    return json.dumps({"conn_type": "akool", "host": sim_url, "password": "sim-api-key", "extra": extra})


def start_sim(
    home: Path, env: dict[str, str], *, time_scale: float, overrides: dict[str, float] | None = None
) -> tuple[Managed, str]:
    """akool-sim on a free loopback port; returns the process and its base URL.

    Without ``overrides`` this is the ``akool-sim`` command users run; with them a small wrapper
    serves ``SimServer`` with those config fields (e.g. ``avatar_queue_seconds``).
    """
    url_file = home / "akool-sim.url"
    if overrides:
        command = [
            sys.executable,
            "-m",
            SERVERS_MODULE,
            "sim",
            "--url-file",
            str(url_file),
            "--time-scale",
            str(time_scale),
        ]
        for key, value in overrides.items():
            command += ["--set", f"{key}={value}"]
    else:
        command = [
            sys.executable,
            "-m",
            "airflow_provider_akool.sim",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--time-scale",
            str(time_scale),
            "--url-file",
            str(url_file),
        ]
    child = start("akool-sim", command, env=env, logs=home / "logs")
    try:
        return child, wait_for_file(url_file, child, timeout=30)
    except BaseException:
        child.stop()
        raise


def start_s3(home: Path) -> tuple[Managed, str, dict[str, Any]]:
    """SeaweedFS (a real S3 server) on free loopback ports, data under ``home/seaweedfs``.

    Returns the process (stopped by SIGKILL to its PID), the endpoint URL and the ``aws`` Airflow
    connection (a dict for ``AIRFLOW_CONN_AWS_DEFAULT``); boto3 keyword arguments come from
    :meth:`SeaweedS3.boto3_credentials`.
    """
    from akool_demo.seaweedfs import SeaweedS3

    server = SeaweedS3.start(home / "seaweedfs")
    child = Managed("seaweedfs-s3", server.process, server.log_path, stop_signal=signal.SIGKILL)
    return child, server.endpoint_url, server.aws_connection()


def s3_client(endpoint_url: str) -> Any:
    """A boto3 S3 client for the server :func:`start_s3` started."""
    import boto3

    from akool_demo.seaweedfs import SeaweedS3

    keys = SeaweedS3.boto3_credentials()
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=keys["region_name"],
        aws_access_key_id=keys["aws_access_key_id"],
        aws_secret_access_key=keys["aws_secret_access_key"],
    )
