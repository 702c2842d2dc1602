"""Cut segments are spoken again, whole, in a new session; the retries are bounded and every session
the run opens counts toward the cost caps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from retelling_support import (
    OPTIMISTIC_RATES,
    SENTENCES,
    assert_spoken_whole_once_in_order,
    run,
    scripts_in,
    settings,
    spoken_texts,
    wait_speaking,
)
from session_support import AVATAR, async_client, session_of
from task_support import FakeTI, make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowFailException
from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.streaming.conversation import SegmentAttemptsExhaustedError
from airflow_provider_akool.streaming.runner import RetellingFailedError, RetellingRunner, SessionCapReachedError

pytestmark = pytest.mark.timeout(60)


async def test_a_session_closed_under_the_avatar_mid_segment_is_recovered(akool_sim_factory: Any) -> None:
    sim = akool_sim_factory(time_scale=50, profile="default")
    scripts = scripts_in("ja", 4)
    runner = RetellingRunner(settings("ja"), scripts)
    task = asyncio.create_task(run(sim, runner))
    session_id = await wait_speaking(sim, runner)
    async with async_client(sim) as client:  # the room closes under the avatar (someone else's close)
        await client.close_session(session_id)
    result = await task

    manifest = result.to_manifest()
    assert manifest["status"] == "completed"
    assert_spoken_whole_once_in_order(sim, result, scripts)
    first = session_of(sim, session_id)
    assert first["segments"][-1]["interrupted"], "the avatar was cut off mid-segment"
    cut = next(s for s in manifest["segments"] if len(s["attempts"]) == 2)
    assert [a["outcome"] for a in cut["attempts"]] == ["cut", "spoken"]
    assert "AvatarLeftError" in cut["attempts"][0]["reason"] or "TransportClosed" in cut["attempts"][0]["reason"]
    assert manifest["totals"]["cuts"] == 1 and manifest["totals"]["recovered"] == 1
    assert manifest["sessions"][1]["opened_for"] == "recovery"


async def test_retries_of_a_cut_segment_are_bounded(akool_sim_factory: Any) -> None:
    sim = akool_sim_factory(time_scale=50, profile="default")
    scripts = scripts_in("ko", 3)
    runner = RetellingRunner(settings("ko", max_segment_attempts=2), scripts)
    task = asyncio.create_task(run(sim, runner))
    for attempt in range(2):  # the channel drops in every session, while the first script is spoken
        session_id = await wait_speaking(sim, runner, sessions_seen=attempt)
        await asyncio.to_thread(sim.drop_channel, session_id)
    with pytest.raises(RetellingFailedError) as caught:
        await task

    assert isinstance(caught.value.__cause__, SegmentAttemptsExhaustedError)
    assert "was not spoken whole in 2 session(s)" in str(caught.value)
    result = caught.value.result
    assert [s.status for s in result.segments] == ["failed", "not_sent", "not_sent"]
    assert [a["outcome"] for a in result.segments[0].attempts] == ["cut", "cut"]
    state = sim.state()
    assert len(state["sessions"]) == 2 and state["open_sessions"] == []
    assert spoken_texts(sim) == []


async def test_a_rollover_over_max_sessions_is_refused_and_fails_the_run(akool_sim_factory: Any) -> None:
    sim = akool_sim_factory(time_scale=50, profile="default")
    scripts = [{"id": "opening", "text": SENTENCES["en"][0]}, *scripts_in("en", 7)]
    runner = RetellingRunner(settings("en", speech_rates=OPTIMISTIC_RATES, max_sessions=1), scripts)
    with pytest.raises(RetellingFailedError) as caught:
        await run(sim, runner)

    assert isinstance(caught.value.__cause__, SessionCapReachedError)
    assert str(caught.value).startswith("SessionCapReachedError: max_sessions: another session is needed")
    result = caught.value.result
    statuses = [s.status for s in result.segments]
    spoken = statuses.count("spoken")
    assert 0 < spoken < len(scripts) and statuses == ["spoken"] * spoken + ["not_sent"] * (len(scripts) - spoken)
    state = sim.state()
    assert len(state["sessions"]) == 1 and state["open_sessions"] == []
    assert spoken_texts(sim) == [s["text"] for s in scripts[:spoken]]


async def test_a_recovery_session_over_max_total_session_seconds_is_refused(akool_sim_factory: Any) -> None:
    sim = akool_sim_factory(time_scale=50, profile="default")
    scripts = scripts_in("zh", 3)
    planned = RetellingRunner(settings("zh"), scripts).plans[0].duration
    runner = RetellingRunner(settings("zh", max_total_session_seconds=planned + 30), scripts)
    task = asyncio.create_task(run(sim, runner))
    await asyncio.to_thread(sim.drop_channel, await wait_speaking(sim, runner))
    with pytest.raises(RetellingFailedError, match="max_total_session_seconds: another session of") as caught:
        await task
    assert isinstance(caught.value.__cause__, SessionCapReachedError)
    assert f"over the cap of {planned + 30} s" in str(caught.value)
    state = sim.state()
    assert len(state["sessions"]) == 1 and state["open_sessions"] == []
    assert "spoken" not in [s.status for s in caught.value.result.segments[1:]]


def test_the_operator_fails_without_retry_when_a_cap_stops_the_run(
    akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operator's runner works in real time; akool-sim at 1000x ends the session long before the
    # script is sent, so the run needs a recovery session, which max_sessions=1 refuses.
    set_akool_conn(monkeypatch, akool_sim)
    operator = AkoolRetellingSessionOperator(
        task_id="retell",
        avatar_id=AVATAR,
        scripts=scripts_in("en", 2),
        language="en",
        max_sessions=1,
        retries=2,
    )
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="max_sessions: another session is needed"):
        operator.execute(make_context(ti=ti))
    transcript = ti.xcom("transcript")
    assert transcript["status"] == "failed" and transcript["totals"]["cuts"] == 1
    assert len(akool_sim.state()["sessions"]) == 1 and akool_sim.state()["open_sessions"] == []
