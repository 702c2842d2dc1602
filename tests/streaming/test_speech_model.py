"""The speaking-time model: character classes, per-script times, overrides, and learning from a session."""

from __future__ import annotations

import pytest

from airflow_provider_akool._session_caps import RetellingInputError
from airflow_provider_akool.streaming.speech import (
    DEFAULT_MODEL,
    CharClass,
    RateMeter,
    SpeechRates,
    count_classes,
    language_rates,
)

SAME_IDEA = {  # "the weather is good today, let us take a walk in the park" in each language
    "en": "The weather is good today, let us take a walk in the park.",
    "zh": "今天天气很好，我们去公园散步吧。",  # noqa: RUF001
    "ja": "今日はいい天気ですね、公園を散歩しましょう。",
    "ko": "오늘 날씨가 좋네요, 공원에서 산책합시다.",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, мир Ελλάδα", {CharClass.LETTER: 14, CharClass.PUNCTUATION: 1, CharClass.SPACE: 2}),
        ("天气。", {CharClass.HAN: 2, CharClass.PUNCTUATION: 1}),
        ("ひらがなカタカナー", {CharClass.KANA: 9}),
        ("한국어 ᄀ", {CharClass.HANGUL: 4, CharClass.SPACE: 1}),
        ("สวัสดี ๑๒", {CharClass.THAI: 6, CharClass.SPACE: 1, CharClass.DIGIT: 2}),
        ("مرحبا، ٣", {CharClass.ARABIC: 5, CharClass.PUNCTUATION: 1, CharClass.SPACE: 1, CharClass.DIGIT: 1}),
        ("नमस्ते।", {CharClass.DEVANAGARI: 6, CharClass.PUNCTUATION: 1}),
        ("a\u200bb\u2060", {CharClass.LETTER: 2}),  # zero-width characters take no time
    ],
)
def test_characters_fall_in_their_writing_systems_class(text: str, expected: dict[CharClass, int]) -> None:
    assert dict(count_classes(text).counts) == expected


def test_han_kana_and_hangul_scripts_take_longer_per_character_than_english() -> None:
    per_char = {lang: DEFAULT_MODEL.expected_seconds(t) / len(t) for lang, t in SAME_IDEA.items()}
    for lang in ("zh", "ja", "ko"):
        assert per_char[lang] > 2 * per_char["en"], lang
    english_rate = len(SAME_IDEA["en"]) / DEFAULT_MODEL.expected_seconds(SAME_IDEA["en"])
    mandarin_rate = len(SAME_IDEA["zh"]) / DEFAULT_MODEL.expected_seconds(SAME_IDEA["zh"])
    assert 12 <= english_rate <= 16 and 3.5 <= mandarin_rate <= 5.5  # the natural ranges in the issue


def test_bounds_are_ordered_and_scale_with_speed() -> None:
    text = SAME_IDEA["ja"] * 10
    expected, sizing = DEFAULT_MODEL.expected_seconds(text), DEFAULT_MODEL.sizing_seconds(text)
    wait = DEFAULT_MODEL.unconfirmed_wait_seconds(text)
    assert expected < sizing < wait
    assert DEFAULT_MODEL.expected_seconds(text, 0.8) == pytest.approx(expected / 0.8)
    assert DEFAULT_MODEL.sizing_seconds(text, 1.2) < sizing


def test_overrides_replace_rates_and_keep_the_wait_a_bound() -> None:
    slow = DEFAULT_MODEL.with_rates({CharClass.HAN: 2.0})
    text = "天气" * 50
    assert slow.expected_seconds(text) == pytest.approx(50.0)
    assert slow.unconfirmed_wait_seconds(text) > slow.sizing_seconds(text)
    assert slow.expected_seconds("abc") == DEFAULT_MODEL.expected_seconds("abc")


def test_rates_parse_names_the_field() -> None:
    assert SpeechRates.parse({"HAN": "4", "letter": 12}, "speech_rates") == {CharClass.HAN: 4.0, CharClass.LETTER: 12.0}
    with pytest.raises(RetellingInputError, match=r"^speech_rates: unknown character class 'silent'"):
        SpeechRates.parse({"silent": 1}, "speech_rates")
    for bad in (0, -1, "fast", True, 1e9, float("nan")):
        with pytest.raises(RetellingInputError, match=r"^speech_rates\.kana: must be a number"):
            SpeechRates.parse({"kana": bad}, "speech_rates")
    with pytest.raises(RetellingInputError, match=r"^speech_rates: must map"):
        SpeechRates.parse([4.0], "speech_rates")


def test_language_rates_layer_star_primary_subtag_and_full_tag() -> None:
    extra = {"*": {"digit": 2.5, "han": 4.0}, "zh": {"han": 4.2}, "zh-TW": {"han": 3.8}}
    assert language_rates(extra, "zh-tw", "x") == {CharClass.DIGIT: 2.5, CharClass.HAN: 3.8}
    assert language_rates(extra, "zh_CN", "x") == {CharClass.DIGIT: 2.5, CharClass.HAN: 4.2}
    assert language_rates(extra, None, "x") == {CharClass.DIGIT: 2.5, CharClass.HAN: 4.0}
    assert language_rates(None, "en", "x") == {}
    with pytest.raises(RetellingInputError, match=r"^conn extra speech_rates\.ja\.kana"):
        language_rates({"ja": {"kana": "slow"}}, "ja", "conn extra speech_rates")


def test_meter_learns_a_slower_avatar_per_class_and_scales_the_unmeasured_ones() -> None:
    meter = RateMeter()
    assert meter.rates() == {} and meter.learned_model() is DEFAULT_MODEL
    text = "天气很好" * 10  # 40 Han characters
    meter.observe(text, 40 / 3.0, speed=1.0)  # the avatar speaks 3 Han characters a second
    meter.observe(text, 40 / 3.0 / 0.8 * 1.0, speed=0.8)  # the same rate, at speed 0.8
    rates = meter.rates()
    assert rates[CharClass.HAN] == pytest.approx(3.0)
    assert meter.factor == pytest.approx(4.5 / 3.0)
    assert rates[CharClass.LETTER] == pytest.approx(14.0 / (4.5 / 3.0)), "unmeasured classes follow the factor"
    learned = meter.learned_model()
    assert learned.expected_seconds("天" * 30) == pytest.approx(10.0)
    summary = meter.summary()
    assert summary["samples"] == 2 and summary["measured_classes"] == ["han"]
    assert SpeechRates.parse(summary["rates"], "speech_rates")[CharClass.HAN] == pytest.approx(3.0)


def test_meter_ignores_samples_without_time_or_speech() -> None:
    meter = RateMeter()
    meter.observe("\u200b", 3.0)
    meter.observe("hello", 0.0)
    assert meter.samples == 0 and meter.factor is None
