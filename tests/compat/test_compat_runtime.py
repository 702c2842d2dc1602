"""What the installed Airflow does with the provider at run time, where 3.1 and 3.3 differ."""

from __future__ import annotations

import importlib
import re
import tomllib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("airflow_provider_akool.operators.avatar", "AirflowFailException"),
        ("airflow_provider_akool.operators.session", "AirflowFailException"),
        ("airflow_provider_akool.operators.archive", "AirflowFailException"),
        ("airflow_provider_akool.operators.sweeper", "AirflowFailException"),
        ("airflow_provider_akool.sensors.avatar", "AirflowFailException"),
        ("airflow_provider_akool.sensors.avatar", "AirflowSkipException"),
        ("airflow_provider_akool.sensors.avatar", "AirflowSensorTimeout"),
    ],
)
def test_raised_exceptions_are_the_ones_the_task_runner_catches(module: str, name: str) -> None:
    """A fail/skip must not become a retry: the class must be the one Airflow's task runner checks.

    ``airflow.exceptions`` holds that class on 3.1 and re-exports the SDK's on 3.2+.
    """
    import airflow.exceptions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = getattr(airflow.exceptions, name)
    assert getattr(importlib.import_module(module), name) is expected


def test_trigger_kwargs_survive_the_trigger_table() -> None:
    """Round trip through the installed Airflow's own storage of trigger kwargs (not JSON alone)."""
    from airflow.models.trigger import Trigger

    from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

    original = AkoolAvatarTrigger(
        avatar_id="abc123", deadline=1_900_000_000.5, akool_conn_id="akool_prod", poll_interval=12.5, create_time=17
    )
    row = Trigger.from_object(original)
    assert row.classpath == "airflow_provider_akool.triggers.avatar.AkoolAvatarTrigger"
    assert AkoolAvatarTrigger(**row.kwargs).serialize() == original.serialize()


def test_oldest_pin_matches_the_declared_floor() -> None:
    """requirements/pins-airflow-3.1.txt tests the floor in pyproject; raising one means moving the other."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [floor] = [d for d in project["dependencies"] if re.match(r"apache-airflow\s*>=", d)]
    floor_minor = re.search(r">=\s*(\d+\.\d+)", floor)
    pins = (ROOT / "requirements" / "pins-airflow-3.1.txt").read_text()
    pinned = re.search(r"^apache-airflow==(\d+\.\d+)\.\d+", pins, re.M)
    assert floor_minor and pinned
    assert pinned.group(1) == floor_minor.group(1), f"floor {floor} but the oldest leg pins {pinned.group(0)}"
