"""What a retelling run did, segment by segment and session by session, as a JSON-ready manifest.

Times are epoch seconds internally and ISO-8601 UTC in the manifest. Nothing here holds
credentials: a manifest can go to XCom, a log or a file as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["RetellingResult", "SegmentRecord", "SessionRecord", "iso"]

MANIFEST_VERSION = 1

# Segment statuses.
PENDING, SPOKEN, FAILED, TIMEOUT, NOT_SENT = "pending", "spoken", "failed", "timeout", "not_sent"
# How a segment was known to be finished: the avatar's audio_end event; its echo of the text (then
# the end is the conservative bound counted from the echo); or the conservative bound alone.
BY_AUDIO_END, BY_ECHO, BY_ESTIMATE = "audio_end", "echo", "estimate"
CONFIRMED = frozenset({BY_AUDIO_END, BY_ECHO})
# How one attempt at a segment ended.
ATTEMPT_SPOKEN, ATTEMPT_CUT, ATTEMPT_NOT_SENT = "spoken", "cut", "not_sent"


def iso(value: float | None) -> str | None:
    """Epoch seconds -> ``2026-01-01T12:00:00.123Z`` (None stays None)."""
    if value is None:
        return None
    return datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 3)


@dataclass
class SegmentRecord:
    """One segment: what was sent, when the avatar spoke it, and what it said back."""

    index: int
    id: str
    text: str
    estimated_seconds: float
    session_id: str | None = None
    mid: str | None = None
    chunks: int = 0
    bytes_sent: int = 0
    sent_at: float | None = None
    send_finished_at: float | None = None
    audio_start_at: float | None = None
    audio_end_at: float | None = None
    finished_at: float | None = None
    completion: str | None = None
    echo_at: float | None = None
    bot_text: str = ""
    status: str = PENDING
    error: str | None = None
    resends: int = 0
    split_from: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status == SPOKEN

    @property
    def confirmed(self) -> bool:
        """Spoken, and the avatar said so (audio_end) or echoed the text."""
        return self.done and self.completion in CONFIRMED

    def begin_attempt(self, session_id: str) -> None:
        """Forget the previous attempt's timings (kept in ``attempts``) before speaking it again."""
        self.session_id = session_id
        self.mid = None
        self.chunks = self.bytes_sent = self.resends = 0
        self.sent_at = self.send_finished_at = self.audio_start_at = self.audio_end_at = None
        self.finished_at = self.echo_at = None
        self.completion = None
        self.bot_text = ""
        self.error = None
        self.status = PENDING

    def end_attempt(self, outcome: str, reason: str | None = None) -> None:
        """Record how the attempt in ``session_id`` ended (``spoken``, ``cut``, ``not_sent``)."""
        self.attempts.append(
            {
                "session_id": self.session_id,
                "mid": self.mid,
                "outcome": outcome,
                "reason": reason,
                "resends": self.resends,
                "sent_at": iso(self.sent_at),
                "completion": self.completion,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.id,
            "status": self.status,
            "session_id": self.session_id,
            "text": self.text,
            "chars": len(self.text),
            "bot_text": self.bot_text,
            "bot_text_matches": self.bot_text == self.text,
            "mid": self.mid,
            "chunks": self.chunks,
            "bytes_sent": self.bytes_sent,
            "estimated_seconds": round(self.estimated_seconds, 3),
            "sent_at": iso(self.sent_at),
            "audio_start_at": iso(self.audio_start_at),
            "audio_end_at": iso(self.audio_end_at),
            "send_seconds": _span(self.sent_at, self.send_finished_at),
            "latency_seconds": _span(self.send_finished_at, self.audio_start_at),
            "speaking_seconds": _span(self.audio_start_at, self.audio_end_at),
            "echo_at": iso(self.echo_at),
            "completion": self.completion,
            "confirmed": self.confirmed,
            "resends": self.resends,
            "split_from": self.split_from,
            "attempts": [dict(a) for a in self.attempts],
            "error": self.error,
        }


@dataclass
class SessionRecord:
    """One Akool session: when it opened, became usable and closed, and how the close went."""

    index: int
    duration: int
    segment_ids: list[str]
    session_id: str | None = None
    opened_at: float | None = None
    ready_at: float | None = None
    params_ack: str | None = None  # "ok", "timeout" or "rejected"
    closed_at: float | None = None
    close: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    opened_for: str = "plan"  # "plan", "rollover" (time ran short) or "recovery" (a segment was cut)
    ended_by: str | None = None  # "done", "rollover", "cut" or "error"
    audio_events: bool | None = None  # None: no segment finished in it

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "session_id": self.session_id,
            "duration": self.duration,
            "opened_for": self.opened_for,
            "ended_by": self.ended_by,
            "audio_events": self.audio_events,
            "segment_ids": list(self.segment_ids),
            "opened_at": iso(self.opened_at),
            "ready_at": iso(self.ready_at),
            "params_ack": self.params_ack,
            "closed_at": iso(self.closed_at),
            "open_seconds": _span(self.opened_at, self.closed_at),
            "close": dict(self.close),
            "error": self.error,
        }


@dataclass
class RetellingResult:
    """The whole run. ``status`` is ``completed`` only when every segment was spoken."""

    settings: dict[str, Any]
    segments: list[SegmentRecord]
    sessions: list[SessionRecord] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    orphan_candidates: list[str] = field(default_factory=list)
    speech_rates: dict[str, Any] | None = None  # what the run measured: the next run's starting rates

    @property
    def completed(self) -> bool:
        return self.error is None and all(s.done for s in self.segments)

    @property
    def session_ids(self) -> list[str]:
        return [s.session_id for s in self.sessions if s.session_id]

    def counts(self) -> dict[str, int]:
        tally: dict[str, int] = {}
        for segment in self.segments:
            tally[segment.status] = tally.get(segment.status, 0) + 1
        return tally

    @property
    def unconfirmed(self) -> list[SegmentRecord]:
        """Segments spoken by estimate alone: nothing from the avatar said it received them."""
        return [s for s in self.segments if s.done and not s.confirmed]

    def to_manifest(self) -> dict[str, Any]:
        """JSON-serialisable summary: settings, per-session and per-segment records, totals."""
        spoken = [s for s in self.segments if s.done]
        by_completion: dict[str, int] = {}
        for segment in spoken:
            key = str(segment.completion)
            by_completion[key] = by_completion.get(key, 0) + 1
        attempts = [a for s in self.segments for a in s.attempts]
        return {
            "version": MANIFEST_VERSION,
            "status": "completed" if self.completed else "failed",
            "error": self.error,
            "settings": dict(self.settings),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "wall_seconds": _span(self.started_at, self.finished_at),
            "session_ids": self.session_ids,
            "orphan_candidates": list(self.orphan_candidates),
            "totals": {
                "segments": len(self.segments),
                "spoken": len(spoken),
                "by_status": self.counts(),
                "chars": sum(len(s.text) for s in self.segments),
                "estimated_seconds": round(sum(s.estimated_seconds for s in self.segments), 3),
                "sessions": len(self.sessions),
                "duration_requested": sum(s.duration for s in self.sessions if s.session_id),
                "by_completion": by_completion,
                "unconfirmed": len(self.unconfirmed),
                "cuts": sum(1 for a in attempts if a["outcome"] == ATTEMPT_CUT),
                "recovered": sum(1 for s in self.segments if s.done and len(s.attempts) > 1),
                "resends": sum(int(a["resends"]) for a in attempts),
                "rollovers": sum(1 for s in self.sessions if s.ended_by == "rollover"),
            },
            "speech_rates": None if self.speech_rates is None else dict(self.speech_rates),
            "sessions": [s.to_dict() for s in self.sessions],
            "segments": [s.to_dict() for s in self.segments],
        }
