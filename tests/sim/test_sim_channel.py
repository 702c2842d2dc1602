"""The sim data channel: join, acks, chat reassembly, speaking, interrupt, limits, end of session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets
from channel_support import LEFT, PUBLISHED, _chat, _cmd, _event, _next, _session, _until, _ws_url

from airflow_provider_akool.sim import SimServer


async def test_wrong_token_is_closed_with_4401(akool_sim: SimServer) -> None:
    session = _session(akool_sim)
    async with websockets.connect(_ws_url(session, token="forged")) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await _next(ws)
    assert ws.close_code == 4401


async def test_join_ack_and_speaking(akool_sim: SimServer) -> None:
    session = _session(akool_sim)
    async with websockets.connect(_ws_url(session)) as ws:
        await ws.send(_cmd("p1", "set-params", {"mode": 1, "lang": "en"}))
        assert await _next(ws) == PUBLISHED
        assert await _next(ws) == {
            "v": 2,
            "type": "command",
            "mid": "p1",
            "pld": {"cmd": "set-params", "code": 1000, "msg": "OK"},
        }
        # Chunks out of order are reassembled by idx once fin has arrived.
        await ws.send(_chat("c1", "world, speak!", idx=2, fin=True))
        await ws.send(_chat("c1", "Hello ", idx=0, fin=False))
        await ws.send(_chat("c1", "there ", idx=1, fin=False))
        seen = await _until(ws, _event("audio_end"))
    assert seen[0] == {"v": 2, "type": "event", "mid": "c1", "pld": {"event": "audio_start"}}
    bot = [m for m in seen if m["type"] == "chat"]
    assert len(bot) >= 2
    assert all(m["mid"] == "c1" and m["pld"]["from"] == "bot" for m in bot)
    assert [m["idx"] for m in bot] == list(range(len(bot)))
    assert [m["fin"] for m in bot] == [False] * (len(bot) - 1) + [True]
    assert "".join(m["pld"]["text"] for m in bot) == "Hello there world, speak!"
    state = akool_sim.state()["sessions"][0]
    assert state["spoken"] == ["Hello there world, speak!"]
    assert state["channel"]["joined"] is True


async def test_ack_type_and_code_are_configurable(akool_sim: SimServer) -> None:
    akool_sim.set_channel(ack_type="cmd", ack_code=1500, join_delay_seconds=0)
    session = _session(akool_sim)
    async with websockets.connect(_ws_url(session)) as ws:
        assert await _next(ws) == PUBLISHED
        await ws.send(_cmd("p1", "set-params", {"mode": 1}))
        ack = await _next(ws)
    assert (ack["type"], ack["mid"], ack["pld"]["code"]) == ("cmd", "p1", 1500)


async def test_invalid_set_params_is_refused(akool_sim: SimServer) -> None:
    session = _session(akool_sim)
    async with websockets.connect(_ws_url(session)) as ws:
        await ws.send(_cmd("p1", "set-params", {"vparams": {"speed": 2.0}}))
        ack = (await _until(ws, lambda m: m.get("mid") == "p1"))[-1]
    assert ack["pld"]["code"] == 1003
    assert "speed" in ack["pld"]["msg"]


async def test_speaking_time_follows_the_model_and_speed(akool_sim_factory: Callable[..., SimServer]) -> None:
    sim = akool_sim_factory(time_scale=20, join_delay_seconds=0, speech_jitter=0.0)
    text = "Thank you all for coming tonight, it means a great deal to us."
    took: dict[float, int] = {}
    for speed in (0.8, 1.2):
        async with websockets.connect(_ws_url(_session(sim))) as ws:
            assert await _next(ws) == PUBLISHED
            await ws.send(_cmd("p", "set-params", {"vparams": {"speed": speed}}))
            await ws.send(_chat("c", text))
            await _until(ws, _event("audio_end"))
        segment = sim.state()["sessions"][-1]["segments"][0]
        took[speed] = segment["ended_at"] - segment["started_at"]
        # What the avatar did is what the state says it planned (within the clock's resolution).
        assert abs(took[speed] - segment["planned_seconds"] * 1000) < 300
        assert segment["speed"] == speed and segment["cut_by"] is None
    assert 1.3 <= took[0.8] / took[1.2] <= 1.7


async def test_chats_queue_while_speaking(akool_sim: SimServer) -> None:
    session = _session(akool_sim)
    async with websockets.connect(_ws_url(session)) as ws:
        for i in range(3):
            await ws.send(_chat(f"m{i}", f"line {i}"))
        seen: list[dict[str, Any]] = []
        for _ in range(3):
            seen += await _until(ws, _event("audio_end"))
    events = [(m["mid"], m["pld"]["event"]) for m in seen if m["type"] == "event"]
    assert events == [
        ("m0", "audio_start"),
        ("m0", "audio_end"),
        ("m1", "audio_start"),
        ("m1", "audio_end"),
        ("m2", "audio_start"),
        ("m2", "audio_end"),
    ]
    assert akool_sim.state()["sessions"][0]["spoken"] == ["line 0", "line 1", "line 2"]


async def test_interrupt_stops_speech_at_once(akool_sim_factory: Callable[..., SimServer]) -> None:
    sim = akool_sim_factory(time_scale=1, join_delay_seconds=0)  # 150 chars = 10 s of speech
    async with websockets.connect(_ws_url(_session(sim))) as ws:
        await ws.send(_chat("long", "a" * 150))
        await ws.send(_chat("queued", "never said"))
        await _until(ws, _event("audio_start"))
        await ws.send(_cmd("i1", "interrupt"))
        seen = await _until(ws, _event("audio_end"), within=1.0)
        assert {"cmd": "interrupt", "code": 1000, "msg": "OK"} in [m.get("pld") for m in seen]
        with pytest.raises(TimeoutError):
            await _next(ws, within=0.3)  # the queued chat was dropped too
    record = sim.state()["sessions"][0]
    assert record["spoken"] == []
    assert [s["interrupted"] for s in record["segments"]] == [True]


async def test_clock_advance_finishes_speech(akool_sim_factory: Callable[..., SimServer]) -> None:
    sim = akool_sim_factory(time_scale=1, join_delay_seconds=0)
    async with websockets.connect(_ws_url(_session(sim))) as ws:
        await ws.send(_chat("long", "b" * 150))
        await _until(ws, _event("audio_start"))
        await asyncio.to_thread(sim.advance, 11)
        await _until(ws, _event("audio_end"), within=1.0)
    assert sim.state()["sessions"][0]["spoken"] == ["b" * 150]


async def test_without_audio_events(akool_sim: SimServer) -> None:
    akool_sim.set_channel(emit_audio_events=False)
    async with websockets.connect(_ws_url(_session(akool_sim))) as ws:
        await ws.send(_chat("c", "quiet please"))
        seen = await _until(ws, lambda m: m.get("type") == "chat" and m["fin"])
        with pytest.raises(TimeoutError):
            await _next(ws, within=0.2)
    assert all(m["type"] != "event" for m in seen)
    assert akool_sim.state()["sessions"][0]["spoken"] == ["quiet please"]


async def test_never_join(akool_sim: SimServer) -> None:
    akool_sim.set_channel(never_join=True)
    async with websockets.connect(_ws_url(_session(akool_sim))) as ws:
        await ws.send(_cmd("p", "set-params", {"mode": 1}))
        await ws.send(_chat("c", "anyone?"))
        with pytest.raises(TimeoutError):
            await _next(ws, within=0.3)
    assert akool_sim.state()["sessions"][0]["spoken"] == []


async def test_messages_before_join_can_be_dropped(akool_sim_factory: Callable[..., SimServer]) -> None:
    sim = akool_sim_factory(time_scale=1, join_delay_seconds=0.3, pre_join_messages="drop")
    async with websockets.connect(_ws_url(_session(sim))) as ws:
        await ws.send(_cmd("early", "set-params", {"mode": 1}))
        assert await _next(ws) == PUBLISHED
        await ws.send(_cmd("late", "set-params", {"mode": 1}))
        assert (await _next(ws))["mid"] == "late"
    assert [i["reason"] for i in sim.state()["channel"]["ignored"]] == ["before_join"]


async def test_oversize_and_non_v2_messages(akool_sim: SimServer) -> None:
    async with websockets.connect(_ws_url(_session(akool_sim))) as ws:
        assert await _next(ws) == PUBLISHED
        big = _chat("big", "é" * 600)  # 1200+ bytes of UTF-8, fewer characters
        await ws.send(big)
        assert await _next(ws) == {"v": 2, "type": "sim-error", "pld": {"reason": "message_too_large", "mid": "big"}}
        await ws.send("not json")
        await ws.send(json.dumps({"v": 1, "type": "chat", "mid": "old", "idx": 0, "fin": True, "pld": {"text": "x"}}))
        await ws.send(_cmd("p", "set-params", {}))
        assert (await _next(ws))["mid"] == "p"  # the two ignored messages produced nothing
    channel = akool_sim.state()["channel"]
    assert channel["violation_counts"] == {"message_too_large": 1}
    assert [i["reason"] for i in channel["ignored"]] == ["not_json", "not_v2"]


async def test_message_rate_limit(akool_sim: SimServer) -> None:
    akool_sim.set_channel(messages_per_second=5)
    async with websockets.connect(_ws_url(_session(akool_sim))) as ws:
        assert await _next(ws) == PUBLISHED
        for i in range(10):
            await ws.send(_cmd(f"p{i}", "set-params", {}))
        replies = [await _next(ws) for _ in range(10)]
    limited = [m["pld"]["mid"] for m in replies if m["type"] == "sim-error"]
    acked = [m["mid"] for m in replies if m["type"] == "command"]
    assert len(acked) == 5  # the one-second burst
    assert len(limited) == 5
    assert akool_sim.state()["channel"]["violation_counts"] == {"rate_limited": 5}


async def test_byte_rate_limit(akool_sim: SimServer) -> None:
    akool_sim.set_channel(bytes_per_second=2000)
    async with websockets.connect(_ws_url(_session(akool_sim))) as ws:
        assert await _next(ws) == PUBLISHED
        for i in range(3):
            await ws.send(_chat(f"c{i}", "z" * 850, idx=0, fin=False))  # ~900 bytes each
        error = await _next(ws)
    assert error["type"] == "sim-error"
    assert error["pld"] == {"reason": "rate_limited", "mid": "c2"}


async def test_session_end_at_duration(akool_sim: SimServer) -> None:
    async with websockets.connect(_ws_url(_session(akool_sim, duration=60))) as ws:  # 60 ms real
        seen = await _until(ws, lambda m: m == LEFT)
        with pytest.raises(websockets.ConnectionClosed):
            await _next(ws)
    assert PUBLISHED in seen
    assert ws.close_code == 1000
    record = akool_sim.state()["sessions"][0]
    assert (record["status"], record["ended_by"], record["refunded"]) == (3, "duration", 0)


async def test_rest_close_ends_the_channel(akool_sim: SimServer) -> None:
    session = _session(akool_sim)
    async with websockets.connect(_ws_url(session)) as ws:
        assert await _next(ws) == PUBLISHED
        await asyncio.to_thread(
            httpx.post,
            akool_sim.url + "/api/open/v4/liveAvatar/session/close",
            json={"id": session["_id"]},
            headers={"x-api-key": "sim-api-key"},
        )
        assert await _next(ws) == LEFT
        with pytest.raises(websockets.ConnectionClosed):
            await _next(ws)
    async with websockets.connect(_ws_url(session)) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await _next(ws)
    assert ws.close_code == 4410


async def test_drop_then_reconnect(akool_sim: SimServer) -> None:
    session = _session(akool_sim)
    async with websockets.connect(_ws_url(session)) as ws:
        assert await _next(ws) == PUBLISHED
        await asyncio.to_thread(akool_sim.drop_channel, session["_id"])
        with pytest.raises(websockets.ConnectionClosed):
            await _next(ws)
    assert ws.close_code is None or ws.close_code == 1006  # no close frame: a network failure
    async with websockets.connect(_ws_url(session)) as ws:
        assert await _next(ws) == PUBLISHED
        await ws.send(_chat("again", "back"))
        await _until(ws, _event("audio_end"))
    record = akool_sim.state()["sessions"][0]
    assert record["channel"]["drops"] == 1
    assert record["channel"]["connects"] == 2
    assert record["spoken"] == ["back"]


async def test_unknown_session_and_replaced_connection(akool_sim: SimServer) -> None:
    session = _session(akool_sim)
    unknown = session["credentials"]["sim_url"].rsplit("/", 1)[0] + "/000000000000000000000000?token=x"
    async with websockets.connect(unknown) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await _next(ws)
    assert ws.close_code == 4404
    async with websockets.connect(_ws_url(session)) as first:
        assert await _next(first) == PUBLISHED
        async with websockets.connect(_ws_url(session)) as second:
            assert await _next(first) == LEFT
            with pytest.raises(websockets.ConnectionClosed):
                await _next(first)
            assert first.close_code == 4409
            assert await _next(second) == PUBLISHED
