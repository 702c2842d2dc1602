"""Retelling inputs and session planning: scripts -> segments -> sessions, all before any API call.

Speaking time comes from the speaking-time model (``speech``): rates per writing system, and a
deliberate upper bound (``SpeakingTimeModel.sizing_seconds``) for everything that buys session
time. A session is pre-charged for its whole ``duration`` (docs/reference/akool-api.md §2.4, max 3600 s), so
``duration="auto"`` sizes it from that bound plus overheads (:class:`DurationPolicy`), and scripts
that do not fit one session are spread over several, splitting a single over-long script at a
sentence or word boundary. :func:`group_into_batches` does the same one level up, for a DAG that
maps one session task over each batch. :func:`check_session_budget` refuses a plan whose sessions
would together be pre-charged for more than a cap (an accidentally huge script), before anything
is paid for.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

# The caps' defaults and check live in a light module the operator imports at DAG parse time.
from airflow_provider_akool._session_caps import (
    DEFAULT_MAX_TOTAL_SESSION_SECONDS,
    MAX_SESSION_SECONDS,
    RetellingInputError,
    check_session_cap,
)
from airflow_provider_akool.streaming.speech import DEFAULT_MODEL, SpeakingTimeModel

__all__ = [
    "DEFAULT_MAX_TOTAL_SESSION_SECONDS",
    "MAX_SESSION_SECONDS",
    "MAX_SPEED",
    "MIN_SPEED",
    "DurationPolicy",
    "RetellingInputError",
    "Segment",
    "SessionPlan",
    "check_duration",
    "check_session_budget",
    "check_session_cap",
    "check_speed",
    "estimate_speaking_seconds",
    "group_into_batches",
    "normalise_scripts",
    "plan_sessions",
    "split_to_budget",
]

MIN_SPEED, MAX_SPEED = 0.8, 1.2
Duration = int | Literal["auto"]

_SENTENCE_END = re.compile(r"[.!?;\u2026\u3002\uff01\uff1f][\"')\]\u201d\u2019]*\s+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of text the avatar speaks verbatim, with a caller-visible id."""

    id: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text}


@dataclass(frozen=True, slots=True)
class DurationPolicy:
    """How ``duration="auto"`` turns speaking time into session seconds.

    Speaking time is ``speech.sizing_seconds`` (the model's upper bound, margin included);
    ``session_overhead_seconds`` covers the join, the avatar publishing its media and set-params;
    ``segment_overhead_seconds`` the latency before each segment starts. The result is at least
    ``minimum_seconds`` and at most 3600.
    """

    session_overhead_seconds: float = 30.0
    segment_overhead_seconds: float = 2.0
    minimum_seconds: int = 60
    speech: SpeakingTimeModel = DEFAULT_MODEL

    def needed_seconds(self, segments: Sequence[Segment], speed: float) -> float:
        """Unrounded, unclamped seconds a session speaking ``segments`` should last."""
        speaking = sum(self.speech.sizing_seconds(s.text, speed) for s in segments)
        return speaking + self.session_overhead_seconds + self.segment_overhead_seconds * len(segments)

    def duration_for(self, segments: Sequence[Segment], speed: float) -> int:
        """Whole seconds to request for a session speaking ``segments`` (60..3600)."""
        seconds = math.ceil(self.needed_seconds(segments, speed) - 1e-9)
        return min(MAX_SESSION_SECONDS, max(self.minimum_seconds, seconds))

    def speaking_budget(self, cap: float) -> float:
        """Sizing seconds of speech one segment may hold to fit, alone, a session of ``cap`` seconds."""
        return max(1.0, cap - self.session_overhead_seconds - self.segment_overhead_seconds)


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """Segments for one session and the ``duration`` to create it with."""

    segments: tuple[Segment, ...]
    duration: int
    estimated_speaking_seconds: float


def estimate_speaking_seconds(text: str, speed: float = 1.0, model: SpeakingTimeModel = DEFAULT_MODEL) -> float:
    """Expected (typical) seconds the avatar needs to speak ``text`` at ``speed``."""
    return model.expected_seconds(text, speed)


def check_speed(value: Any) -> float:
    """``speed`` as a float in 0.8-1.2 (docs/reference/akool-api.md §2.4 ``voice_params.speed``)."""
    try:
        speed = float(value)
    except (TypeError, ValueError):
        raise RetellingInputError(
            f"speed: must be a number between {MIN_SPEED} and {MAX_SPEED} (got {value!r})"
        ) from None
    if isinstance(value, bool) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise RetellingInputError(f"speed: must be between {MIN_SPEED} and {MAX_SPEED} (got {value!r})")
    return speed


def check_duration(value: Any) -> Duration:
    """``"auto"`` or whole seconds in 1..3600."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not seconds.is_integer() or not 0 < seconds <= MAX_SESSION_SECONDS:
        raise RetellingInputError(
            f"duration: must be 'auto' or whole seconds between 1 and {MAX_SESSION_SECONDS} (got {value!r})"
        )
    return int(seconds)


_UNSPEAKABLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cn", "Co", "Cs"})


def check_speakable(text: str, where: str) -> None:
    """Refuse text that cannot be encoded as UTF-8 (lone surrogates) or has nothing to speak
    (only spaces, controls and invisible format characters such as U+200B)."""
    surrogate = next((ch for ch in text if unicodedata.category(ch) == "Cs"), None)
    if surrogate is not None:
        raise RetellingInputError(f"{where}: contains an unpaired surrogate U+{ord(surrogate):04X} (not valid UTF-8)")
    if all(unicodedata.category(ch) in _UNSPEAKABLE for ch in text):
        raise RetellingInputError(f"{where}: has no speakable characters (only spaces, controls or invisible marks)")


def normalise_scripts(scripts: Any) -> list[Segment]:
    """Validate scripts given as strings or ``{"text": ..., "id": ...}`` objects.

    Ids default to ``seg-0001``, ``seg-0002``... by position; explicit ids must be unique.
    Text is kept verbatim (the avatar speaks it as given), but must not be blank.
    """
    if isinstance(scripts, str | bytes | Mapping) or not isinstance(scripts, Sequence):
        raise RetellingInputError(
            f"scripts: must be a list of strings or of {{text, id}} objects (got {type(scripts).__name__})"
        )
    if not scripts:
        raise RetellingInputError("scripts: must not be empty")
    segments: list[Segment] = []
    seen: set[str] = set()
    for index, item in enumerate(scripts):
        where = f"scripts[{index}]"
        text: Any
        if isinstance(item, str):
            text, given_id = item, None
        elif isinstance(item, Mapping):
            unknown = sorted(set(item) - {"text", "id"})
            if unknown:
                raise RetellingInputError(f"{where}: unknown field(s) {unknown}; allowed: text, id")
            text, given_id = item.get("text"), item.get("id")
        else:
            raise RetellingInputError(f"{where}: must be a string or a {{text, id}} object")
        if not isinstance(text, str) or not text.strip():
            raise RetellingInputError(f"{where}.text: must be a non-empty string")
        check_speakable(text, f"{where}.text")
        if given_id is None:
            segment_id = f"seg-{index + 1:04d}"
        elif isinstance(given_id, str | int) and not isinstance(given_id, bool) and str(given_id).strip():
            segment_id = str(given_id).strip()
        else:
            raise RetellingInputError(f"{where}.id: must be a non-empty string")
        if segment_id in seen:
            raise RetellingInputError(f"{where}.id: duplicate id {segment_id!r}")
        seen.add(segment_id)
        segments.append(Segment(segment_id, text))
    return segments


def split_text(text: str, max_chars: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``max_chars`` characters, preferring sentence ends,
    then whitespace, in the last quarter of each piece. Concatenating the pieces gives ``text``."""
    pieces: list[str] = []
    rest = text
    while len(rest) > max_chars:
        window = rest[: max_chars + 1]
        floor = max_chars * 3 // 4
        cut = _last_boundary(_SENTENCE_END, window, floor) or _last_boundary(_WHITESPACE, window, floor) or max_chars
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return [p for p in pieces if p]


def _last_boundary(pattern: re.Pattern[str], window: str, floor: int) -> int | None:
    best = None
    for match in pattern.finditer(window):
        if floor <= match.end() < len(window):
            best = match.end()
    return best


def _fit(segments: Sequence[Segment], cap: float, speed: float, policy: DurationPolicy) -> list[Segment]:
    """Split every segment too long for a session of ``cap`` seconds on its own: ``id#1``, ``id#2``."""
    budget = policy.speaking_budget(cap)
    fitted: list[Segment] = []
    for segment in segments:
        if policy.needed_seconds([segment], speed) <= cap:
            fitted.append(segment)
            continue
        parts = split_to_budget(segment.text, budget, lambda t: policy.speech.sizing_seconds(t, speed))
        fitted.extend(Segment(f"{segment.id}#{n}", part) for n, part in enumerate(parts, start=1))
    return fitted


def split_to_budget(text: str, budget: float, seconds: Callable[[str], float]) -> list[str]:
    """Pieces of ``text`` each taking at most ``budget`` seconds; a piece denser than the average
    (a run of digits in prose) is split again."""
    total = seconds(text)
    if total <= budget or len(text) <= 1:
        return [text]
    max_chars = max(1, math.floor(len(text) * budget / total))
    pieces: list[str] = []
    for piece in split_text(text, max_chars):
        if len(piece) > 1 and seconds(piece) > budget:
            pieces.extend(split_to_budget(piece, budget, seconds))
        else:
            pieces.append(piece)
    return pieces


def plan_sessions(
    segments: Sequence[Segment],
    *,
    speed: float = 1.0,
    duration: Duration = "auto",
    policy: DurationPolicy | None = None,
) -> list[SessionPlan]:
    """Pack segments, in order, into as few sessions as fit.

    With ``duration="auto"`` a session holds what fits in 3600 s and is sized to its content; with
    explicit seconds every session gets that duration and holds what is estimated to fit in it.
    """
    policy = policy or DurationPolicy()
    cap = float(MAX_SESSION_SECONDS if duration == "auto" else duration)
    plans: list[list[Segment]] = [[]]
    for segment in _fit(segments, cap, speed, policy):
        current = plans[-1]
        if current and policy.needed_seconds([*current, segment], speed) > cap:
            plans.append([segment])
        else:
            current.append(segment)
    return [
        SessionPlan(
            segments=tuple(group),
            duration=policy.duration_for(group, speed) if duration == "auto" else int(duration),
            estimated_speaking_seconds=sum(policy.speech.expected_seconds(s.text, speed) for s in group),
        )
        for group in plans
        if group
    ]


def check_session_budget(
    plans: Sequence[SessionPlan],
    *,
    max_sessions: int | None = None,
    max_total_session_seconds: int | None = DEFAULT_MAX_TOTAL_SESSION_SECONDS,
) -> None:
    """Refuse a plan that would open more than ``max_sessions`` sessions or pre-charge more than
    ``max_total_session_seconds`` in total (the sum of the planned ``duration``s, which Akool charges
    up front). None disables a cap. The message names the cap, the planned and the allowed numbers.
    """
    sessions = len(plans)
    total = sum(plan.duration for plan in plans)
    speaking = sum(plan.estimated_speaking_seconds for plan in plans)
    planned = (
        f"planned {sessions} session(s) totalling {total} s ({total / 3600:.1f} h) of pre-charged session time "
        f"for ~{speaking:.0f} s of speech"
    )
    if max_sessions is not None and sessions > max_sessions:
        raise RetellingInputError(
            f"max_sessions: the scripts need {sessions} sessions, over the cap of {max_sessions} ({planned}); "
            "split the scripts over several tasks, or raise max_sessions (None: no cap)"
        )
    if max_total_session_seconds is not None and total > max_total_session_seconds:
        raise RetellingInputError(
            f"max_total_session_seconds: {planned}, over the cap of {max_total_session_seconds} s "
            f"({max_total_session_seconds / 3600:.1f} h); split the scripts over several tasks, or raise "
            "max_total_session_seconds (None: no cap)"
        )


def group_into_batches(
    segments: Sequence[Segment],
    *,
    speed: float = 1.0,
    min_batches: int = 1,
    session_seconds: int = MAX_SESSION_SECONDS,
    policy: DurationPolicy | None = None,
) -> list[list[Segment]]:
    """Group scripts into batches of similar speaking time, each fitting one session.

    At least ``min_batches`` batches (to use the available concurrency; never more than there are
    scripts), and as many more as needed for each batch to fit ``session_seconds``. Scripts are
    dealt longest first to the lightest batch; each batch keeps the input order. A script too long
    for any session stays whole: the session runner splits it.
    """
    if not 1 <= session_seconds <= MAX_SESSION_SECONDS:
        raise RetellingInputError(f"session_seconds: must be between 1 and {MAX_SESSION_SECONDS}")
    if min_batches < 1:
        raise RetellingInputError("min_batches: must be at least 1")
    policy = policy or DurationPolicy()
    if not segments:
        return []
    order = {s.id: i for i, s in enumerate(segments)}
    total = policy.needed_seconds(segments, speed)
    count = min(len(segments), max(min_batches, math.ceil(total / session_seconds)))
    while True:
        batches = _deal(segments, count, speed, policy.speech)
        fits = all(len(b) == 1 or policy.needed_seconds(b, speed) <= session_seconds for b in batches)
        if fits or count >= len(segments):
            return [sorted(b, key=lambda s: order[s.id]) for b in batches if b]
        count += 1


def _deal(segments: Sequence[Segment], count: int, speed: float, model: SpeakingTimeModel) -> list[list[Segment]]:
    batches: list[list[Segment]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for segment in sorted(segments, key=lambda s: -len(s.text)):
        lightest = min(range(count), key=lambda i: (loads[i], len(batches[i])))
        batches[lightest].append(segment)
        loads[lightest] += model.expected_seconds(segment.text, speed)
    return batches
