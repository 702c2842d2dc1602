"""The sim's own speaking-time model: natural rates per writing system, speed, voices and jitter."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_akool.sim import SimConfig
from airflow_provider_akool.sim.speaking import plan_utterance
from airflow_provider_akool.sim.speech import base_seconds
from airflow_provider_akool.sim.voices import segment_jitter, voice_factor

# ruff: noqa: RUF001 - CJK punctuation on purpose
ENGLISH = (
    "The morning train was late again, so we walked along the river to the old market. "
    "Nobody minded, because the weather was lovely and the bakery had just opened."
)
MANDARIN = "早上的火车又晚点了，所以我们沿着河边走到老市场。没有人介意，因为天气很好，面包店也刚刚开门。"
JAPANESE = (
    "朝の電車がまた遅れたので、私たちは川沿いを歩いて古い市場まで行きました。"
    "天気が良かったので、誰も気にしませんでした。"
)
KOREAN = (
    "아침 기차가 또 늦어서 우리는 강을 따라 오래된 시장까지 걸어갔습니다. 날씨가 좋아서 아무도 신경 쓰지 않았습니다."
)


def _count(text: str, lo: int, hi: int) -> int:
    return sum(1 for c in text if lo <= ord(c) <= hi)


def _session(**fields: Any) -> SimpleNamespace:
    base = {
        "session_id": "a" * 24,
        "avatar_id": "dvp_Tristan_cloth2_1080P",
        "voice_id": None,
        "language": None,
        "voice_params": {},
    }
    return SimpleNamespace(**{**base, **fields})


def test_natural_rates_per_writing_system() -> None:
    # The targets: English 13-15 letters a second, Mandarin 4-5 characters, ja/ko alike.
    english = sum(c.isalpha() for c in ENGLISH) / base_seconds(ENGLISH, "en")
    mandarin = _count(MANDARIN, 0x4E00, 0x9FFF) / base_seconds(MANDARIN, "zh")
    japanese = len(JAPANESE.replace("、", "").replace("。", "")) / base_seconds(JAPANESE)
    korean = _count(KOREAN, 0xAC00, 0xD7AF) / base_seconds(KOREAN)
    assert 12.5 <= english <= 16
    assert 3.5 <= mandarin <= 5.5
    assert 3.5 <= japanese <= 6.5
    assert 3.5 <= korean <= 6.5


def test_mandarin_takes_about_three_times_longer_than_english_of_the_same_length() -> None:
    english = ENGLISH[: len(MANDARIN)]
    assert len(english) == len(MANDARIN)
    ratio = base_seconds(MANDARIN) / base_seconds(english)
    assert 2.3 <= ratio <= 4.5


def test_script_decides_when_no_language_is_given() -> None:
    assert base_seconds(MANDARIN) == pytest.approx(base_seconds(MANDARIN, "zh-CN"))
    assert base_seconds(JAPANESE) == pytest.approx(base_seconds(JAPANESE, "ja"))
    # A language in another script does not make Han text be read as English.
    assert base_seconds(MANDARIN, "en") == pytest.approx(base_seconds(MANDARIN))


def test_numbers_and_pauses_take_time_and_unknown_scripts_still_speak() -> None:
    assert base_seconds("Room 2024 is open") > base_seconds("Room is open")
    assert base_seconds("Wait, then go. Now") > base_seconds("Wait then go Now")
    assert base_seconds("Hello.") == pytest.approx(base_seconds("Hello"))  # no pause after the last word
    assert base_seconds("გამარჯობა მეგობარო") > 0.5  # Georgian: not modelled, still spoken


def test_slower_speed_and_slower_voice_take_longer() -> None:
    config = SimConfig(speech_jitter=0.0)
    times = {
        s: plan_utterance(ENGLISH, {}, _session(voice_params={"speed": s}), config, 0).seconds for s in (0.8, 1.0, 1.2)
    }
    assert times[0.8] > times[1.0] > times[1.2]
    assert times[0.8] / times[1.2] == pytest.approx(1.5, rel=0.01)
    # set-params speed wins over the session's voice_params.
    by_params = plan_utterance(ENGLISH, {"vparams": {"speed": 0.8}}, _session(voice_params={"speed": 1.2}), config, 0)
    assert by_params.seconds == pytest.approx(times[0.8])


def test_voices_differ_stably_and_an_explicit_factor_wins() -> None:
    factors = {v: voice_factor(v, {}, 0.85, 1.2) for v in ("voice-a", "voice-b", "voice-c", "voice-d")}
    assert len(set(factors.values())) == 4
    assert all(0.85 <= f <= 1.2 for f in factors.values())
    assert voice_factor("voice-a", {}, 0.85, 1.2) == factors["voice-a"]
    config = SimConfig(speech_jitter=0.0, voice_rate_factors={"slow": 0.5, "fast": 1.0})
    slow = plan_utterance(ENGLISH, {}, _session(voice_id="slow"), config, 0).seconds
    fast = plan_utterance(ENGLISH, {"vparams": {"vid": "fast"}}, _session(voice_id="slow"), config, 0).seconds
    assert slow == pytest.approx(2 * fast)


def test_jitter_is_seeded_and_bounded() -> None:
    draws = [segment_jitter(7, "s1", i, 0.1) for i in range(200)]
    assert draws == [segment_jitter(7, "s1", i, 0.1) for i in range(200)]
    assert draws != [segment_jitter(8, "s1", i, 0.1) for i in range(200)]
    assert all(0.9 <= d <= 1.1 for d in draws)
    assert max(draws) - min(draws) > 0.1  # it does vary
    assert segment_jitter(7, "s1", 0, 0.0) == 1.0
