"""What the sim's avatar will say for one chat and for how long; also the set-params checks.

Speaking time = the text's model time (sim/speech.py) / (voice factor x speed x rate scale),
times a seeded per-segment jitter (sim/voices.py). Nothing here is shared with the client.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .config import SimConfig
from .speech import MIN_SECONDS, base_seconds
from .voices import segment_jitter, voice_factor

BOT_PIECE_CHARS = 300


@dataclass(frozen=True)
class Utterance:
    seconds: float
    language: str | None
    speed: float
    voice: str
    voice_factor: float
    jitter: float


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def plan_utterance(text: str, params: dict[str, Any], session: Any, config: SimConfig, index: int) -> Utterance:
    """Speaking time of segment ``index`` of ``session``; set-params values win over the session's."""
    vparams = params.get("vparams") if isinstance(params.get("vparams"), dict) else {}
    assert isinstance(vparams, dict)
    speed = _number(vparams.get("speed")) or _number(session.voice_params.get("speed")) or 1.0
    language = _text(params.get("lang")) or _text(session.language)
    voice = (
        _text(vparams.get("vid"))
        or _text(params.get("vid"))
        or _text(session.voice_id)
        or f"avatar:{session.avatar_id}"
    )  # no voice given: the avatar's own voice
    factor = voice_factor(voice, config.voice_rate_factors, config.voice_factor_min, config.voice_factor_max)
    jitter = segment_jitter(config.seed, session.session_id, index, config.speech_jitter)
    seconds = base_seconds(text, language) / (factor * speed * config.speech_rate_scale) * jitter
    return Utterance(max(MIN_SECONDS, seconds), language, speed, voice, factor, jitter)


def split_pieces(text: str) -> list[str]:
    """Bot text in several pieces (at least 3 when long enough), each at most BOT_PIECE_CHARS."""
    if len(text) <= 1:
        return [text]
    count = max(min(3, len(text)), math.ceil(len(text) / BOT_PIECE_CHARS))
    step = math.ceil(len(text) / count)
    return [text[i : i + step] for i in range(0, len(text), step)]


def check_params(data: dict[str, Any]) -> str | None:
    """Why a set-params payload is refused (ack code 1003), or None."""
    vparams = data.get("vparams")
    if vparams is not None and not isinstance(vparams, dict):
        return "vparams must be an object"
    speed = (vparams or {}).get("speed")
    if speed is not None and (not isinstance(speed, int | float) or not 0.8 <= speed <= 1.2):
        return "vparams.speed must be between 0.8 and 1.2"
    mode = data.get("mode")
    if mode is not None and mode not in (1, 2):
        return "mode must be 1 or 2"
    return None
