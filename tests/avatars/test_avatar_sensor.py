"""AkoolAvatarSensor in poke, reschedule and deferrable mode; fail fast on status 4; soft_fail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from avatar_support import DETAIL, FakeClock, calls_to, sim_client
from task_support import make_context, set_akool_conn

from airflow_provider_akool._compat import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_provider_akool.links import AkoolAvatarPreviewLink
from airflow_provider_akool.sensors.avatar import AkoolAvatarSensor
from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

VIDEO = "https://media.example.com/presenters/carla.mp4"


def sensor(avatar_id: str, **kwargs: Any) -> AkoolAvatarSensor:
    kwargs.setdefault("poke_interval", 0.02)
    kwargs.setdefault("timeout", 20)
    kwargs.setdefault("deferrable", False)
    return AkoolAvatarSensor(task_id="wait", avatar_id=avatar_id, **kwargs)


def upload(sim: SimServer, avatar_id: str, url: str = VIDEO) -> None:
    sim_client(sim).create_avatar(url=url, avatar_id=avatar_id, name="Carla")


def run_trigger(trigger: AkoolAvatarTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(asyncio.wait_for(first(), 30))


@pytest.fixture
def sim(akool_sim: SimServer, akool_sim_conn: str) -> SimServer:
    return akool_sim


@pytest.fixture
def slow_sim(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    sim: SimServer = akool_sim_factory(time_scale=1.0)  # uploads need 110 s unless the clock is advanced
    set_akool_conn(monkeypatch, sim, max_attempts=2)
    return sim


def test_poke_mode_waits_and_returns_the_record(sim: SimServer) -> None:
    upload(sim, "carlaPoke1")
    context = make_context()
    record = sensor("carlaPoke1", mode="poke").execute(context)
    assert record["avatar_id"] == "carlaPoke1" and record["status"] == "ready"
    assert record["created_at"] and record["expires_at"]
    assert context["ti"].xcom("avatar_preview_url") == record["url"]


def test_reschedule_mode_frees_the_slot_until_ready(slow_sim: SimServer) -> None:
    upload(slow_sim, "carlaResched1")
    waiting = sensor("carlaResched1", mode="reschedule", poke_interval=60)
    with pytest.raises(AirflowRescheduleException):
        waiting.execute(make_context())
    slow_sim.advance(200)
    assert waiting.execute(make_context())["status"] == "ready"


def test_deferrable_mode_defers_then_completes(slow_sim: SimServer) -> None:
    upload(slow_sim, "carlaDefer1")
    clock = FakeClock(slow_sim)
    waiting = sensor("carlaDefer1", deferrable=True, timeout=300, poke_interval=30)
    waiting.clock = clock.sync()
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute(make_context())
    assert deferred.value.timeout is None and deferred.value.method_name == "execute_complete"
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["avatar_id"] == "carlaDefer1" and kwargs["poll_interval"] == 30
    assert kwargs["deadline"] == clock.now() + 300

    event = run_trigger(AkoolAvatarTrigger(**kwargs, clock=clock.aio()))
    record = sensor("carlaDefer1", deferrable=True).execute_complete(make_context(), event)
    assert record["status"] == "ready" and record["created_at"]


def test_deferrable_mode_does_not_defer_for_a_ready_avatar(sim: SimServer) -> None:
    assert sensor("dvp_Tristan_cloth2_1080P", deferrable=True).execute(make_context())["status"] == "ready"


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_failed_avatar_fails_fast_with_akools_status(sim: SimServer, mode: str) -> None:
    upload(sim, "carlaFail1", url="https://media.example.com/broken-fail.mp4")
    sim.advance(200)
    sim.clear_requests()
    with pytest.raises(AirflowFailException, match=r"carlaFail1.*status 4"):
        sensor("carlaFail1", mode=mode, timeout=60).execute(make_context())
    assert len(calls_to(sim, DETAIL)) == 1, "failed at the first look, without waiting for the timeout"


@pytest.mark.parametrize("deferrable", [False, True])
def test_soft_fail_skips_a_failed_avatar(sim: SimServer, deferrable: bool) -> None:
    upload(sim, "carlaFail2", url="https://media.example.com/broken-fail.mp4")
    sim.advance(200)
    with pytest.raises(AirflowSkipException, match="status 4"):
        sensor("carlaFail2", soft_fail=True, deferrable=deferrable).execute(make_context())


def test_unknown_avatar_fails_fast(sim: SimServer) -> None:
    with pytest.raises(AirflowFailException, match="no avatar 'ghost1'"):
        sensor("ghost1").execute(make_context())


@pytest.mark.parametrize("bad", ["  ", "dvp\x00Tristan", "two words"])
def test_invalid_avatar_id_fails_before_any_call(sim: SimServer, bad: str) -> None:
    with pytest.raises(AirflowFailException, match="avatar_id: "):
        sensor(bad).execute(make_context())
    assert sim.requests() == []


def test_poke_timeout_and_soft_fail(slow_sim: SimServer) -> None:
    upload(slow_sim, "carlaSlow1")
    with pytest.raises(AirflowSensorTimeout):
        sensor("carlaSlow1", timeout=0.2, poke_interval=0.05).execute(make_context())
    with pytest.raises(AirflowSkipException):
        sensor("carlaSlow1", timeout=0.2, poke_interval=0.05, soft_fail=True).execute(make_context())


@pytest.mark.parametrize(
    ("event", "raised"),
    [
        (None, AirflowFailException),
        ({"status": "failed", "avatar_id": "a1", "message": "status 4: no face", "avatar": None}, AirflowFailException),
        ({"status": "timeout", "avatar_id": "a1", "message": "deadline", "avatar": None}, AirflowSensorTimeout),
        ({"status": "error", "avatar_id": "a1", "message": "HTTP 500", "avatar": None}, AirflowFailException),
    ],
)
def test_execute_complete_raises_unless_success(event: dict[str, Any] | None, raised: type[Exception]) -> None:
    with pytest.raises(raised):
        sensor("a1", deferrable=True).execute_complete(make_context(), event)
    with pytest.raises(AirflowSkipException):
        sensor("a1", deferrable=True, soft_fail=True).execute_complete(make_context(), event)
    assert issubclass(raised, AirflowException)


def test_preview_link_is_declared_on_the_class() -> None:
    [link] = AkoolAvatarSensor.operator_extra_links
    assert isinstance(link, AkoolAvatarPreviewLink) and link.name == "Akool avatar preview"
