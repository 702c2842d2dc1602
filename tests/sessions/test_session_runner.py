"""The retelling runner against akool-sim: what the avatar spoke, and that every session is closed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from session_support import AVATAR, VOICE, async_client, session_of

from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.streaming.errors import AvatarNotReadyError
from airflow_provider_akool.streaming.runner import RetellingFailedError, RetellingRunner, RetellingSettings
from airflow_provider_akool.streaming.speaker import SetParamsRejectedError

pytestmark = pytest.mark.timeout(60)

SCRIPTS: list[Any] = [
    "Good morning, and welcome aboard.",
    {"id": "unicode", "text": "Café crème, naïve façade, 東京 and 🙂🚀 - all spoken as written. " * 3},
    {"id": "long", "text": "A sentence that keeps going so the chunker has to split it. " * 60},
]


def settings(**overrides: Any) -> RetellingSettings:
    values: dict[str, Any] = {
        "avatar_id": AVATAR,
        "stream_type": "sim",
        "voice_id": VOICE,
        "language": "en",
        "duration": 3600,  # the sim runs 1000x faster than the real-time overheads "auto" budgets for
        "time_scale": 1000.0,
        "fallback_grace": 0.3,
    }
    return RetellingSettings(**{**values, **overrides})


def texts(scripts: list[Any]) -> list[str]:
    return [s if isinstance(s, str) else s["text"] for s in scripts]


async def run(sim: SimServer, runner: RetellingRunner) -> Any:
    async with async_client(sim) as client:
        return await runner.run(client)


async def test_happy_path_avatar_speaks_exactly_the_scripts(akool_sim: SimServer) -> None:
    runner = RetellingRunner(settings(speed=1.1, pron_map={"akool": "ai ku er"}), SCRIPTS)
    result = await run(akool_sim, runner)

    manifest = result.to_manifest()
    json.dumps(manifest)
    assert manifest["status"] == "completed"
    assert [s["id"] for s in manifest["segments"]] == ["seg-0001", "unicode", "long"]
    for segment in manifest["segments"]:
        assert segment["status"] == "spoken"
        assert segment["completion"] == "audio_end"
        assert segment["bot_text_matches"], segment["id"]
        assert segment["sent_at"] <= segment["audio_start_at"] <= segment["audio_end_at"]
    assert manifest["segments"][2]["chunks"] > 1

    (session_id,) = result.session_ids
    session = session_of(akool_sim, session_id)
    assert session["spoken"] == texts(SCRIPTS)
    assert session["mode_type"] == 1 and session["voice_id"] == VOICE and session["language"] == "en"
    assert session["ended_by"] == "close"
    assert akool_sim.state()["open_sessions"] == []
    assert akool_sim.state()["channel"]["violation_counts"] == {}, "pacing kept within the channel limits"
    assert manifest["sessions"][0]["close"]["confirmed_status"] == 3
    assert runner.open_session_ids == []


async def test_auto_duration_sizes_the_session_from_the_scripts(akool_sim_factory: Any) -> None:
    sim = akool_sim_factory(time_scale=20)
    scripts = ["Short opening line.", "A second, slightly longer line to speak after the first one."]
    runner = RetellingRunner(settings(duration="auto", time_scale=20.0), scripts)
    result = await run(sim, runner)
    plan = runner.plans[0]
    # 30 s session overhead + 2 s per segment + 5 % on ~5 s of speech, but at least one minute.
    assert plan.duration == 60
    session = session_of(sim, result.session_ids[0])
    assert session["duration"] == plan.duration
    assert session["spoken"] == scripts and session["ended_by"] == "close"


async def test_set_params_rejected_fails_with_the_code_and_closes(akool_sim: SimServer) -> None:
    akool_sim.set_channel(ack_code=1003)
    runner = RetellingRunner(settings(), SCRIPTS[:1])
    with pytest.raises(RetellingFailedError, match="code 1003") as caught:
        await run(akool_sim, runner)
    assert isinstance(caught.value.__cause__, SetParamsRejectedError)
    assert caught.value.__cause__.code == 1003
    manifest = caught.value.result.to_manifest()
    assert manifest["status"] == "failed"
    assert manifest["sessions"][0]["params_ack"] == "rejected"
    assert [s["status"] for s in manifest["segments"]] == ["not_sent"]
    state = akool_sim.state()
    assert state["open_sessions"] == [] and state["sessions"][0]["spoken"] == []


async def test_ack_typed_cmd_is_accepted(akool_sim: SimServer) -> None:
    akool_sim.set_channel(ack_type="cmd")
    result = await run(akool_sim, RetellingRunner(settings(), SCRIPTS[:1]))
    assert result.sessions[0].params_ack == "ok"


async def test_without_audio_events_the_echo_confirms_each_segment(akool_sim: SimServer) -> None:
    akool_sim.set_channel(emit_audio_events=False)
    result = await run(akool_sim, RetellingRunner(settings(), SCRIPTS))
    manifest = result.to_manifest()
    assert manifest["status"] == "completed"
    assert {s["completion"] for s in manifest["segments"]} == {"echo"}
    assert manifest["totals"]["unconfirmed"] == 0
    assert all(s["bot_text_matches"] for s in manifest["segments"])
    session = session_of(akool_sim, result.session_ids[0])
    assert session["spoken"] == texts(SCRIPTS)
    assert akool_sim.state()["open_sessions"] == []


async def test_avatar_never_ready_times_out_and_closes(akool_sim: SimServer) -> None:
    akool_sim.set_channel(never_join=True)
    with pytest.raises(RetellingFailedError) as caught:
        await run(akool_sim, RetellingRunner(settings(ready_timeout=0.5), SCRIPTS[:2]))
    assert isinstance(caught.value.__cause__, AvatarNotReadyError)
    state = akool_sim.state()
    assert state["open_sessions"] == []
    assert state["sessions"][0]["ended_by"] == "close"
    assert [s.status for s in caught.value.result.segments] == ["not_sent", "not_sent"]


async def test_transport_drop_mid_script_respeaks_the_cut_segment_in_a_new_session(akool_sim_factory: Any) -> None:
    sim = akool_sim_factory(time_scale=50)  # each script speaks for ~0.3 s of real time
    scripts = [f"Part {n}. " + "This part of the script takes a while to say out loud. " * 4 for n in range(6)]
    runner = RetellingRunner(settings(time_scale=50.0), scripts)
    task = asyncio.create_task(run(sim, runner))
    session_id = await wait_for_speech(sim, runner)
    await asyncio.to_thread(sim.drop_channel, session_id)
    result = await task
    manifest = result.to_manifest()
    assert manifest["status"] == "completed"
    state = sim.state()
    assert state["open_sessions"] == [] and all(s["ended_by"] == "close" for s in state["sessions"])
    first, second = (session_of(sim, i) for i in result.session_ids)
    assert first["segments"][0]["interrupted"] and first["spoken"] == []
    assert second["spoken"] == scripts, "the cut script again, whole, then the rest, each once"
    cut = manifest["segments"][0]
    assert [a["outcome"] for a in cut["attempts"]] == ["cut", "spoken"]
    assert [a["session_id"] for a in cut["attempts"]] == result.session_ids
    assert "TransportClosedError" in cut["attempts"][0]["reason"]
    assert manifest["totals"]["cuts"] == 1 and manifest["totals"]["recovered"] == 1
    assert [s["opened_for"] for s in manifest["sessions"]] == ["plan", "recovery"]


async def wait_for_speech(sim: SimServer, runner: RetellingRunner) -> str:
    """Wait until the avatar is in the middle of the first script; return the session id."""
    for _ in range(500):
        ids = runner.open_session_ids
        if ids:
            segments = (await asyncio.to_thread(session_of, sim, ids[0]))["segments"]
            if segments and segments[0]["ended_at"] is None:
                return ids[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the avatar never started speaking")


@pytest.mark.timeout(120)
async def test_rest_faults_at_20_percent_leave_no_session_open(akool_sim_factory: Any) -> None:
    sim = akool_sim_factory(time_scale=1000, fault_rate=0.2, stall_seconds=0.3, seed=7)
    outcomes: list[str] = []
    async with async_client(sim, timeout=1.0, max_attempts=8) as client:
        for n in range(8):
            runner = RetellingRunner(settings(), [f"Run {n}, line one.", f"Run {n}, line two."])
            try:
                await runner.run(client)
                outcomes.append("completed")
            except RetellingFailedError as exc:
                outcomes.append(f"failed: {exc}")
    state = sim.state()
    assert state["faults"]["total"] > 0, "faults were injected"
    assert state["open_sessions"] == [], outcomes
    assert outcomes.count("completed") >= 6, outcomes
    spoken = [text for s in state["sessions"] for text in s["spoken"]]
    assert len(spoken) == len(set(spoken)), "no script spoken twice"
