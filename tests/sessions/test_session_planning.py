"""Planning: input checks, duration="auto", splitting over 3600 s, batches for a DAG."""

from __future__ import annotations

import math
from typing import Any

import pytest
from session_support import AVATAR, async_client

from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.streaming.planning import (
    DurationPolicy,
    RetellingInputError,
    Segment,
    check_duration,
    estimate_speaking_seconds,
    group_into_batches,
    normalise_scripts,
    plan_sessions,
    split_text,
)
from airflow_provider_akool.streaming.runner import RetellingRunner, RetellingSettings


def test_scripts_take_strings_and_objects_with_default_ids() -> None:
    segments = normalise_scripts(["One.", {"text": "Two."}, {"id": 7, "text": "Three."}])
    assert segments == [Segment("seg-0001", "One."), Segment("seg-0002", "Two."), Segment("7", "Three.")]


@pytest.mark.parametrize(
    ("scripts", "field"),
    [
        (None, "scripts: must be a list"),
        ({"text": "x"}, "scripts: must be a list"),
        ([42], "scripts[0]: must be a string or"),
        ([{"text": "x", "voice": "y"}], "scripts[0]: unknown field(s) ['voice']"),
        ([{"id": "", "text": "x"}], "scripts[0].id"),
    ],
)
def test_bad_scripts_name_the_field(scripts: Any, field: str) -> None:
    with pytest.raises(RetellingInputError) as caught:
        normalise_scripts(scripts)
    assert str(caught.value).startswith(field)


def test_duration_accepts_auto_and_whole_seconds() -> None:
    assert check_duration("AUTO") == "auto"
    assert check_duration("600") == 600
    assert check_duration(3600.0) == 3600
    for bad in (0, 3601, 12.5, True, None):
        with pytest.raises(RetellingInputError, match="duration"):
            check_duration(bad)


def test_auto_duration_is_the_speech_upper_bound_plus_overheads_within_limits() -> None:
    policy = DurationPolicy()
    segments = [Segment(str(n), "x" * 900) for n in range(10)]
    bound = sum(policy.speech.sizing_seconds(s.text) for s in segments)
    assert bound > sum(policy.speech.expected_seconds(s.text) for s in segments), "sizing has a margin"
    assert policy.duration_for(segments, 1.0) == math.ceil(bound + 30 + 10 * 2)
    assert policy.duration_for(segments, 1.2) < policy.duration_for(segments, 0.8)
    assert policy.duration_for([Segment("s", "Hi.")], 1.0) == 60  # never under a minute


def test_auto_duration_buys_more_time_for_scripts_spoken_slower_per_character() -> None:
    english = "The weather is fine today and we will talk about it for a while. " * 20
    mandarin = "今天天气很好，我们要聊一会儿天气的事情。" * 65  # noqa: RUF001 - about as many characters
    plans_en = plan_sessions([Segment("en", english)])
    plans_zh = plan_sessions([Segment("zh", mandarin)])
    assert abs(len(english) - len(mandarin)) < 0.05 * len(english)
    assert plans_zh[0].duration > 2.5 * plans_en[0].duration


def test_speech_rate_overrides_change_the_plan() -> None:
    text = "今天天气很好。" * 200
    default = RetellingRunner(RetellingSettings(avatar_id="a", stream_type="sim"), [text])
    slower = RetellingRunner(RetellingSettings(avatar_id="a", stream_type="sim", speech_rates={"han": 2.0}), [text])
    assert slower.plans[0].duration > 1.8 * default.plans[0].duration - 60
    measured = {"rates": {"han": 2.0}, "samples": 3, "factor": 1.9}  # a transcript's measured block
    again = RetellingRunner(RetellingSettings(avatar_id="a", stream_type="sim", speech_rates=measured), [text])
    assert again.plans[0].duration == slower.plans[0].duration
    with pytest.raises(RetellingInputError, match=r"speech_rates: unknown character class 'klingon'"):
        RetellingSettings(avatar_id="a", stream_type="sim", speech_rates={"klingon": 3}).checked()
    with pytest.raises(RetellingInputError, match=r"speech_rates.han: must be a number"):
        RetellingSettings(avatar_id="a", stream_type="sim", speech_rates={"han": 0}).checked()


def test_scripts_over_an_hour_spread_over_sessions_and_split_when_alone_too_long() -> None:
    long_text = "This sentence is one of many in a very long script. " * 1200  # ~4,200 s
    segments = [Segment("intro", "Hello."), Segment("epic", long_text), Segment("outro", "Bye.")]
    plans = plan_sessions(segments, duration="auto")
    assert len(plans) >= 2
    assert all(p.duration <= 3600 for p in plans)
    ids = [s.id for p in plans for s in p.segments]
    assert ids[0] == "intro" and ids[-1] == "outro"
    parts = [s for p in plans for s in p.segments if s.id.startswith("epic#")]
    assert [s.id for s in parts] == [f"epic#{n}" for n in range(1, len(parts) + 1)]
    assert "".join(s.text for s in parts) == long_text
    assert all(s.text.endswith(". ") for s in parts[:-1]), "cut at sentence ends"


def test_explicit_duration_packs_sessions_to_that_size() -> None:
    segments = [Segment(str(n), "y" * 600) for n in range(4)]
    policy = DurationPolicy()
    duration = math.ceil(policy.needed_seconds(segments[:2], 1.0)) + 1  # two fit, three do not
    assert policy.needed_seconds(segments[:3], 1.0) > duration
    plans = plan_sessions(segments, duration=duration)
    assert [len(p.segments) for p in plans] == [2, 2] and {p.duration for p in plans} == {duration}


def test_split_text_never_loses_characters() -> None:
    text = "word " * 50 + "x" * 500 + " 東京🙂" * 30
    pieces = split_text(text, 97)
    assert "".join(pieces) == text and all(0 < len(p) <= 97 for p in pieces)


def test_batches_balance_speaking_time_and_keep_input_order() -> None:
    segments = [Segment(f"s{n:02d}", "z" * (100 + 37 * n)) for n in range(30)]
    batches = group_into_batches(segments, min_batches=4)
    assert len(batches) == 4
    loads = [sum(estimate_speaking_seconds(s.text) for s in b) for b in batches]
    assert max(loads) / min(loads) < 1.1
    for batch in batches:
        assert [s.id for s in batch] == sorted(s.id for s in batch)
    assert sorted(s.id for b in batches for s in b) == [s.id for s in segments]


def test_batches_grow_in_number_to_fit_the_session_size() -> None:
    segments = [Segment(str(n), "w" * 900) for n in range(10)]
    policy = DurationPolicy()
    per_session = max(n for n in range(1, 11) if policy.needed_seconds(segments[:n], 1.0) <= 300)
    batches = group_into_batches(segments, min_batches=1, session_seconds=300)
    assert all(policy.needed_seconds(b, 1.0) <= 300 for b in batches)
    assert len(batches) == math.ceil(10 / per_session)
    assert group_into_batches(segments[:2], min_batches=5) == [[segments[0]], [segments[1]]]


@pytest.mark.timeout(60)
async def test_runner_uses_several_sessions_when_scripts_do_not_fit_one(akool_sim_factory: Any) -> None:
    sim: SimServer = akool_sim_factory(time_scale=50)
    scripts = [f"Script {n}. " + "Every script here takes about a minute to say out loud. " * 16 for n in range(4)]
    settings = RetellingSettings(avatar_id=AVATAR, stream_type="sim", duration=180, time_scale=50.0)
    runner = RetellingRunner(settings, scripts)
    assert len(runner.plans) >= 2
    async with async_client(sim) as client:
        result = await runner.run(client)
    manifest = result.to_manifest()
    assert manifest["status"] == "completed"
    state = sim.state()
    # However many sessions the avatar's real pace needs: each script once, in order, and every
    # session closed by the run before it ran out (a rollover, never a cut).
    spoken = [s["spoken"] for s in state["sessions"]]
    assert len(spoken) >= 2 and [t for texts in spoken for t in texts] == scripts
    assert state["open_sessions"] == [] and all(s["ended_by"] == "close" for s in state["sessions"])
    assert [s["ended_by"] for s in manifest["sessions"]] == ["rollover"] * (len(spoken) - 1) + ["done"]
    assert manifest["totals"]["cuts"] == 0
