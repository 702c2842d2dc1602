"""Helpers for the retelling-session tests: a recording task instance, clients and sim look-ups."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_akool.client import AsyncAkoolClient, ClientConfig
from airflow_provider_akool.sim.runner import SimServer

AVATAR = "dvp_Tristan_cloth2_1080P"
VOICE = "iP95p4xoKVk53GoZ742B"


class RecordingTI:
    """Just enough of a task instance: XCom pushes are JSON-checked and recorded, with a hook."""

    def __init__(self, on_push: Callable[[str, Any], None] | None = None) -> None:
        self.dag_id, self.task_id, self.map_index = "retelling_dag", "retell", -1
        self.pushed: list[tuple[str, Any]] = []
        self.pushed_event = threading.Event()
        self._on_push = on_push

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serialisable
        self.pushed.append((key, value))
        if self._on_push is not None:
            self._on_push(key, value)
        self.pushed_event.set()

    def xcom(self, key: str) -> Any:
        values = [v for k, v in self.pushed if k == key]
        return values[-1] if values else None


def set_sim_connection(
    monkeypatch: pytest.MonkeyPatch, sim: SimServer, conn_id: str = "akool_default", *, time_scale: bool = False
) -> str:
    """Point ``conn_id`` at ``sim``; ``time_scale``: tell the operator the sim's time scale."""
    extra: dict[str, Any] = {"stream_type": "sim", "max_retry_wait": 0.05}
    if time_scale:
        extra["sim_time_scale"] = sim.config.time_scale
    conn = {"conn_type": "akool", "host": sim.url, "password": sim.config.api_key, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def async_client(sim: SimServer, **overrides: Any) -> AsyncAkoolClient:
    settings: dict[str, Any] = {"timeout": 5.0, "backoff_base": 0.01, "max_retry_wait": 0.05, **overrides}
    return AsyncAkoolClient(ClientConfig(base_url=sim.url, api_key=sim.config.api_key, **settings))


def session_of(sim: SimServer, session_id: str) -> dict[str, Any]:
    return next(s for s in sim.state()["sessions"] if s["_id"] == session_id)


def api_calls(sim: SimServer) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["path"].startswith("/api/")]
