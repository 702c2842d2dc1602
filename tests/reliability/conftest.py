"""Reliability suite: the ``chaos`` marker, and keeping chaos tests out of the normal run.

Tests marked ``chaos`` (kill matrix, fault matrix) start subprocesses and take minutes. They run
with ``make chaos`` (which sets ``AKOOL_CHAOS=1``) or when ``-m chaos`` is given explicitly;
a plain ``pytest`` skips them, so ``make test`` stays fast.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from rel_support import SecretSet

if TYPE_CHECKING:
    from airflow_provider_akool.sim.runner import SimServer

SECRET_SIM_TIME_SCALE = 200.0  # test_rel_secrets.py sizes its sessions for this
CHAOS_ENV = "AKOOL_CHAOS"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: slow subprocess kill/fault tests; run with `make chaos` (AKOOL_CHAOS=1)")


def _chaos_selected(config: pytest.Config) -> bool:
    if os.environ.get(CHAOS_ENV) == "1":
        return True
    expression = str(config.getoption("markexpr", "") or "")
    return "chaos" in expression and "not chaos" not in expression


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _chaos_selected(config):
        return
    skip = pytest.mark.skip(reason="chaos test: run with `make chaos` (or AKOOL_CHAOS=1)")
    for item in items:
        if item.get_closest_marker("chaos") is not None:
            item.add_marker(skip)


@pytest.fixture
def secret_set(monkeypatch: pytest.MonkeyPatch) -> SecretSet:
    """Distinctive credentials; the in-process sim issues distinctive bearer and RTC tokens, all recorded."""
    from airflow_provider_akool.sim import sessions as sim_sessions
    from airflow_provider_akool.sim import state as sim_state

    found = SecretSet()
    counter = itertools.count()

    def issuer(prefix: str) -> Callable[..., str]:
        def issue(nbytes: int = 24) -> str:
            value = f"{prefix}{next(counter)}Q{secrets.token_hex(12)}"
            found.issued.append(value)
            return value

        return issue

    monkeypatch.setattr(sim_state, "secret_token", issuer("AKOOLBEARER"))
    monkeypatch.setattr(sim_sessions, "secret_token", issuer("AKOOLRTC"))
    return found


@pytest.fixture
def secret_sim(secret_set: SecretSet) -> Iterator[SimServer]:
    """akool-sim accepting only the distinctive credentials of ``secret_set``."""
    from airflow_provider_akool.sim.runner import SimServer

    with SimServer(
        time_scale=SECRET_SIM_TIME_SCALE,
        api_key=secret_set.api_key,
        client_id=secret_set.client_id,
        client_secret=secret_set.client_secret,
    ) as sim:
        sim.set_channel(join_delay_seconds=0)
        yield sim
