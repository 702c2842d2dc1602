"""AkoolAvatarTrigger: JSON kwargs, one event per outcome, no exceptions out of run(), one shared token."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import respx
from avatar_support import DETAIL, TOKEN, calls_to, set_connection, sim_client

from airflow_provider_akool.hooks.akool import AkoolHook
from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

VIDEO = "https://media.example.com/presenters/ben.mp4"


async def events_of(trigger: AkoolAvatarTrigger, limit: float = 20.0) -> list[dict[str, Any]]:
    """Every event the trigger yields until run() returns (must be exactly one)."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return await asyncio.wait_for(collect(), limit)


def trigger(avatar_id: str, *, within: float = 30.0, **kwargs: Any) -> AkoolAvatarTrigger:
    kwargs.setdefault("poll_interval", 0.02)
    return AkoolAvatarTrigger(avatar_id=avatar_id, deadline=time.time() + within, **kwargs)


def upload(sim: SimServer, avatar_id: str, url: str = VIDEO) -> int:
    created = sim_client(sim).create_avatar(url=url, avatar_id=avatar_id, name=avatar_id)
    assert created.avatar.create_time is not None
    return created.avatar.create_time


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
        AkoolAvatarTrigger(**{"avatar_id": "a1", "deadline": time.time(), **bad})


async def test_success_event(akool_sim: SimServer, akool_sim_conn: str) -> None:
    created = upload(akool_sim, "benReady1")
    [event] = await events_of(trigger("benReady1", create_time=created))
    assert event["status"] == "success"
    assert event["avatar_id"] == "benReady1"
    snapshot = event["avatar"]
    assert snapshot["state"] == "ready" and snapshot["status"] == 3 and snapshot["create_time"] == created
    assert snapshot["url"] and snapshot["thumbnail_url"]
    json.dumps(event)


async def test_success_without_known_creation_time_reads_it_once(akool_sim: SimServer, akool_sim_conn: str) -> None:
    created = upload(akool_sim, "benReady2")
    [event] = await events_of(trigger("benReady2"))
    assert event["status"] == "success" and event["avatar"]["create_time"] == created


async def test_failed_event(akool_sim: SimServer, akool_sim_conn: str) -> None:
    upload(akool_sim, "benFails1", url="https://media.example.com/broken-fail.mp4")
    [event] = await events_of(trigger("benFails1"))
    assert event["status"] == "failed"
    assert "status 4" in event["message"] and event["avatar"]["status"] == 4


async def test_deadline_event(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = akool_sim_factory(time_scale=1.0)  # ready only after 110 s
    set_connection(monkeypatch, "akool_default", sim)
    upload(sim, "benSlow1")
    started = time.monotonic()
    [event] = await events_of(trigger("benSlow1", within=0.4, poll_interval=0.1))
    assert event["status"] == "timeout" and "deadline" in event["message"]
    assert event["avatar"]["state"] == "pending"
    assert 0.35 < time.monotonic() - started < 3


async def test_deadline_already_passed_checks_once(akool_sim: SimServer, akool_sim_conn: str) -> None:
    upload(akool_sim, "benLate1")
    akool_sim.advance(600)
    [event] = await events_of(trigger("benLate1", within=-60, poll_interval=30))
    assert event["status"] == "success", "a restart after the deadline still sees a ready avatar"


async def test_unknown_avatar_gives_an_error_event(akool_sim: SimServer, akool_sim_conn: str) -> None:
    [event] = await events_of(trigger("doesNotExist1"))
    assert event["status"] == "error" and "1008" in event["message"]


async def test_missing_connection_gives_an_error_event() -> None:
    [event] = await events_of(trigger("a1", akool_conn_id="no_such_connection"))
    assert event["status"] == "error" and "no_such_connection" in event["message"]


async def test_persistent_5xx_gives_an_error_event(akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "akool_default", akool_sim)
    upload(akool_sim, "benFlaky1")
    akool_sim.set_faults(1.0, kinds=["http_500"], paths=[DETAIL])
    [event] = await events_of(trigger("benFlaky1"))
    assert event["status"] == "error" and "kept failing" in event["message"]


async def test_a_transient_outage_does_not_end_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    base = "https://akool.mock"
    conn = {"conn_type": "akool", "host": base, "password": "k", "extra": {"max_attempts": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_AKOOL_DEFAULT", json.dumps(conn))
    ready = {"code": 1000, "msg": "ok", "data": {"avatar_id": "a1", "available": True, "create_time": 5}}
    with respx.mock(base_url=base) as api:
        api.get(DETAIL).mock(side_effect=[httpx.Response(502), httpx.Response(503), httpx.Response(200, json=ready)])
        [event] = await events_of(trigger("a1"))
    assert event["status"] == "success" and event["avatar"]["state"] == "ready"


async def test_cancellation_is_not_turned_into_an_event(
    akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = akool_sim_factory(time_scale=1.0)
    set_connection(monkeypatch, "akool_default", sim)
    upload(sim, "benCancel1")
    task = asyncio.ensure_future(events_of(trigger("benCancel1", poll_interval=0.05)))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_triggers_share_one_client_and_one_token(akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "akool_tokens", akool_sim, token_mode=True)
    ids = [f"benMany{i}" for i in range(40)]
    for avatar_id in ids:
        upload(akool_sim, avatar_id)
    triggers = [trigger(i, akool_conn_id="akool_tokens", poll_interval=0.1) for i in ids]
    events = await asyncio.gather(*(events_of(t) for t in triggers))

    assert [e[0]["status"] for e in events] == ["success"] * len(ids)
    assert len(calls_to(akool_sim, TOKEN)) == 1
    assert akool_sim.state()["tokens"]["issued"] == 1
    hook_a, hook_b = AkoolHook(akool_conn_id="akool_tokens"), AkoolHook(akool_conn_id="akool_tokens")
    assert await hook_a.get_async_client() is await hook_b.get_async_client()
    bearer = [r for r in calls_to(akool_sim, DETAIL) if r["auth"] != "bearer"]
    assert not bearer, "every poll used the bearer token"


async def test_polls_of_many_triggers_are_spread_out(akool_sim: SimServer, akool_sim_conn: str) -> None:
    ids = [f"benSpread{i}" for i in range(30)]
    for avatar_id in ids:
        upload(akool_sim, avatar_id)
    akool_sim.advance(600)  # all ready: each trigger polls exactly once, at its random phase
    akool_sim.clear_requests()
    poll = 0.5
    await asyncio.gather(*(events_of(trigger(i, poll_interval=poll)) for i in ids))
    first_polls = sorted(r["at"] for r in calls_to(akool_sim, DETAIL))
    assert len(first_polls) == len(ids)
    spread_real = (first_polls[-1] - first_polls[0]) / 1000 / akool_sim.config.time_scale
    assert spread_real > poll / 3, "polls are not in lockstep"
    assert spread_real <= poll + 0.2, "nobody waited longer than one interval for the first poll"
