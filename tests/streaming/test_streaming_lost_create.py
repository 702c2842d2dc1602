"""The retelling runner reports a session that a create it gave up on opened after the bounded poll.

akool-sim stalls the first create past the client's timeout (seeded: the second is not stalled); the
poll window is set to end before the stalled create lands, and the data channel is slow to join, so
the late session appears while the runner's own session is in use. The runner's look when it closes
its session must find it and report it as an orphan candidate (reliability finding 1); it does not
close it, since a sibling task may have opened it: the DAG's sweeper closes the candidates.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_akool.client import AsyncAkoolClient, ClientConfig, PendingCreates
from airflow_provider_akool.client.models import CloseResult, Session
from airflow_provider_akool.streaming.lifecycle import CreateWatch
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


class StubClient:
    """A create whose first attempt was ambiguous, and a bounded poll that would take a while."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def create_session(self, *, pending: PendingCreates, **body: Any) -> Session:
        pending.start(5.0)
        pending.before = frozenset()
        pending.attempt_failed(time.monotonic())
        return Session.model_validate({"_id": "ours", "status": 1})

    async def settle_session_creates(self, pending: PendingCreates) -> PendingCreates:
        self.calls.append("settle")
        await asyncio.sleep(pending.seconds_left())
        return pending

    async def recheck_session_creates(self, pending: PendingCreates) -> PendingCreates:
        self.calls.append("recheck")
        pending.candidates.append("x1")
        return pending


async def test_a_cancelled_run_stops_the_poll_and_looks_once() -> None:
    client = StubClient()
    watch = CreateWatch(client)  # type: ignore[arg-type]
    assert (await watch.open({"avatar_id": AVATAR})).id == "ours"
    await asyncio.sleep(0)
    started = time.monotonic()
    assert await watch.finish(wait=False) == ["x1"]
    assert time.monotonic() - started < 1.0, "did not wait for the poll window"
    assert client.calls == ["settle", "recheck"]


class PollingStubClient(StubClient):
    """The bounded poll finds a candidate, then keeps polling; closing the runner's session works."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = asyncio.Event()

    async def settle_session_creates(self, pending: PendingCreates) -> PendingCreates:
        self.calls.append("settle")
        pending.candidates.append("x1")
        await asyncio.sleep(pending.seconds_left())
        return pending

    async def close_session(self, session_id: str) -> Any:
        self.calls.append(f"close {session_id}")
        return CloseResult(session_id=session_id)

    async def get_session(self, session_id: str) -> Session:
        self.closed.set()
        return Session.model_validate({"_id": session_id, "status": 3})


async def test_a_cancellation_while_waiting_for_the_poll_keeps_the_candidates_it_found() -> None:
    client = PollingStubClient()
    runner = RetellingRunner(RetellingSettings(avatar_id=AVATAR, stream_type="sim"), ["Hello there."])

    async def converse(*args: Any) -> None:
        return None

    runner._converse = converse  # type: ignore[method-assign]
    task = asyncio.ensure_future(runner.run(client))  # type: ignore[arg-type]
    await asyncio.wait_for(client.closed.wait(), timeout=5)
    await asyncio.sleep(0.05)  # the runner now waits for the poll (its window is 5 s)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(client.calls) == ["close ours", "settle"]
    assert runner.result.orphan_candidates == ["x1"], "found before the cancellation, still reported"


async def test_a_failed_poll_is_logged_when_the_watch_finishes(caplog: pytest.LogCaptureFixture) -> None:
    class FailingPoll(StubClient):
        async def settle_session_creates(self, pending: PendingCreates) -> PendingCreates:
            raise RuntimeError("poll broke")

    client = FailingPoll()
    watch = CreateWatch(client)  # type: ignore[arg-type]
    await watch.open({"avatar_id": AVATAR})
    await asyncio.sleep(0.01)  # the poll has failed by now
    assert await watch.finish() == ["x1"], "the look at close still runs"
    failures = [r for r in caplog.records if r.exc_info and "poll broke" in str(r.exc_info[1])]
    assert len(failures) == 1, "retrieved and logged once"
