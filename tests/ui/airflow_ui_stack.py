"""A real Airflow for the browser test: API server, scheduler, dag-processor, triggerer and akool-sim.

Everything binds 127.0.0.1 on free ports, lives in a throw-away AIRFLOW_HOME and is stopped by PID
(process trees recorded before signalling), with the launch helpers of the e2e run. Login is the
simple auth manager's, with one admin user whose password this module writes; connection testing is
enabled, as a deployment that wants the Test icon must do.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from akool_demo.e2e import wait_until
from akool_demo.processes import Managed, free_port, start, start_sim, venv_command

USER = "admin"
TIME_SCALE = 20.0
POOL = "akool_sessions"
# The example DAGs the browser test triggers, and the data files they read by default.
DAG_FILES = ("akool_retelling_batch.py", "akool_avatars_from_videos.py")
DATA_FILES = ("retelling_scripts.jsonl", "sample_videos.json")


@dataclass
class AirflowStack:
    """The running processes, where to reach them, and the admin's credentials."""

    home: Path
    source_dags: Path
    children: list[Managed] = field(default_factory=list)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    port: int = 0
    sim_url: str = ""
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _dags_folder(self) -> Path:
        target = self.home / "dags"
        (target / "data").mkdir(parents=True)
        for name in DAG_FILES:
            shutil.copy2(self.source_dags / name, target)
        for name in DATA_FILES:
            shutil.copy2(self.source_dags / "data" / name, target / "data")
        return target

    def _environment(self, dags: Path) -> dict[str, str]:
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({USER: self.password}), encoding="utf-8")
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AKOOL_AVATAR_POLL_SECONDS": "1",
        }

    def start(self, timeout: float = 300.0) -> None:
        """Migrate the DB, start akool-sim and the four Airflow components; wait until the API answers,
        the DAGs are parsed and the ``akool_sessions`` pool exists."""
        deadline = time.monotonic() + timeout
        self.port = free_port()
        env = self._environment(self._dags_folder())
        migrate = self._start("db-migrate", [venv_command("airflow"), "db", "migrate"], env)
        sim, self.sim_url = start_sim(self.home, env, time_scale=TIME_SCALE)
        self.children.append(sim)
        # The DAG runs use akool_default from the environment (with the sim's time scale); the
        # connections the browser creates in the form are their own.
        env["AIRFLOW_CONN_AKOOL_DEFAULT"] = json.dumps(
            {
                "conn_type": "akool",
                "host": self.sim_url,
                "password": "sim-api-key",
                "extra": {"stream_type": "sim", "sim_time_scale": TIME_SCALE},
            }
        )
        code = migrate.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        if code != 0:
            raise RuntimeError(f"airflow db migrate failed (exit {code}); see {migrate.log}")
        airflow = venv_command("airflow")
        self._start("api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.port)], env)
        # --skip-serve-logs: the log servers would listen on every interface; the logs are local files.
        self._start("scheduler", [airflow, "scheduler", "--skip-serve-logs"], env)
        self._start("dag-processor", [airflow, "dag-processor"], env)
        self._start("triggerer", [airflow, "triggerer", "--skip-serve-logs"], env)
        wait_until("the API server", self._healthy, max(1.0, deadline - time.monotonic()))
        self.token = self._token()
        # The form's connection types: the first call imports every provider's hooks (seconds on a
        # busy machine); made here, the browser's call is served from the API server's cache.
        self.api("GET", "/connections/hook_meta", prefix="/ui", timeout=180.0)
        self.api("POST", "/pools", {"name": POOL, "slots": 4, "description": "Akool streaming sessions"})
        wait_until("the example DAGs to be parsed", self._parsed, max(1.0, deadline - time.monotonic()))

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> Managed:
        child = start(name, command, env=env, logs=self.home / "logs")
        self.children.append(child)
        return child

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/v2/monitor/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _token(self) -> str:
        response = httpx.post(
            f"{self.url}/auth/token", json={"username": USER, "password": self.password}, timeout=30.0
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def _parsed(self) -> bool:
        found = self.api("GET", "/dags", params={"limit": 100})
        ids = {d["dag_id"] for d in found["dags"]}
        return {"akool_retelling_batch", "akool_avatars_from_videos"} <= ids

    def api(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        prefix: str = "/api/v2",
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> Any:
        """Call the REST API as the admin; RuntimeError on an HTTP error."""
        response = httpx.request(
            method,
            f"{self.url}{prefix}{path}",
            json=body,
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.token}"},
            **kwargs,
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def stop(self) -> list[int]:
        """Stop every child by PID (its tree recorded first); the PIDs that survived."""
        recorded = [p.pid for c in self.children for p in c.tree()]
        for child in reversed(self.children):
            if child.alive():
                child.stop(grace=5.0)
        survivors = []
        for pid in recorded:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    survivors.append(pid)
            except psutil.NoSuchProcess:
                pass
        return survivors
