"""Shared helpers for the akool-sim tests: plain httpx against the sim, no client package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_akool.sim import SimServer

API_KEY = {"x-api-key": "sim-api-key"}
TRISTAN = "dvp_Tristan_cloth2_1080P"


@pytest.fixture
def api(akool_sim: SimServer) -> Iterator[httpx.Client]:
    """An httpx client for ``akool_sim`` authenticated with the default API key."""
    with httpx.Client(base_url=akool_sim.url, headers=API_KEY, timeout=10) as client:
        yield client


@pytest.fixture
def client_for() -> Iterator[Callable[[SimServer], httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(server: SimServer) -> httpx.Client:
        client = httpx.Client(base_url=server.url, headers=API_KEY, timeout=10)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def create_session(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"avatar_id": TRISTAN, "duration": 600, "stream_type": "sim", "mode_type": 1, **fields}
    reply = client.post("/api/open/v4/liveAvatar/session/create", json=body).json()
    assert reply["code"] == 1000, reply
    data: dict[str, Any] = reply["data"]
    return data


@pytest.fixture
def new_session() -> Callable[..., dict[str, Any]]:
    """``new_session(client, **fields)`` -> the create response's data (asserts success)."""
    return create_session
