"""What waiting for an avatar produces, read the same way by the trigger, the operator and the sensor.

- the snapshot of an avatar that trigger events carry between processes (:func:`describe_avatar`);
- the record avatar tasks return (:func:`avatar_record`) and the failure text (:func:`failure_message`);
- how a task that resumes after a deferral reads the trigger's event (:func:`read_event`);
- the clocks the waits run on, which tests replace to wait without waiting.

Readiness itself (which requests, what counts as ready or failed) is the client's:
``AkoolClient.read_avatar`` / ``poll_avatar`` (``client/readiness.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from airflow_provider_akool.client.models import Avatar

# Trigger event statuses.
SUCCESS, FAILED, TIMEOUT, ERROR = "success", "failed", "timeout", "error"
RESOURCE_LIFETIME = timedelta(days=7)  # generated resources expire after 7 days (docs/reference/akool-api.md §5.4)
_REASON_FIELDS = ("msg", "message", "error", "error_msg", "err_msg", "fail_reason", "reason")

# Where the avatar id of a failed avatar came from: it decides what the user can do about it.
IdOrigin = Literal["given", "derived", "unknown"]
_ADVICE: dict[IdOrigin, str] = {
    "given": "Akool does not process it again: fix the source video and create it under a new avatar_id.",
    "derived": (
        "Akool does not process it again, and every retry or re-run of this task derives the same "
        "avatar_id from the same video_url: fix the video and give its new version a new URL, or set "
        "avatar_id to a new value."
    ),
    "unknown": "Akool does not process it again: upload the fixed source video as a new avatar.",
}


@dataclass(frozen=True)
class Clock:
    """Wall-clock seconds and a blocking sleep, for a wait in a worker."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class AsyncClock:
    """Wall-clock seconds and an awaitable sleep, for a wait in the triggerer."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def failure_reason(avatar: Avatar) -> str | None:
    """What Akool said about a failed avatar, if the response carries any message field."""
    extra = avatar.model_extra or {}
    for key in _REASON_FIELDS:
        value = extra.get(key)
        if isinstance(value, str) and value.strip() and value.strip().lower() != "ok":
            return value.strip()
    return None


def describe_avatar(avatar: Avatar) -> dict[str, Any]:
    """A JSON-serialisable snapshot of an avatar: what trigger events carry between processes."""
    return {
        "avatar_id": avatar.avatar_id,
        "record_id": avatar.id,
        "name": avatar.name,
        "state": avatar.state,
        "status": avatar.status,
        "available": avatar.available,
        "url": avatar.url,
        "thumbnail_url": avatar.thumbnail_url,
        "voice_id": avatar.voice_id,
        "create_time": avatar.create_time,
        "reason": failure_reason(avatar),
    }


def failure_message(snapshot: Mapping[str, Any], origin: IdOrigin = "unknown") -> str:
    """The error text for an avatar Akool reports as failed (status 4), with advice fitting ``origin``."""
    said = snapshot.get("reason") or "no reason given"
    return f"Akool failed to process avatar {snapshot.get('avatar_id')!r} (status 4): {said}. {_ADVICE[origin]}"


def avatar_record(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The record avatar tasks return (keys documented on AkoolCreateAvatarOperator)."""
    created_ms = snapshot.get("create_time")
    created = datetime.fromtimestamp(created_ms / 1000, tz=UTC) if isinstance(created_ms, int | float) else None
    return {
        "avatar_id": snapshot.get("avatar_id"),
        "name": snapshot.get("name"),
        "status": snapshot.get("state"),
        "url": snapshot.get("url"),
        "thumbnail_url": snapshot.get("thumbnail_url"),
        "voice_id": snapshot.get("voice_id"),
        "created_at": created.isoformat() if created else None,
        "expires_at": (created + RESOURCE_LIFETIME).isoformat() if created else None,
    }


OutcomeKind = Literal["ready", "failed", "account", "timeout", "error"]


@dataclass(frozen=True)
class WaitOutcome:
    """How a deferred wait ended, in the terms a task acts on.

    ``ready``: ``record`` is the task's return value and ``preview_url`` backs the preview link.
    ``failed`` (status 4) and ``account`` (wrong key, no permission, no credit) cannot be fixed by
    a retry; ``timeout`` and ``error`` can. ``message`` is the text for the log or the exception.
    """

    kind: OutcomeKind
    message: str
    record: dict[str, Any] | None = None
    preview_url: str | None = None


def read_event(
    event: Mapping[str, Any] | None, *, task_id: str, conn_id: str, origin: IdOrigin = "unknown"
) -> WaitOutcome:
    """The outcome of an :class:`AkoolAvatarTrigger` event (None: resumed without one)."""
    from airflow_provider_akool.fail_fast import account_failure_from_event

    if not event:
        return WaitOutcome("error", f"{task_id}: resumed without a trigger event")
    if account_message := account_failure_from_event(event, conn_id):
        return WaitOutcome("account", account_message)
    status, message = event.get("status"), event.get("message") or "no details"
    snapshot = event.get("avatar")
    if status == SUCCESS and isinstance(snapshot, dict):
        preview = snapshot.get("url")
        return WaitOutcome(
            "ready",
            f"Avatar {snapshot.get('avatar_id')} is ready",
            record=avatar_record(snapshot),
            preview_url=preview if isinstance(preview, str) and preview else None,
        )
    if status == FAILED:
        return WaitOutcome("failed", failure_message(snapshot, origin) if isinstance(snapshot, dict) else message)
    kind: OutcomeKind = "timeout" if status == TIMEOUT else "error"
    return WaitOutcome(kind, f"waiting for avatar {event.get('avatar_id')} ended with {status!r}: {message}")
