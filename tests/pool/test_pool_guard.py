"""AkoolPoolGuardSensor: tasks stuck in "scheduled" for want of a pool end in a failed task that says why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_akool._compat import AirflowFailException
from airflow_provider_akool.sensors.pool import AkoolPoolGuardSensor, watched_states

RUN = "manual__2026-01-01"


@dataclass
class FakeTaskInstance:
    """The two things the guard reads from its task instance: who it is, and the run's task states."""

    states: dict[str, str | None]
    dag_id: str = "akool_retelling_batch"
    run_id: str = RUN
    asked: list[dict[str, Any]] = field(default_factory=list)

    def get_task_states(self, **query: Any) -> dict[str, dict[str, str | None]]:
        self.asked.append(query)
        return {self.run_id: dict(self.states)}


def guard(**kwargs: Any) -> AkoolPoolGuardSensor:
    return AkoolPoolGuardSensor(
        task_id="check_pool", watched_pool="akool_sessions", watched_task_ids=["retell"], **kwargs
    )


def test_watched_states_take_mapped_and_plain_instances_of_the_named_tasks_only() -> None:
    states = {
        "retell_0": "scheduled",
        "retell_11": "queued",
        "retell": "running",
        "retell_summary": "success",
        "retelling_2": "running",
        "plan_batches": "success",
    }
    assert watched_states(states, ["retell"]) == {"retell_0": "scheduled", "retell_11": "queued", "retell": "running"}


@pytest.mark.parametrize(
    ("states", "started"),
    [
        ({"retell_0": "scheduled", "retell_1": "scheduled"}, False),
        ({"retell_0": None, "retell_1": "scheduled"}, False),
        ({}, False),  # not expanded yet
        ({"retell_0": "scheduled", "retell_1": "queued"}, True),  # the pool gave a slot
        ({"retell_0": "running"}, True),
        ({"retell_0": "upstream_failed", "retell_1": "upstream_failed"}, True),  # nothing will wait
    ],
)
def test_poke_succeeds_once_a_watched_instance_has_left_scheduled(states: dict[str, str | None], started: bool) -> None:
    ti = FakeTaskInstance({**states, "plan_batches": "success"})
    assert guard().poke({"ti": ti}) is started  # type: ignore[typeddict-item]
    assert ti.asked == [{"dag_id": "akool_retelling_batch", "task_ids": ["retell"], "run_ids": [RUN]}]


def test_tasks_that_never_start_fail_the_guard_with_how_to_create_the_pool() -> None:
    ti = FakeTaskInstance({"retell_0": "scheduled", "retell_1": "scheduled"})
    sensor = guard(mode="poke", timeout=0, poke_interval=0)
    with pytest.raises(AirflowFailException) as failed:
        sensor.execute({"ti": ti})  # type: ignore[arg-type]
    message = str(failed.value)
    assert "pool 'akool_sessions'" in message
    assert 'airflow pools set akool_sessions 4 "Akool streaming sessions"' in message
    assert "Admin > Pools" in message
    assert "retell" in message


def test_tasks_that_start_let_the_guard_succeed() -> None:
    ti = FakeTaskInstance({"retell_0": "success", "retell_1": "scheduled"})
    assert guard(mode="poke", timeout=0, poke_interval=0).execute({"ti": ti}) is None  # type: ignore[arg-type]


def test_a_guard_must_watch_some_task() -> None:
    with pytest.raises(ValueError, match="watched_task_ids"):
        AkoolPoolGuardSensor(task_id="check_pool", watched_pool="akool_sessions", watched_task_ids=[])
