"""The distributed run's backends (``make e2e-celery``): PostgreSQL and Redis start on 127.0.0.1 only,
serve what Airflow needs, and are stopped by PID with nothing left behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psutil
import pytest

from akool_demo.backends import start_postgres, start_redis
from akool_demo.processes import Managed


def listening(child: Managed) -> set[str]:
    addresses: set[str] = set()
    for proc in child.tree():
        try:
            found = proc.net_connections(kind="inet")
        except psutil.NoSuchProcess:  # a short-lived backend process
            continue
        addresses.update(c.laddr.ip for c in found if c.status == psutil.CONN_LISTEN)
    return addresses


def gone(pids: list[int]) -> bool:
    return not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("initdb") is None, reason="PostgreSQL's server binaries are not installed")
def test_e2e_postgres_serves_the_airflow_database_on_loopback_and_stops_by_pid() -> None:
    import psycopg2  # type: ignore[import-untyped]

    # As root the server runs as nobody, who must reach the directory: pytest's tmp_path is under a
    # 0700 directory, so a fresh one in the system temp dir, as make e2e-celery uses.
    home = Path(tempfile.mkdtemp(prefix="akool-test-pg-"))
    server, url = start_postgres(home, dict(os.environ))
    try:
        assert url.startswith("postgresql+psycopg2://airflow@127.0.0.1:") and url.endswith("/airflow")
        assert listening(server) == {"127.0.0.1"}
        with psycopg2.connect("postgresql://" + url.split("://", 1)[1]) as db, db.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database()")
            assert cursor.fetchone() == ("airflow", "airflow")
            cursor.execute("CREATE TABLE probe (id int)")  # the airflow user owns its database
        pids = [p.pid for p in server.tree()]
    finally:
        notes = server.stop()
        shutil.rmtree(home, ignore_errors=True)
    assert all("SIGINT" in n for n in notes), notes  # a fast shutdown, not a kill
    assert gone(pids)


@pytest.mark.timeout(60)
@pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed (make e2e-celery installs it)"
)
def test_e2e_redis_serves_on_loopback_without_persistence_and_stops_by_pid(tmp_path: Path) -> None:
    import redis

    server, url = start_redis(tmp_path, dict(os.environ))
    try:
        assert url.startswith("redis://127.0.0.1:")
        assert listening(server) == {"127.0.0.1"}
        client = redis.Redis.from_url(url)
        assert client.ping() and client.config_get("save") == {"save": ""}
        pids = [p.pid for p in server.tree()]
    finally:
        notes = server.stop()
    assert notes and all("SIGTERM" in n for n in notes), notes
    assert gone(pids)
