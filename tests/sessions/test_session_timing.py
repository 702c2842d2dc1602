"""Timing that holds when the avatar is slower than planned: the run measures the avatar's rate and
rolls over to a new session before one runs out, in English, Mandarin, Japanese and Korean, at
speeds 0.8 and 1.0; what it measured starts the next run."""

from __future__ import annotations

from typing import Any

import pytest
from retelling_support import (
    LANGUAGES,
    OPTIMISTIC_RATES,
    SENTENCES,
    assert_spoken_whole_once_in_order,
    run,
    scripts_in,
    settings,
)

from airflow_provider_akool.streaming.runner import RetellingRunner

pytestmark = pytest.mark.timeout(90)
# These pin the sim's default behaviour (they assert audio_end completion); test_session_profiles.py
# runs the same scenarios under every profile.


@pytest.mark.parametrize("speed", [0.8, 1.0])
@pytest.mark.parametrize("language", LANGUAGES)
async def test_an_avatar_slower_than_planned_gets_a_new_session_instead_of_running_out(
    akool_sim_factory: Any, language: str, speed: float
) -> None:
    sim = akool_sim_factory(time_scale=50, profile="default")
    # A one-sentence opening (the first segment of a session is held to the slowest plausible rate
    # until the avatar shows audio events), then seven scripts of about 20 s each.
    size = 300 if language == "en" else 120  # the CJK scripts are ~10x slower than the optimistic rates
    scripts = [{"id": "opening", "text": SENTENCES[language][0]}, *scripts_in(language, 7, min_chars=size)]
    runner = RetellingRunner(settings(language, speed=speed, speech_rates=OPTIMISTIC_RATES), scripts)
    assert len(runner.plans) == 1, "planned at the optimistic rate: everything fits one session"

    result = await run(sim, runner)

    manifest = result.to_manifest()
    assert manifest["status"] == "completed"
    assert_spoken_whole_once_in_order(sim, result, scripts)
    assert manifest["totals"]["rollovers"] >= 1 and manifest["totals"]["cuts"] == 0
    assert [s["opened_for"] for s in manifest["sessions"]][1:] == ["rollover"] * (len(manifest["sessions"]) - 1)
    assert {s["completion"] for s in manifest["segments"]} == {"audio_end"}
    rates = manifest["speech_rates"]
    assert rates["language"] == language and rates["speed"] == speed and rates["samples"] == len(scripts)
    assert rates["factor"] > 2, "the avatar is measured about three times slower than the optimistic rates"
    # The first session was sized for the optimistic rate; the next from the measured one.
    first, *rest = manifest["sessions"]
    assert all(s["duration"] > first["duration"] * len(s["segment_ids"]) / len(first["segment_ids"]) for s in rest)


async def test_the_measured_rates_size_the_next_run_so_it_needs_no_rollover(akool_sim_factory: Any) -> None:
    sim = akool_sim_factory(time_scale=50, profile="default")
    scripts = [{"id": "opening", "text": SENTENCES["zh"][0]}, *scripts_in("zh", 6, min_chars=120)]
    first = await run(sim, RetellingRunner(settings("zh", speech_rates=OPTIMISTIC_RATES), scripts))
    block = first.to_manifest()["speech_rates"]
    assert block["avatar_id"] and "han" in block["measured_classes"]
    assert first.to_manifest()["totals"]["rollovers"] >= 1

    second = RetellingRunner(settings("zh", speech_rates=block), scripts)  # the block as it is
    assert (
        second.plans[0].duration
        > 1.5 * RetellingRunner(settings("zh", speech_rates=OPTIMISTIC_RATES), scripts).plans[0].duration
    )
    result = await run(sim, second)
    manifest = result.to_manifest()
    assert manifest["status"] == "completed" and manifest["totals"]["rollovers"] == 0
    assert len(manifest["sessions"]) == 1


async def test_a_script_too_long_for_a_session_at_the_measured_rate_is_split_at_sentences(
    akool_sim_factory: Any,
) -> None:
    sim = akool_sim_factory(time_scale=50, profile="default")
    opening = scripts_in("en", 1, min_chars=150)
    long = {"id": "long", "text": " ".join(s["text"] for s in scripts_in("en", 4, min_chars=250))}
    scripts = [*opening, long]
    # 150 s sessions: at the optimistic rate the long script fits one; at the measured rate it does not.
    runner = RetellingRunner(settings("en", duration=150, speech_rates=OPTIMISTIC_RATES), scripts)
    assert [s.id for p in runner.plans for s in p.segments] == ["en-0", "long"]

    result = await run(sim, runner)

    assert result.completed
    ids = [s.id for s in result.segments]
    assert ids[0] == "en-0" and len(ids) >= 3 and ids[1:] == [f"long#{n}" for n in range(1, len(ids))]
    assert all(s.split_from == "long" for s in result.segments[1:])
    assert all(p.text.endswith(". ") or p is result.segments[-1] for p in result.segments[1:]), "cut at sentences"
    assert_spoken_whole_once_in_order(sim, result, scripts)
