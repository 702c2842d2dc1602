"""Helpers shared by the avatar tests: a minimal task context, connections to akool-sim, a fake clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_akool.avatar_wait import AsyncClock, Clock
from airflow_provider_akool.client import AkoolClient, ClientConfig
from airflow_provider_akool.sim.runner import SimServer


class FakeTI:
    """Just enough of a RuntimeTaskInstance for execute(): identity and recorded XCom pushes."""

    def __init__(self, dag_id: str = "avatars_dag", task_id: str = "create", map_index: int = -1) -> None:
        self.dag_id, self.task_id, self.map_index = dag_id, task_id, map_index
        self.pushed: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serialisable
        self.pushed.append((key, value))

    def get_first_reschedule_date(self, context: Any) -> None:
        return None

    def xcom(self, key: str) -> Any:
        values = [v for k, v in self.pushed if k == key]
        return values[-1] if values else None


def make_context(**ti_fields: Any) -> dict[str, Any]:
    """A task context holding only a FakeTI (all the avatar tasks read from it)."""
    return {"ti": FakeTI(**ti_fields)}


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, sim: SimServer, *, token_mode: bool = False) -> str:
    """Point ``conn_id`` at ``sim``: x-api-key by default, clientId/secret -> getToken with ``token_mode``."""
    if token_mode:
        fields = {"login": sim.config.client_id, "password": sim.config.client_secret}
    else:
        fields = {"password": sim.config.api_key}
    conn = {"conn_type": "akool", "host": sim.url, "extra": {"max_attempts": 2, "max_retry_wait": 0.05}, **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def sim_client(sim: SimServer) -> AkoolClient:
    """A plain client for test set-up (uploading avatars the code under test then waits for)."""
    return AkoolClient(ClientConfig(base_url=sim.url, api_key=sim.config.api_key))


def calls_to(sim: SimServer, path: str) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["path"] == path]


DETAIL = "/api/open/v4/liveAvatar/avatar/detail"
CREATE = "/api/open/v3/avatar/create"
RECORD = "/api/open/v3/avatar/detail"
TOKEN = "/api/open/v3/getToken"


class FakeClock:
    """Virtual wall-clock time for waits: a sleep moves it forward at once, and akool-sim's clock with
    it when a sim is given (run that sim at time_scale=1, so only these sleeps make avatars progress).

    ``slept`` records every sleep; ``on_sleep`` runs before each one (e.g. to check what the task
    already pushed while it waits).
    """

    def __init__(self, sim: SimServer | None = None, start: float = 1_800_000_000.0) -> None:
        self.time = start
        self.sim = sim
        self.slept: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        if self.on_sleep is not None:
            self.on_sleep()
        self.slept.append(seconds)
        self.time += seconds
        if self.sim is not None and seconds > 0:
            self.sim.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is

    def sync(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep)

    def aio(self) -> AsyncClock:
        return AsyncClock(now=self.now, sleep=self.asleep)
