"""The runner under every akool-sim behaviour profile, in several languages: every script spoken whole,
once, in order, no session left open or run out, and each segment's completion as the profile allows."""

from __future__ import annotations

from typing import Any

import pytest
from retelling_support import (
    OPTIMISTIC_RATES,
    SENTENCES,
    assert_spoken_whole_once_in_order,
    run,
    scripts_in,
    settings,
)

from airflow_provider_akool.sim.profiles import PROFILES
from airflow_provider_akool.streaming.runner import RetellingRunner

pytestmark = pytest.mark.timeout(90)

# How the end of a segment can be known under each profile (no events: the echo; none: estimate).
COMPLETIONS = {"no_audio_events": {"echo"}, "hostile": {"echo"}}
CASES = [
    (profile, language)
    for n, profile in enumerate(sorted(PROFILES))
    for language in (("en", "zh", "ja", "ko")[n % 4], ("ko", "ja", "zh", "en")[n % 4])
]


@pytest.mark.parametrize(("profile", "language"), CASES)
async def test_every_script_is_spoken_whole_once_in_order_under_the_profile(
    akool_sim_factory: Any, profile: str, language: str
) -> None:
    sim = akool_sim_factory(time_scale=50, profile=profile, seed=11)
    scripts = [{"id": "opening", "text": SENTENCES[language][1]}, *scripts_in(language, 3, min_chars=150)]
    speed = 0.8 if language in ("zh", "ko") else 1.0
    result = await run(sim, RetellingRunner(settings(language, speed=speed), scripts))

    manifest = result.to_manifest()
    assert manifest["status"] == "completed", manifest["error"]
    assert_spoken_whole_once_in_order(sim, result, scripts)
    assert {s["completion"] for s in manifest["segments"]} <= COMPLETIONS.get(profile, {"audio_end"})
    assert manifest["totals"]["unconfirmed"] == 0


@pytest.mark.parametrize(
    ("profile", "language"),
    [
        ("hostile", "zh"),
        ("interrupting", "en"),
        ("agora_delivery", "ja"),
        ("finish_at_end", "ko"),
        ("no_audio_events", "en"),
        ("events_own_mid", "zh"),
    ],
)
async def test_an_avatar_slower_than_planned_rolls_over_under_the_profile(
    akool_sim_factory: Any, profile: str, language: str
) -> None:
    sim = akool_sim_factory(time_scale=50, profile=profile, seed=5)
    # Long enough that the real pace clearly needs a second session (English is ~3x slower than the
    # optimistic rates, the CJK scripts ~10x).
    size = 400 if language == "en" else 150
    scripts = [{"id": "opening", "text": SENTENCES[language][0]}, *scripts_in(language, 5, min_chars=size)]
    runner = RetellingRunner(settings(language, speech_rates=OPTIMISTIC_RATES), scripts)
    result = await run(sim, runner)

    manifest = result.to_manifest()
    assert manifest["status"] == "completed", manifest["error"]
    assert_spoken_whole_once_in_order(sim, result, scripts)
    assert manifest["totals"]["rollovers"] >= 1 and manifest["totals"]["cuts"] == 0
    assert manifest["totals"]["unconfirmed"] == 0
