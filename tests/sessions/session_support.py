"""Helpers for the retelling-session tests: clients and sim look-ups.

The task instance and the connection to akool-sim come from ``task_support``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_akool.client import AsyncAkoolClient, ClientConfig
from airflow_provider_akool.sim.runner import SimServer

AVATAR = "dvp_Tristan_cloth2_1080P"
VOICE = "iP95p4xoKVk53GoZ742B"


def async_client(sim: SimServer, **overrides: Any) -> AsyncAkoolClient:
    settings: dict[str, Any] = {"timeout": 5.0, "backoff_base": 0.01, "max_retry_wait": 0.05, **overrides}
    return AsyncAkoolClient(ClientConfig(base_url=sim.url, api_key=sim.config.api_key, **settings))


def session_of(sim: SimServer, session_id: str) -> dict[str, Any]:
    return next(s for s in sim.state()["sessions"] if s["_id"] == session_id)


def api_calls(sim: SimServer) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["path"].startswith("/api/")]
