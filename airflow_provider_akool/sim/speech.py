"""How long the sim's avatar takes to say a text: syllables per writing system over a language's rate.

This is the sim's own reading of published speech-rate research (docs/sim.md, "Speaking time"),
written apart from the client's estimator so that a wrong client estimate shows up in tests.
The text is cut into runs of one writing system; each run is counted in syllable-like units
(a Han character, a kana mora, a Hangul block, a vowel group of an alphabetic word, ...) and
spoken at the syllable rate of the language that uses that script. Punctuation between
phrases adds a pause.
"""

from __future__ import annotations

import re
import unicodedata

# Syllables per second of read speech. Pellegrino, Coupe & Marsico 2011 (Language 87(3)): en, de,
# es, fr, it, ja, zh. Coupe et al. 2019 (Science Advances 5(9)): vi, and ko/th/tr/fi/ca/eu/hu/yue/sr
# rounded to 0.5 from their figure. ar: Wilson & Netsell 2009. Others: a mid value of 6.
READ_RATES: dict[str, float] = {
    "en": 6.19,
    "de": 5.97,
    "es": 7.82,
    "fr": 7.18,
    "it": 6.99,
    "ja": 7.84,
    "zh": 5.18,
    "vi": 5.25,
    "ko": 7.0,
    "th": 5.0,
    "tr": 6.5,
    "fi": 7.0,
    "ca": 7.5,
    "eu": 8.0,
    "hu": 6.5,
    "yue": 5.5,
    "sr": 7.0,
    "ar": 5.5,
}
GENERIC_RATE = 6.0
# An avatar voice reads more slowly than the fluent readers of those corpora: broadcast norms are
# ~300 kana-kanji characters a minute for NHK news and ~150-160 words a minute for English.
DELIVERY = 0.85
CLAUSE_PAUSE = 0.2  # seconds, after , ; : and their CJK forms
SENTENCE_PAUSE = 0.45  # seconds, after . ! ? and their CJK forms, and at line breaks
MIN_SECONDS = 0.3

_SENTENCE_END = set(".!?。！？…\n")  # noqa: RUF001 - CJK and non-ASCII forms on purpose
_CLAUSE_END = set(",;:、，；：—–")  # noqa: RUF001 - CJK and non-ASCII forms on purpose
_VOWELS = {
    "latin": set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœāēīōūăąęěįıőűų"),  # noqa: RUF001 - CJK and non-ASCII forms on purpose
    "cyrillic": set("аеёиоуыэюяіїєў"),
    "greek": set("αεηιουωάέήίόύώϊϋΐΰ"),
}
# Where the session's language is unknown, or is not written in this script.
SCRIPT_LANGUAGE = {
    "han": "zh",
    "kana": "ja",
    "hangul": "ko",
    "thai": "th",
    "arabic": "ar",
    "devanagari": "hi",
    "latin": "en",
    "cyrillic": "ru",
    "greek": "el",
    "digit": "en",
    "other": "en",
}
_LANGUAGE_SCRIPTS = {
    "zh": {"han"},
    "yue": {"han"},
    "ja": {"han", "kana"},
    "ko": {"hangul", "han"},
    "th": {"thai"},
    "ar": {"arabic"},
    "fa": {"arabic"},
    "ur": {"arabic"},
    "hi": {"devanagari"},
    "mr": {"devanagari"},
    "ne": {"devanagari"},
    "ru": {"cyrillic"},
    "uk": {"cyrillic"},
    "bg": {"cyrillic"},
    "sr": {"cyrillic", "latin"},
    "el": {"greek"},
}
_SMALL_KANA = set("ゃゅょぁぃぅぇぉゎャュョァィゥェォヮ")  # merge with the kana before them
_DIGITS_SYLLABLES = 1.6  # a digit read as part of a number word ("2024" -> twen-ty twen-ty four)


def script_of(char: str) -> str | None:
    """The writing system of one character, "digit", or None for spaces, punctuation and symbols."""
    code = ord(char)
    if char.isdigit():
        return "digit"
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF or char == "々":
        return "han"
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF:
        return "kana" if char not in "・" else None
    if 0xAC00 <= code <= 0xD7AF:
        return "hangul"
    if 0x0E00 <= code <= 0x0E7F:
        return "thai"
    if 0x0600 <= code <= 0x06FF or 0x0750 <= code <= 0x077F:
        return "arabic" if unicodedata.category(char).startswith("L") else None
    if 0x0900 <= code <= 0x097F:
        return "devanagari"
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    for script in ("LATIN", "CYRILLIC", "GREEK"):
        if name.startswith(script):
            return script.lower()
    return "other"


def _runs(text: str) -> list[tuple[str | None, str]]:
    """Consecutive characters of one script; None runs are what lies between words."""
    runs: list[tuple[str | None, str]] = []
    for char in text:
        script = script_of(char)
        if runs and runs[-1][0] == script:
            runs[-1] = (script, runs[-1][1] + char)
        else:
            runs.append((script, char))
    return runs


def _alphabetic_syllables(word: str, script: str, language: str) -> float:
    vowels = _VOWELS[script]
    groups = len([g for g in re.split(r"[^" + re.escape("".join(sorted(vowels))) + "]+", word.lower()) if g])
    if language == "en" and len(word) > 3 and word.lower().endswith("e") and groups > 1:
        groups -= 1  # silent final e: "there", "voice"
    return max(1.0, float(groups), len(word) / 5.0)  # a long run without vowels is spelt or slurred


def syllables(run: str, script: str, language: str) -> float:
    """Syllable-like units in one run of a single script (morae for Japanese)."""
    if script == "han":
        return 2.0 * len(run) if language == "ja" else float(len(run))  # kanji: mostly two-mora readings
    if script == "kana":
        return float(sum(0 if c in _SMALL_KANA else 1 for c in run))
    if script == "hangul":
        return float(len(run))
    if script == "digit":
        return _DIGITS_SYLLABLES * len(run)
    if script == "thai":
        consonants = sum(1 for c in run if 0x0E01 <= ord(c) <= 0x0E2E)
        return max(1.0, consonants / 1.8)  # vowels and tone marks are separate characters
    if script == "arabic":
        return max(1.0, len(run) / 1.8)  # short vowels are not written
    if script == "devanagari":
        # one akshara per consonant or independent vowel; a virama joins two consonants into one
        letters = sum(1 for c in run if 0x0904 <= ord(c) <= 0x0939 or 0x0958 <= ord(c) <= 0x0961)
        return max(1.0, float(letters - run.count("\u094d")))
    if script in _VOWELS:
        return _alphabetic_syllables(run, script, language)
    return max(1.0, len(run) / 2.0)  # an unknown alphabet: about two letters a syllable


def language_for(script: str, language: str | None) -> str:
    """The session's language when it is written in this script, else the script's usual language."""
    base = (language or "").lower().replace("_", "-").split("-")[0]
    if base == "zh" and language and language.lower() in ("zh-hk", "zh-yue"):
        base = "yue"
    if base:
        scripts = _LANGUAGE_SCRIPTS.get(base, {"latin"})
        if script in scripts or script == "digit":
            return base
    return SCRIPT_LANGUAGE[script]


def base_seconds(text: str, language: str | None = None) -> float:
    """Seconds to say ``text`` at speed 1.0 with a neutral voice, before jitter."""
    runs = _runs(text)
    if not language and any(script == "kana" for script, _ in runs):
        language = "ja"  # Han characters among kana are read as Japanese
    seconds = 0.0
    pending_pause = 0.0
    for script, run in runs:
        if script is None:
            if any(c in _SENTENCE_END for c in run):
                pending_pause = max(pending_pause, SENTENCE_PAUSE)
            elif any(c in _CLAUSE_END for c in run):
                pending_pause = max(pending_pause, CLAUSE_PAUSE)
            continue
        seconds += pending_pause  # a pause counts only between two spoken runs, not at the end
        pending_pause = 0.0
        lang = language_for(script, language)
        seconds += syllables(run, script, lang) / (READ_RATES.get(lang, GENERIC_RATE) * DELIVERY)
    return seconds
