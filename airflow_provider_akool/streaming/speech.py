"""How long an avatar takes to speak a text: a speaking-time model by writing system, and a meter
that learns the session's real rates from its audio events.

A text is counted per character class (:class:`CharClass`); each class has a rate in characters per
second at speed 1.0. Three figures come out of a model (all divided by the session's ``speed``):

- :meth:`SpeakingTimeModel.expected_seconds`: the typical speaking time (nominal rates);
- :meth:`SpeakingTimeModel.sizing_seconds`: the expected time times ``sizing_margin``, a deliberate
  upper bound for buying session time (``duration="auto"``, splitting, cost caps) and for timeouts;
- :meth:`SpeakingTimeModel.unconfirmed_wait_seconds`: the slowest plausible rates times
  ``slowest_margin``: how long to wait when the avatar sends no audio events at all.

The nominal rates come from published speech-rate figures (``docs/guides/speech-rates.md`` lists the
sources): read English is ~150-170 words a minute (13-15 letters a second), Mandarin ~5 syllables
(= Han characters) a second, Japanese ~7-8 morae (= kana) a second, Korean ~5-6 syllables (= Hangul
blocks) a second. Users override them per class (operator ``speech_rates``, connection extra
``speech_rates`` per language) or with what a previous run measured (:class:`RateMeter`).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from airflow_provider_akool._session_caps import RetellingInputError

__all__ = [
    "DEFAULT_MODEL",
    "NOMINAL_RATES",
    "SLOWEST_RATES",
    "CharClass",
    "ClassCounts",
    "RateMeter",
    "SpeakingTimeModel",
    "SpeechRates",
    "classify",
    "count_classes",
    "language_rates",
]


class CharClass(StrEnum):
    """What a character sounds like, for timing: a script's letters, digits, pauses, or silence."""

    LETTER = "letter"  # Latin, Cyrillic, Greek and other alphabets (and their combining marks)
    HAN = "han"
    KANA = "kana"
    HANGUL = "hangul"
    THAI = "thai"
    ARABIC = "arabic"
    DEVANAGARI = "devanagari"
    DIGIT = "digit"
    PUNCTUATION = "punctuation"
    SPACE = "space"
    SILENT = "silent"  # format and control characters: no time


# Code point ranges of the scripts that have a class of their own (start, end inclusive, class).
_RANGES: tuple[tuple[int, int, CharClass], ...] = (
    (0x0600, 0x06FF, CharClass.ARABIC),
    (0x0750, 0x077F, CharClass.ARABIC),
    (0x08A0, 0x08FF, CharClass.ARABIC),
    (0x0900, 0x097F, CharClass.DEVANAGARI),
    (0x0E00, 0x0E7F, CharClass.THAI),
    (0x1100, 0x11FF, CharClass.HANGUL),
    (0x3040, 0x30FF, CharClass.KANA),
    (0x3130, 0x318F, CharClass.HANGUL),
    (0x31F0, 0x31FF, CharClass.KANA),
    (0x3400, 0x4DBF, CharClass.HAN),
    (0x4E00, 0x9FFF, CharClass.HAN),
    (0xA8E0, 0xA8FF, CharClass.DEVANAGARI),
    (0xA960, 0xA97F, CharClass.HANGUL),
    (0xAC00, 0xD7FF, CharClass.HANGUL),
    (0xF900, 0xFAFF, CharClass.HAN),
    (0xFB50, 0xFDFF, CharClass.ARABIC),
    (0xFE70, 0xFEFF, CharClass.ARABIC),
    (0xFF66, 0xFF9F, CharClass.KANA),
    (0x20000, 0x3FFFF, CharClass.HAN),
)
_STARTS = [start for start, _, _ in _RANGES]


@lru_cache(maxsize=65536)
def classify(char: str) -> CharClass:
    """The class of one character."""
    import unicodedata

    code = ord(char)
    at = bisect_right(_STARTS, code) - 1
    if at >= 0 and code <= _RANGES[at][1]:
        cls = _RANGES[at][2]
        # Punctuation, digits and marks inside a script's block (Arabic comma, Thai digits, the
        # ideographic full stop lives outside these ranges) keep their generic class.
        category = unicodedata.category(char)
        if category.startswith("N"):
            return CharClass.DIGIT
        if category[0] in "PS":
            return CharClass.PUNCTUATION
        return cls
    if char.isspace():
        return CharClass.SPACE
    category = unicodedata.category(char)
    if category.startswith("N"):
        return CharClass.DIGIT
    if category[0] in "PS":
        return CharClass.PUNCTUATION
    if category[0] in "LM":
        return CharClass.LETTER
    return CharClass.SILENT


@dataclass(frozen=True, slots=True)
class ClassCounts:
    """How many characters of each class a text holds."""

    counts: Mapping[CharClass, int]

    def __getitem__(self, cls: CharClass) -> int:
        return self.counts.get(cls, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def count_classes(text: str) -> ClassCounts:
    """Counts per class; linear in the text, with one classification per distinct character."""
    tally: Counter[CharClass] = Counter()
    for char, n in Counter(text).items():
        tally[classify(char)] += n
    tally.pop(CharClass.SILENT, None)
    return ClassCounts(dict(tally))


@dataclass(frozen=True, slots=True)
class SpeechRates:
    """Characters per second at speed 1.0, per class (a class left out is timed as silent)."""

    rates: Mapping[CharClass, float]

    def seconds(self, counts: ClassCounts, speed: float = 1.0) -> float:
        """Seconds to speak ``counts`` at ``speed``."""
        return sum(n / self.rates[cls] for cls, n in counts.counts.items() if cls in self.rates) / speed

    def merged(self, overrides: Mapping[CharClass, float]) -> SpeechRates:
        return SpeechRates({**self.rates, **overrides})

    def to_dict(self) -> dict[str, float]:
        return {str(cls): round(rate, 4) for cls, rate in sorted(self.rates.items())}

    @staticmethod
    def parse(value: Any, where: str) -> dict[CharClass, float]:
        """``{"han": 4.2, ...}`` -> rates; RetellingInputError naming ``where`` and the class."""
        if not isinstance(value, Mapping):
            raise RetellingInputError(f"{where}: must map character classes to characters per second")
        allowed = ", ".join(c.value for c in CharClass if c is not CharClass.SILENT)
        parsed: dict[CharClass, float] = {}
        for key, rate in value.items():
            try:
                cls = CharClass(str(key).strip().lower())
            except ValueError:
                cls = CharClass.SILENT
            if cls is CharClass.SILENT:
                raise RetellingInputError(f"{where}: unknown character class {key!r}; allowed: {allowed}") from None
            number = math.nan if isinstance(rate, bool) else _as_float(rate)
            if not math.isfinite(number) or not 0.1 <= number <= 200:
                raise RetellingInputError(
                    f"{where}.{cls.value}: must be a number of characters per second between 0.1 and 200 (got {rate!r})"
                )
            parsed[cls] = number
        return parsed


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# Typical rates (docs/guides/speech-rates.md). Spaces cost little: word breaks are mostly inside the
# letter rate; punctuation stands for the pause it marks; digits are read out as number words.
NOMINAL_RATES = SpeechRates(
    {
        CharClass.LETTER: 14.0,
        CharClass.HAN: 4.5,
        CharClass.KANA: 7.5,
        CharClass.HANGUL: 5.5,
        CharClass.THAI: 12.0,
        CharClass.ARABIC: 11.0,
        CharClass.DEVANAGARI: 12.0,
        CharClass.DIGIT: 3.0,
        CharClass.PUNCTUATION: 4.0,
        CharClass.SPACE: 40.0,
    }
)

# The slowest plausible rates (slow, deliberate read speech at speed 1.0): roughly the low end of
# the published ranges, about 0.65x the nominal ones.
SLOWEST_RATES = SpeechRates(
    {
        CharClass.LETTER: 9.0,
        CharClass.HAN: 3.0,
        CharClass.KANA: 5.0,
        CharClass.HANGUL: 3.5,
        CharClass.THAI: 8.0,
        CharClass.ARABIC: 7.0,
        CharClass.DEVANAGARI: 8.0,
        CharClass.DIGIT: 2.0,
        CharClass.PUNCTUATION: 2.5,
        CharClass.SPACE: 25.0,
    }
)


@dataclass(frozen=True, slots=True)
class SpeakingTimeModel:
    """Expected, sizing and no-confirmation speaking times of a text (see the module docstring)."""

    rates: SpeechRates = NOMINAL_RATES
    slowest: SpeechRates = SLOWEST_RATES
    sizing_margin: float = 1.3
    slowest_margin: float = 1.2

    def expected_seconds(self, text: str | ClassCounts, speed: float = 1.0) -> float:
        return self.rates.seconds(_counts(text), speed)

    def sizing_seconds(self, text: str | ClassCounts, speed: float = 1.0) -> float:
        return self.expected_seconds(text, speed) * self.sizing_margin

    def unconfirmed_wait_seconds(self, text: str | ClassCounts, speed: float = 1.0) -> float:
        return self.slowest.seconds(_counts(text), speed) * self.slowest_margin

    def with_rates(self, overrides: Mapping[CharClass, float]) -> SpeakingTimeModel:
        """The model with some nominal rates replaced. A slowest rate is lowered to stay at or under
        0.65x a replaced nominal rate, so the no-confirmation wait still bounds the new rate."""
        if not overrides:
            return self
        slowest = {cls: min(self.slowest.rates.get(cls, rate), rate * 0.65) for cls, rate in overrides.items()}
        return SpeakingTimeModel(
            self.rates.merged(overrides), self.slowest.merged(slowest), self.sizing_margin, self.slowest_margin
        )


DEFAULT_MODEL = SpeakingTimeModel()


def _counts(text: str | ClassCounts) -> ClassCounts:
    return text if isinstance(text, ClassCounts) else count_classes(text)


def language_rates(per_language: Any, language: str | None, where: str) -> dict[CharClass, float]:
    """Rate overrides for ``language`` from ``{"zh": {"han": 4.2}, "*": {...}}`` (a connection extra).

    ``*`` applies to every language; then the primary subtag (``zh`` for ``zh-CN``); then the whole
    tag, case-insensitively, each overriding the one before.
    """
    if per_language is None:
        return {}
    if not isinstance(per_language, Mapping):
        raise RetellingInputError(f"{where}: must map language codes (or '*') to rates per character class")
    by_key = {str(k).strip().lower(): v for k, v in per_language.items()}
    keys = ["*"]
    if language:
        tag = language.strip().lower().replace("_", "-")
        keys += [tag.split("-")[0], tag]
    merged: dict[CharClass, float] = {}
    for key in dict.fromkeys(keys):  # ordered, without repeats
        if key in by_key:
            merged.update(SpeechRates.parse(by_key[key], f"{where}.{key}"))
    return merged


@dataclass
class RateMeter:
    """Learns a session's real rates per class from (text, measured speaking seconds) pairs.

    A segment gives one total time for a mix of classes; the time is shared out over its classes in
    proportion to the model's expected time for each, so every class in the segment is scaled by the
    same observed/expected factor. A class measured over at least ``min_class_seconds`` gets its own
    rate; the others are the nominal rates scaled by the overall factor (an avatar twice as slow in
    Latin letters is likely slow in digits too). Rates are normalised to speed 1.0.
    """

    model: SpeakingTimeModel = DEFAULT_MODEL
    min_class_seconds: float = 2.0
    _chars: Counter[CharClass] = field(default_factory=Counter)
    _seconds: dict[CharClass, float] = field(default_factory=dict)
    _expected_total: float = 0.0
    _observed_total: float = 0.0
    samples: int = 0

    def observe(self, text: str | ClassCounts, speaking_seconds: float, speed: float = 1.0) -> None:
        """Record that ``text`` took ``speaking_seconds`` (audio_start to audio_end) at ``speed``."""
        counts = _counts(text)
        expected = {
            cls: n / self.model.rates.rates[cls] for cls, n in counts.counts.items() if cls in self.model.rates.rates
        }
        total = sum(expected.values())
        if total <= 0 or not speaking_seconds > 0:
            return
        observed = speaking_seconds * speed  # as if spoken at speed 1.0
        for cls, part in expected.items():
            self._chars[cls] += counts[cls]
            self._seconds[cls] = self._seconds.get(cls, 0.0) + observed * part / total
        self._expected_total += total
        self._observed_total += observed
        self.samples += 1

    @property
    def factor(self) -> float | None:
        """Observed / expected speaking time over everything measured (None before any sample)."""
        return self._observed_total / self._expected_total if self._expected_total > 0 else None

    def measured(self) -> dict[CharClass, float]:
        """Rates of the classes measured long enough to stand on their own."""
        return {
            cls: self._chars[cls] / secs
            for cls, secs in self._seconds.items()
            if secs >= self.min_class_seconds and self._chars[cls] > 0
        }

    def rates(self) -> dict[CharClass, float]:
        """Every class: measured where possible, else nominal / overall factor. Empty before a sample."""
        factor = self.factor
        if factor is None:
            return {}
        scaled = {cls: rate / factor for cls, rate in self.model.rates.rates.items()}
        return {**scaled, **self.measured()}

    def learned_model(self) -> SpeakingTimeModel:
        """The model with the learned rates (the model itself before any sample)."""
        return self.model.with_rates(self.rates())

    def summary(self) -> dict[str, Any]:
        """For the transcript: rates per class (chars/s at speed 1.0), which were measured, the factor."""
        factor = self.factor
        return {
            "samples": self.samples,
            "factor": None if factor is None else round(factor, 4),
            "rates": SpeechRates(self.rates()).to_dict(),
            "measured_classes": sorted(str(c) for c in self.measured()),
        }
