"""Helpers shared by the avatar tests: a client for set-up, request look-ups, a fake clock.

The task context and the connection to akool-sim come from ``task_support``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from airflow_provider_akool.avatar_wait import AsyncClock, Clock
from airflow_provider_akool.client import AkoolClient, ClientConfig
from airflow_provider_akool.sim.runner import SimServer


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
    it when a sim is given (run that sim nearly frozen, time_scale=0.001, so only these sleeps make
    avatars progress).

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
