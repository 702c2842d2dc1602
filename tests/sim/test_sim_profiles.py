"""Profiles: each behaviour the docs leave open, switched at start or at runtime, seen on the wire."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets
from channel_support import LEFT, PUBLISHED, _chat, _event, _next, _session, _until, _ws_url

from airflow_provider_akool.sim import SimConfig, SimServer

CLOSE = "/api/open/v4/liveAvatar/session/close"


def _is_fin_echo(m: dict[str, Any]) -> bool:
    return m.get("type") == "chat" and m["pld"].get("from") == "bot" and m["fin"]


def test_profile_is_set_at_start_and_explicit_fields_win() -> None:
    hostile = SimConfig(profile="hostile")
    assert (hostile.emit_audio_events, hostile.busy_chat, hostile.pre_join_messages) == (False, "interrupt", "drop")
    assert hostile.packet_drop_rate > 0 and hostile.bot_echo == "own_mid"
    assert SimConfig(profile="hostile", emit_audio_events=True).emit_audio_events is True
    with pytest.raises(ValueError, match="known profiles"):
        SimConfig(profile="friendly")


def test_profile_switches_at_runtime_and_resets_the_previous_one(akool_sim: SimServer) -> None:
    settings = akool_sim.set_channel(profile="hostile")
    assert settings["busy_chat"] == "interrupt" and settings["emit_audio_events"] is False
    settings = akool_sim.set_channel(profile="no_echo", busy_chat="interrupt")
    assert settings["bot_echo"] == "none" and settings["busy_chat"] == "interrupt"
    assert settings["emit_audio_events"] is True and settings["pre_join_messages"] == "buffer"
    with pytest.raises(httpx.HTTPStatusError) as refused:
        akool_sim.set_channel(profile="friendly")
    assert "known profiles" in refused.value.response.text


@pytest.mark.parametrize(
    ("profile", "echo_is_client", "event_is_client"),
    [("default", True, True), ("echo_own_mid", False, True), ("events_own_mid", True, False)],
)
async def test_which_mid_the_avatar_uses(
    akool_sim: SimServer, profile: str, echo_is_client: bool, event_is_client: bool
) -> None:
    akool_sim.set_channel(profile=profile)
    async with websockets.connect(_ws_url(_session(akool_sim))) as ws:
        await ws.send(_chat("client-7", "Good evening."))
        seen = await _until(ws, _event("audio_end"))
    echoes = [m for m in seen if m["type"] == "chat"]
    events = [m for m in seen if m["type"] == "event"]
    assert "".join(m["pld"]["text"] for m in echoes) == "Good evening."
    assert all((m["mid"] == "client-7") is echo_is_client for m in echoes)
    assert len(events) == 2 and all((m["mid"] == "client-7") is event_is_client for m in events)
    assert len({m["mid"] for m in echoes}) == 1  # the pieces of one reply still share their mid
    segment = akool_sim.state()["sessions"][0]["segments"][0]
    assert segment["mid"] == "client-7" and segment["echo_mid"] == echoes[0]["mid"]


async def test_no_echo_sends_events_only(akool_sim: SimServer) -> None:
    akool_sim.set_channel(profile="no_echo")
    async with websockets.connect(_ws_url(_session(akool_sim))) as ws:
        await ws.send(_chat("c", "Say it without text."))
        seen = await _until(ws, _event("audio_end"))
    assert [m["type"] for m in seen if m["type"] != "sim-participant"] == ["event", "event"]
    assert akool_sim.state()["sessions"][0]["spoken"] == ["Say it without text."]


async def test_interrupting_avatar_cuts_the_current_segment(akool_sim_factory: Callable[..., SimServer]) -> None:
    sim = akool_sim_factory(time_scale=5, join_delay_seconds=0, profile="interrupting")
    async with websockets.connect(_ws_url(_session(sim))) as ws:
        await ws.send(_chat("first", "This is a long first line that the avatar will not get to finish."))
        await _until(ws, _event("audio_start"))
        await ws.send(_chat("second", "Short."))
        seen = await _until(ws, lambda m: _event("audio_end")(m) and m["mid"] == "second")
    events = [(m["mid"], m["pld"]["event"]) for m in seen if m["type"] == "event"]
    assert events == [("first", "audio_end"), ("second", "audio_start"), ("second", "audio_end")]
    record = sim.state()["sessions"][0]
    assert record["spoken"] == ["Short."]
    assert [(s["mid"], s["cut_by"]) for s in record["segments"]] == [("first", "chat"), ("second", None)]


async def test_queueing_avatar_speaks_each_chat_whole_in_order(akool_sim: SimServer) -> None:
    async with websockets.connect(_ws_url(_session(akool_sim))) as ws:
        for n in range(3):
            await ws.send(_chat(f"m{n}", f"Line number {n}."))
        await _until(ws, lambda m: _event("audio_end")(m) and m["mid"] == "m2")
    segments = akool_sim.state()["sessions"][0]["segments"]
    assert [(s["index"], s["mid"], s["cut_by"]) for s in segments] == [
        (0, "m0", None),
        (1, "m1", None),
        (2, "m2", None),
    ]
    assert all(a["ended_at"] <= b["started_at"] for a, b in itertools.pairwise(segments))


async def _lossy_run(seed: int) -> tuple[list[str], dict[str, Any], list[dict[str, Any]]]:
    with SimServer(
        time_scale=1000,
        seed=seed,
        join_delay_seconds=0,
        packet_drop_rate=0.3,
        max_lost_packets=3,
        packet_reorder_rate=0.0,
    ) as sim:
        async with websockets.connect(_ws_url(_session(sim))) as ws:
            assert await _next(ws) == PUBLISHED
            for n in range(12):
                await ws.send(_chat(f"m{n:02d}", f"Packet {n}."))
            seen: list[dict[str, Any]] = []
            while len(seen) < 200:  # until the avatar has been quiet for half a second
                try:
                    seen.append(await _next(ws, within=0.5))
                except TimeoutError:
                    break
        record = sim.state()["sessions"][0]
        return record["spoken"], record["channel"], seen


async def test_agora_delivery_loses_a_bounded_seeded_few_without_an_error() -> None:
    spoken, channel, seen = await _lossy_run(seed=4)
    assert channel["lost"] == 3 and len(spoken) == 9  # bounded by max_lost_packets
    assert not [m for m in seen if m["type"] == "sim-error"]  # nothing tells the client
    again, _, _ = await _lossy_run(seed=4)
    assert again == spoken  # the same seed loses the same packets
    assert spoken == sorted(spoken, key=lambda t: int(t.split()[1].rstrip(".")))  # no reordering asked for


async def test_agora_delivery_reorders_without_losing(akool_sim_factory: Callable[..., SimServer]) -> None:
    sim = akool_sim_factory(join_delay_seconds=0, packet_reorder_rate=1.0, max_reordered_packets=1)
    async with websockets.connect(_ws_url(_session(sim))) as ws:
        assert await _next(ws) == PUBLISHED
        await ws.send(_chat("a", "First sent."))
        await ws.send(_chat("b", "Second sent."))
        await _until(ws, lambda m: _event("audio_end")(m) and m["mid"] == "a", within=5)
    record = sim.state()["sessions"][0]
    assert record["spoken"] == ["Second sent.", "First sent."]
    assert record["channel"]["reordered"] == 1 and record["channel"]["lost"] == 0


async def test_a_held_packet_arrives_even_with_nothing_behind_it(akool_sim_factory: Callable[..., SimServer]) -> None:
    sim = akool_sim_factory(join_delay_seconds=0, packet_reorder_rate=1.0, max_reordered_packets=1)
    async with websockets.connect(_ws_url(_session(sim))) as ws:
        assert await _next(ws) == PUBLISHED
        await ws.send(_chat("only", "Alone."))
        await _until(ws, _event("audio_end"), within=5)
    assert sim.state()["sessions"][0]["spoken"] == ["Alone."]


@pytest.mark.parametrize("profile", ["default", "finish_at_end"])
async def test_session_end_cuts_or_finishes_the_current_segment(
    akool_sim_factory: Callable[..., SimServer], profile: str
) -> None:
    sim = akool_sim_factory(time_scale=5, join_delay_seconds=0, profile=profile)
    session = _session(sim)
    async with websockets.connect(_ws_url(session)) as ws:
        await ws.send(_chat("long", "A sentence long enough to still be speaking when the session is closed."))
        await ws.send(_chat("next", "Never reached."))
        await _until(ws, _event("audio_start"))
        reply = await asyncio.to_thread(
            httpx.post, sim.url + CLOSE, json={"id": session["_id"]}, headers={"x-api-key": "sim-api-key"}
        )
        assert reply.json()["code"] == 1000
        seen = await _until(ws, lambda m: m == LEFT, within=5)
    got_end = any(_event("audio_end")(m) for m in seen)
    record = sim.state()["sessions"][0]
    segment = record["segments"][0]
    if profile == "default":
        assert not got_end and segment["cut_by"] == "session_end" and record["spoken"] == []
    else:
        assert got_end and segment["cut_by"] is None and record["spoken"] == [segment["text"]]
    assert [(u["mid"], u["reason"]) for u in record["unspoken"]] == [("next", "session_end")]
    assert len(record["segments"]) == 1


async def test_hostile_profile_combines_the_adverse_variants(akool_sim_factory: Callable[..., SimServer]) -> None:
    sim = akool_sim_factory(
        time_scale=1000, join_delay_seconds=200, profile="hostile", packet_drop_rate=0.0, packet_reorder_rate=0.0
    )
    # At 1000x the avatar joins 0.2 real seconds after the session starts, so "early" surely arrives
    # before it (a 0.2 s join delay was 0.2 real ms: "early" sometimes came after the join and was
    # spoken). An hour lasts 3.6 real seconds: the session cannot end inside the quiet window below.
    async with websockets.connect(_ws_url(_session(sim, duration=3600))) as ws:
        await ws.send(_chat("early", "Before the avatar is here."))
        assert await _next(ws) == PUBLISHED
        await ws.send(_chat("late", "After it joined."))
        seen = await _until(ws, _is_fin_echo)
        with pytest.raises(TimeoutError):
            await _next(ws, within=0.3)
    assert not [m for m in seen if m["type"] == "event"]
    assert all(m["mid"] != "late" for m in seen if m["type"] == "chat")
    assert sim.state()["sessions"][0]["spoken"] == ["After it joined."]
    assert [i["reason"] for i in sim.state()["channel"]["ignored"]] == ["before_join"]


def test_cli_accepts_a_profile() -> None:
    from airflow_provider_akool.sim.__main__ import _parser

    assert _parser().parse_args(["--profile", "hostile"]).profile == "hostile"
    assert json.loads(json.dumps(SimConfig(profile="agora_delivery").public_dump()))["packet_drop_rate"] > 0
