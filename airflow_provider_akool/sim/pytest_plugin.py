"""pytest fixtures for akool-sim (registered through the ``pytest11`` entry point).

- ``akool_sim``: a started SimServer with time_scale=1000 (an avatar is ready in ~0.1 s).
- ``akool_sim_factory``: ``factory(config=None, **overrides) -> SimServer``, all stopped at teardown.
- ``akool_sim_conn``: points the Airflow connection ``akool_default`` at ``akool_sim``.

The sim itself is imported inside the fixtures: pytest loads this module in every project that
installs the provider, including those without the ``sim`` extra (FastAPI, uvicorn).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .config import SimConfig
    from .runner import SimServer

TEST_TIME_SCALE = 1000.0


@pytest.fixture
def akool_sim_factory() -> Iterator[Callable[..., SimServer]]:
    from .runner import SimServer

    servers: list[SimServer] = []

    def factory(config: SimConfig | None = None, **overrides: Any) -> SimServer:
        server = SimServer(config, **overrides).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def akool_sim() -> Iterator[SimServer]:
    from .runner import SimServer

    with SimServer(time_scale=TEST_TIME_SCALE) as server:
        yield server


@pytest.fixture
def akool_sim_conn(akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> str:
    conn = {
        "conn_type": "akool",
        "host": akool_sim.url,
        "password": akool_sim.config.api_key,
        "extra": {"stream_type": "sim"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AKOOL_DEFAULT", json.dumps(conn))
    return "akool_default"
