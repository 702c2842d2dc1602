"""pytest fixtures for akool-sim (registered through the ``pytest11`` entry point).

- ``akool_sim``: a started SimServer with time_scale=1000 (an avatar is ready in ~0.1 s).
- ``akool_sim_factory``: ``factory(config=None, **overrides) -> SimServer``, all stopped at teardown.
- ``akool_sim_conn``: points the Airflow connection ``akool_default`` at ``akool_sim``.

``--akool-sim-profile NAME`` (or ``AKOOL_SIM_PROFILE``) starts every fixture's sim under that
data-channel profile, so a whole test suite can be re-run against another avatar behaviour.

The sim itself is imported inside the fixtures: pytest loads this module in every project that
installs the provider, including those without the ``sim`` extra (FastAPI, uvicorn).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .config import SimConfig
    from .runner import SimServer

TEST_TIME_SCALE = 1000.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--akool-sim-profile",
        default=None,
        help="akool-sim data-channel profile for the akool_sim fixtures (default: $AKOOL_SIM_PROFILE, else 'default')",
    )


def _profile(config: pytest.Config) -> str:
    chosen = config.getoption("--akool-sim-profile", default=None)
    return str(chosen or os.environ.get("AKOOL_SIM_PROFILE") or "default")


@pytest.fixture
def akool_sim_factory(pytestconfig: pytest.Config) -> Iterator[Callable[..., SimServer]]:
    from .runner import SimServer

    servers: list[SimServer] = []
    profile = _profile(pytestconfig)

    def factory(config: SimConfig | None = None, **overrides: Any) -> SimServer:
        if config is None and "profile" not in overrides:
            overrides = {"profile": profile, **overrides}
        server = SimServer(config, **overrides).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def akool_sim(pytestconfig: pytest.Config) -> Iterator[SimServer]:
    from .runner import SimServer

    with SimServer(time_scale=TEST_TIME_SCALE, profile=_profile(pytestconfig)) as server:
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
