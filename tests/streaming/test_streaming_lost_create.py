"""The retelling runner reports a session that a create it gave up on opened after the bounded poll.

akool-sim stalls the first create past the client's timeout (seeded: the second is not stalled); the
poll window is set to end before the stalled create lands, and the data channel is slow to join, so
the late session appears while the runner's own session is in use. The runner's look when it closes
its session must find it and report it as an orphan candidate (reliability finding 1); it does not
close it, since a sibling task may have opened it: the DAG's sweeper closes the candidates.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_clock import FakeClock, SteppedClock

from airflow_provider_akool.client import AkoolTransientError, AsyncAkoolClient, ClientConfig
from airflow_provider_akool.client.calls import Call, Reply
from airflow_provider_akool.sessions.opening import CreateWatch
from airflow_provider_akool.streaming.runner import RetellingRunner, RetellingSettings

pytest.importorskip("fastapi")
pytestmark = pytest.mark.timeout(60)

AVATAR = "dvp_Tristan_cloth2_1080P"
CREATE = "/api/open/v4/liveAvatar/session/create"
STALL = 1.0  # the stalled create lands ~1 s after it was sent
CLIENT_TIMEOUT = 0.3  # with lost_create_grace=0 the poll window is over before that
JOIN_DELAY = 2.0  # simulated seconds (time_scale 1): the runner's session is in use when it lands


async def test_the_runner_reports_a_session_that_landed_after_the_poll_window(akool_sim_factory: Any) -> None:
    sim = akool_sim_factory(
        time_scale=1.0, seed=1, fault_rate=0.5, fault_kinds=["stall"], fault_paths=[CREATE], stall_seconds=STALL
    )
    sim.set_channel(join_delay_seconds=JOIN_DELAY)
    config = ClientConfig(
        base_url=sim.url,
        api_key=sim.config.api_key,
        timeout=CLIENT_TIMEOUT,
        lost_create_grace=0.0,
        backoff_base=0.0,
        max_retry_wait=0.0,
    )
    settings = RetellingSettings(avatar_id=AVATAR, stream_type="sim", duration=600, fallback_grace=0.3)
    runner = RetellingRunner(settings, ["Hello there."])
    async with AsyncAkoolClient(config) as client:
        result = await runner.run(client)

    state = sim.state()
    assert [r["fault"] for r in sim.requests() if r["path"] == CREATE] == ["stall", None], "the scenario"
    assert result.completed, result.error
    (ours,) = result.session_ids
    sessions = {s["_id"]: s for s in state["sessions"]}
    (late,) = set(sessions) - {ours}
    assert state["open_sessions"] == [late], "ours closed; the late one left for the sweeper"
    assert result.orphan_candidates == [late], "found by the look at close and reported"


class StubAkool:
    """Akool's session endpoints for one create: the first attempt times out after it may have
    applied, the retry opens ``ours``; ``x1`` (another caller's, or the lost one's) appears with it."""

    is_async = True

    def __init__(self) -> None:
        self.config = ClientConfig(
            base_url="https://akool.test", api_key="key-0123456789", timeout=2.0, lost_create_grace=3.0
        )
        self.open: list[str] = []
        self.closed: list[str] = []
        self.creates = 0
        self.poll_error: Exception | None = None
        self.lists_after_create = 0
        self.detail_read = asyncio.Event()

    async def send(self, call: Call) -> Reply:
        if call.name == "session.create":
            self.creates += 1
            if self.creates == 1:
                raise AkoolTransientError("timed out", endpoint="session.create")
            self.open += ["ours", "x1"]
            return {"code": 1000, "data": {"_id": "ours", "status": 1}}
        if call.name == "session.list":
            if self.creates > 1:
                self.lists_after_create += 1
                if self.poll_error is not None and self.lists_after_create == 1:
                    raise self.poll_error
            ids = self.open if call.params and call.params.get("status") == 2 else []
            return {"code": 1000, "data": {"count": len(ids), "result": [{"_id": i, "status": 2} for i in ids]}}
        if call.name == "session.close":
            session_id = (call.json or {})["id"]
            self.closed.append(session_id)
            self.open.remove(session_id)
            return {"code": 1000}
        if call.name == "session.detail":
            self.detail_read.set()
            return {"code": 1000, "data": {"_id": (call.params or {})["id"], "status": 3}}
        raise AssertionError(f"unexpected call {call.name}")


async def test_a_cancelled_run_stops_the_poll_and_looks_once() -> None:
    client, clock = StubAkool(), SteppedClock()
    watch = CreateWatch(client, clock.clock)  # type: ignore[arg-type]
    assert (await watch.open({"avatar_id": AVATAR})).id == "ours"
    await asyncio.sleep(0)  # the bounded poll is now waiting for its first look
    assert await watch.finish(wait=False) == ["x1"], "found by the one last look"
    assert clock.now == 1000.0, "did not wait for the poll window"
    assert client.closed == [] and client.lists_after_create == 2, "one look: status 1 and 2"


async def test_a_cancellation_while_waiting_for_the_poll_keeps_the_candidates_it_found() -> None:
    client, clock = StubAkool(), SteppedClock()
    runner = RetellingRunner(
        RetellingSettings(avatar_id=AVATAR, stream_type="sim"), ["Hello there."], session_clock=clock.clock
    )
    task = asyncio.ensure_future(runner.run(client))  # type: ignore[arg-type]
    await asyncio.wait_for(clock.sleeping.wait(), timeout=5)  # the bounded poll waits for its first look
    clock.advance(1.0)  # one poll interval: the poll finds x1, then waits again
    await asyncio.wait_for(client.detail_read.wait(), timeout=5)  # the runner's session is closed
    await asyncio.sleep(0.05)  # the runner now waits for the poll (its window is 5 s)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.closed == ["ours"] and client.open == ["x1"], "ours closed, the candidate left to the sweeper"
    assert runner.result.orphan_candidates == ["x1"], "found before the cancellation, still reported"
    assert runner.book.candidates == ["x1"] and runner.open_session_ids == []


async def test_a_failed_poll_is_logged_when_the_watch_finishes(caplog: pytest.LogCaptureFixture) -> None:
    client, clock = StubAkool(), FakeClock()
    client.poll_error = RuntimeError("poll broke")
    watch = CreateWatch(client, clock.clock)  # type: ignore[arg-type]
    await watch.open({"avatar_id": AVATAR})
    await asyncio.sleep(0.01)  # the poll has failed by now
    assert await watch.finish() == ["x1"], "the look at close still runs"
    failures = [r for r in caplog.records if r.exc_info and "poll broke" in str(r.exc_info[1])]
    assert len(failures) == 1, "retrieved and logged once"
