"""AkoolAvatarTrigger: JSON kwargs, one event per outcome, no exceptions out of run(), one shared token.

The trigger runs on a fake clock (avatar_support.FakeClock): its sleeps take no real time and move
akool-sim's clock, so a wait of minutes runs in milliseconds and its timing is asserted exactly.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx
from avatar_support import DETAIL, TOKEN, FakeClock, calls_to, sim_client
from task_support import set_akool_conn

from airflow_provider_akool.avatar_wait import AsyncClock, read_event
from airflow_provider_akool.hooks.akool import AkoolHook
from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

VIDEO = "https://media.example.com/presenters/ben.mp4"
READY_AFTER = 110.0  # akool-sim: 20 s queued + 90 s processing


async def events_of(trigger: AkoolAvatarTrigger, limit: float = 20.0) -> list[dict[str, Any]]:
    """Every event the trigger yields until run() returns (must be exactly one)."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return await asyncio.wait_for(collect(), limit)


def trigger(avatar_id: str, clock: FakeClock, *, within: float = 600.0, **kwargs: Any) -> AkoolAvatarTrigger:
    kwargs.setdefault("poll_interval", 30.0)
    return AkoolAvatarTrigger(avatar_id=avatar_id, deadline=clock.now() + within, clock=clock.aio(), **kwargs)


def upload(sim: SimServer, *avatar_ids: str, url: str = VIDEO) -> int:
    """Upload avatars to the sim; the creation time (ms) of the last one."""
    with sim_client(sim) as client:
        for avatar_id in avatar_ids:
            created = client.create_avatar(url=url, avatar_id=avatar_id, name=avatar_id)
    assert created.avatar.create_time is not None
    return created.avatar.create_time


@pytest.fixture
def sim(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    """akool-sim nearly frozen (a real minute is 0.06 simulated seconds): avatars progress only as far
    as a FakeClock tied to it advances it, however long the test itself takes."""
    server: SimServer = akool_sim_factory(time_scale=0.001)
    set_akool_conn(monkeypatch, server, max_attempts=2)
    return server


def test_serialize_round_trips_through_json() -> None:
    original = AkoolAvatarTrigger(
        avatar_id="abc123", deadline=1_900_000_000.5, akool_conn_id="akool_prod", poll_interval=12.5, create_time=17
    )
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_provider_akool.triggers.avatar.AkoolAvatarTrigger"
    restored_kwargs = json.loads(json.dumps(kwargs))
    rebuilt = AkoolAvatarTrigger(**restored_kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)

    try:
        from airflow.sdk.serde import deserialize, serialize
    except ImportError:  # Airflow 3.1 stores trigger kwargs with BaseSerialization
        from airflow.serialization.serialized_objects import BaseSerialization

        serialize, deserialize = BaseSerialization.serialize, BaseSerialization.deserialize

    assert AkoolAvatarTrigger(**deserialize(serialize(kwargs))).serialize() == (classpath, kwargs)


@pytest.mark.parametrize("bad", [{"poll_interval": 0}, {"avatar_id": ""}])
def test_invalid_kwargs_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AkoolAvatarTrigger(**{"avatar_id": "a1", "deadline": 0.0, **bad})


async def test_waits_at_the_poll_interval_until_ready(sim: SimServer) -> None:
    created = upload(sim, "benReady1")
    clock = FakeClock(sim)
    started = clock.now()
    [event] = await events_of(trigger("benReady1", clock, create_time=created))

    assert event["status"] == "success" and event["avatar_id"] == "benReady1"
    snapshot = event["avatar"]
    assert snapshot["state"] == "ready" and snapshot["status"] == 3 and snapshot["create_time"] == created
    assert snapshot["url"] and snapshot["thumbnail_url"]
    json.dumps(event)
    phase, *period = clock.slept
    assert 0 <= phase <= 30 and period and set(period) == {30.0}, "one poll per interval after a random phase"
    assert READY_AFTER <= clock.now() - started < READY_AFTER + 30, "done at the first poll after it was ready"


async def test_success_without_known_creation_time_reads_it(sim: SimServer) -> None:
    created = upload(sim, "benReady2")
    [event] = await events_of(trigger("benReady2", FakeClock(sim)))
    assert event["status"] == "success" and event["avatar"]["create_time"] == created


async def test_failed_event(sim: SimServer) -> None:
    upload(sim, "benFails1", url="https://media.example.com/broken-fail.mp4")
    [event] = await events_of(trigger("benFails1", FakeClock(sim)))
    assert event["status"] == "failed"
    assert "status 4" in event["message"] and event["avatar"]["status"] == 4


async def test_deadline_event(sim: SimServer) -> None:
    upload(sim, "benSlow1")
    clock = FakeClock(sim)
    deadline = clock.now() + 60
    [event] = await events_of(trigger("benSlow1", clock, within=60, poll_interval=25))
    assert event["status"] == "timeout" and "deadline" in event["message"]
    assert event["avatar"]["state"] == "pending"
    assert clock.now() == deadline, "the last poll happens at the deadline, not one interval later"
    assert len(calls_to(sim, DETAIL)) <= 60 // 25 + 2, "one poll per interval, plus a last look at the deadline"


async def test_deadline_already_passed_checks_once(sim: SimServer) -> None:
    upload(sim, "benLate1")
    sim.advance(600)
    [event] = await events_of(trigger("benLate1", FakeClock(sim), within=-60))
    assert event["status"] == "success", "a restart after the deadline still sees a ready avatar"
    assert len(calls_to(sim, DETAIL)) == 1


async def test_unknown_avatar_gives_an_error_event(sim: SimServer) -> None:
    [event] = await events_of(trigger("doesNotExist1", FakeClock(sim)))
    assert event["status"] == "error" and "1008" in event["message"]


async def test_missing_connection_gives_an_error_event() -> None:
    [event] = await events_of(trigger("a1", FakeClock(), akool_conn_id="no_such_connection"))
    assert event["status"] == "error" and "no_such_connection" in event["message"]


async def test_persistent_5xx_gives_a_retryable_error_event(sim: SimServer) -> None:
    upload(sim, "benFlaky1")
    sim.set_faults(1.0, kinds=["http_500"], paths=[DETAIL])
    [event] = await events_of(trigger("benFlaky1", FakeClock(sim)))
    assert event["status"] == "error" and "kept failing" in event["message"]
    assert event["error_type"] == "AkoolTransientError"
    assert read_event(event, task_id="t", conn_id="akool_default").kind == "error", "a retry may help"


async def test_a_transient_outage_does_not_end_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    base = "https://akool.mock"
    set_akool_conn(monkeypatch, base, api_key="k", max_attempts=1)
    pending = {"code": 1000, "msg": "ok", "data": {"avatar_id": "a1", "status": 2}}
    ready = {"code": 1000, "msg": "ok", "data": {"avatar_id": "a1", "available": True, "create_time": 5}}
    outage = [httpx.Response(502), httpx.Response(503)]
    replies = [*outage, httpx.Response(200, json=pending), *outage, httpx.Response(200, json=ready)]
    with respx.mock(base_url=base) as api:
        api.get(DETAIL).mock(side_effect=replies)
        [event] = await events_of(trigger("a1", FakeClock()))
    assert event["status"] == "success" and event["avatar"]["state"] == "ready"


async def test_cancellation_is_not_turned_into_an_event(sim: SimServer) -> None:
    upload(sim, "benCancel1")
    clock = FakeClock(sim)
    polled = asyncio.Event()

    async def sleep_forever_after_the_first_poll(seconds: float) -> None:
        if clock.slept:
            polled.set()
            await asyncio.Event().wait()
        await clock.asleep(seconds)

    waiting = trigger("benCancel1", clock)
    waiting.clock = AsyncClock(now=clock.now, sleep=sleep_forever_after_the_first_poll)
    task = asyncio.ensure_future(events_of(waiting))
    await asyncio.wait_for(polled.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_triggers_share_one_client_and_one_token(akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_akool_conn(monkeypatch, akool_sim, "akool_tokens", max_attempts=2, token_mode=True)
    ids = [f"benMany{i}" for i in range(40)]
    upload(akool_sim, *ids)
    akool_sim.advance(600)
    triggers = [trigger(i, FakeClock(), akool_conn_id="akool_tokens") for i in ids]
    events = await asyncio.gather(*(events_of(t) for t in triggers))

    assert [e[0]["status"] for e in events] == ["success"] * len(ids)
    assert len(calls_to(akool_sim, TOKEN)) == 1
    assert akool_sim.state()["tokens"]["issued"] == 1
    hook_a, hook_b = AkoolHook(akool_conn_id="akool_tokens"), AkoolHook(akool_conn_id="akool_tokens")
    assert await hook_a.get_async_client() is await hook_b.get_async_client()
    bearer = [r for r in calls_to(akool_sim, DETAIL) if r["auth"] != "bearer"]
    assert not bearer, "every poll used the bearer token"


async def test_first_polls_of_many_triggers_spread_over_one_interval(akool_sim: SimServer, akool_sim_conn: str) -> None:
    ids = [f"benSpread{i}" for i in range(30)]
    upload(akool_sim, *ids)
    akool_sim.advance(600)  # all ready: each trigger polls exactly once, at its random phase
    poll = 30.0
    clocks = [FakeClock() for _ in ids]
    await asyncio.gather(*(events_of(trigger(i, c, poll_interval=poll)) for i, c in zip(ids, clocks, strict=True)))
    first_polls = sorted(c.now() - FakeClock().now() for c in clocks)
    assert all(0 <= at <= poll for at in first_polls), "nobody waited longer than one interval for the first poll"
    assert first_polls[-1] - first_polls[0] > poll / 3, "polls are not in lockstep"
