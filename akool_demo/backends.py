"""PostgreSQL and Redis for the distributed end-to-end run, each a child process on 127.0.0.1.

PostgreSQL comes with the machine (``initdb`` and ``postgres`` on PATH); it refuses to run as root,
so as root the cluster belongs to ``nobody`` (the data directory is handed to that user). Redis is
installed from Debian's packages when ``redis-server`` is missing (:func:`ensure_redis`, which
``.ci/e2e-celery`` calls too). Both run in the foreground, so the PID started is the server's and
:meth:`Managed.stop` stops it; nothing is daemonised or looked up by name.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from akool_demo.processes import Managed, free_port, start

DB_NAME = "airflow"
DB_USER = "airflow"
UNPRIVILEGED = "nobody"


def _run_as() -> str | None:
    """The user the PostgreSQL server runs as: ``nobody`` when we are root, else ourselves."""
    return UNPRIVILEGED if os.geteuid() == 0 else None


def _wait_port(port: int, child: Managed, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}; see {child.log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{child.name} did not listen on 127.0.0.1:{port} within {timeout:.0f} s; see {child.log}")


def start_postgres(home: Path, env: dict[str, str]) -> tuple[Managed, str]:
    """A fresh PostgreSQL cluster under ``home/postgres`` on a free loopback port, with a database
    and a user for Airflow; returns the server and its SQLAlchemy URL (``postgresql+psycopg2://``).

    Trust authentication on 127.0.0.1 only: a throw-away cluster reachable from this machine alone.
    """
    for tool in ("initdb", "postgres"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: the distributed e2e run needs PostgreSQL's server binaries")
    data = home / "postgres"
    data.mkdir(parents=True)
    user = _run_as()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
        home.chmod(home.stat().st_mode | 0o011)  # mkdtemp makes it 0700: let that user reach its directory
        closed = [str(p) for p in home.resolve().parents if not p.stat().st_mode & 0o001]
        if closed:
            raise RuntimeError(
                f"PostgreSQL runs as {user} here, who cannot reach {home}: {closed[0]} is not "
                "world-searchable (use a directory under the system temp dir)"
            )
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "initdb.log").open("wb") as sink:
        subprocess.run(
            ["initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"],
            check=True,
            stdout=sink,
            stderr=subprocess.STDOUT,
            user=user,
            timeout=120,
        )
    port = free_port()
    command = [
        "postgres",
        "-D",
        str(data),
        "-k",
        str(data),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-c",
        "max_connections=200",
        "-c",
        "fsync=off",
        "-c",
        "full_page_writes=off",
    ]
    child = start("postgres", command, env=env, logs=logs, user=user)
    child.stop_signal = signal.SIGINT
    try:
        _wait_port(port, child, timeout=60)
        _create_database(port)
    except BaseException:
        child.stop()
        raise
    return child, f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{port}/{DB_NAME}"


def _create_database(port: int) -> None:
    import psycopg2  # type: ignore[import-untyped]  # no stubs in the lock

    deadline = time.monotonic() + 30
    while True:  # the port opens a moment before the server accepts logins
        try:
            db = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=5)
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        db.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with db.cursor() as cursor:
            cursor.execute(f"CREATE USER {DB_USER}")
            cursor.execute(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")
    finally:
        db.close()


def ensure_redis() -> str:
    """The ``redis-server`` binary, installed with apt-get (Debian's ``redis-server``) when missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError("redis-server not found; install it (Debian: apt-get install redis-server)")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT, "timeout": 600}
    if subprocess.run(install, check=False, **quiet).returncode != 0:  # type: ignore[call-overload]
        subprocess.run(["apt-get", "update", "-q"], check=True, **quiet)  # type: ignore[call-overload]
        subprocess.run(install, check=True, **quiet)  # type: ignore[call-overload]
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("apt-get installed redis-server but it is not on PATH")
    return found


def start_redis(home: Path, env: dict[str, str]) -> tuple[Managed, str]:
    """Redis on a free loopback port, nothing persisted; returns the server and its URL (db 0)."""
    binary = ensure_redis()
    port = free_port()
    workdir = home / "redis"
    workdir.mkdir(parents=True)
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--daemonize",
        "no",
    ]
    child = start("redis", command, env=env, logs=home / "logs")
    try:
        _wait_port(port, child, timeout=30)
    except BaseException:
        child.stop()
        raise
    return child, f"redis://127.0.0.1:{port}/0"
