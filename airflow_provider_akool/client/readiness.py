"""Avatar readiness, read one way for every caller: the v4 detail, completed from the v3 upload record.

A wait polls the v4 detail (docs/reference/akool-api.md §2.3). It may omit ``status`` and carry only
``available`` (§2.1 note); with that alone a failed upload (status 4) looks like one still
processing, so for an avatar that is not available the v3 record detail (§2.9, which always has
``status``) is asked as well. The v4 detail documents neither ``create_time`` nor ``modify_url``:
a caller that needs them names them in ``want`` and they come from the same record.

The record lookup fails soft where it can: a missing record (1008) leaves the avatar as the detail
gave it, and a lookup made only for extra fields is best effort (logged, the avatar is returned as
is). A lookup made to learn the status raises, since readiness cannot be told without it.

:func:`poll_steps` is one poll of a wait, shared by the operator's wait in the worker and the
trigger's wait in the triggerer, so both read readiness and tolerate outages the same way.

These are step generators (see ``calls.py``); ``AkoolOperations`` declares them as client methods
(``read_avatar``, ``complete_avatar``, ``poll_avatar``), sync and async.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

from airflow_provider_akool.client.calls import Steps
from airflow_provider_akool.client.errors import (
    AkoolBusyError,
    AkoolError,
    AkoolNotFoundError,
    AkoolRequestError,
    AkoolThrottledError,
    AkoolTransientError,
)
from airflow_provider_akool.client.models import Avatar, AvatarRecord, AvatarState

__all__ = [
    "MAX_CONSECUTIVE_TRANSIENT",
    "RECORD_FIELDS",
    "TRANSIENT_POLL_ERRORS",
    "AvatarPoll",
    "AvatarWatch",
    "complete_steps",
    "merge_record",
    "poll_steps",
]

log = logging.getLogger(__name__)

# What a caller may ask the v3 record for (``want``). "status": tell a failed avatar from a processing one.
RECORD_FIELDS = frozenset({"status", "create_time", "modify_url"})
# Fields the record fills in when the v4 detail left them empty.
_FILLED = ("status", "create_time", "modify_url", "url", "thumbnail_url")

# Failures that survived the client's own retries and may pass: a wait polls again after them.
TRANSIENT_POLL_ERRORS: tuple[type[AkoolError], ...] = (AkoolTransientError, AkoolThrottledError, AkoolBusyError)
# This many transient failures in a row end a wait: Akool is down, not blinking.
MAX_CONSECUTIVE_TRANSIENT = 3


class AvatarOps(Protocol):
    """What readiness needs from :class:`AkoolOperations`."""

    def _avatar_detail(self, avatar_id: str) -> Steps[Avatar]: ...

    def _avatar_records(self, record_id: str) -> Steps[list[AvatarRecord]]: ...


def merge_record(avatar: Avatar, records: list[AvatarRecord]) -> Avatar:
    """``avatar`` with each field it lacks taken from the first upload record, if that has it."""
    if not records:
        return avatar
    record = records[0]
    update = {
        name: getattr(record, name)
        for name in _FILLED
        if getattr(avatar, name) is None and getattr(record, name) is not None
    }
    return avatar.model_copy(update=update) if update else avatar


def complete_steps(ops: AvatarOps, avatar: Avatar, want: Collection[str]) -> Steps[Avatar]:
    """Ask the v3 record when the detail leaves a wanted field (or, for ``status``, readiness) open."""
    unknown = set(want) - RECORD_FIELDS
    if unknown:
        raise AkoolRequestError(f"want: unknown field(s) {sorted(unknown)}; allowed: {sorted(RECORD_FIELDS)}")
    if avatar.id is None:  # no upload record to ask (e.g. an official avatar)
        return avatar
    for_status = "status" in want and avatar.status is None and not avatar.available
    for_extras = any(getattr(avatar, name) is None for name in want if name != "status")
    if not (for_status or for_extras):
        return avatar
    try:
        records = yield from ops._avatar_records(avatar.id)
    except AkoolNotFoundError:
        records = []
    except AkoolError as exc:
        if for_status:
            raise
        log.warning("Could not read the upload record of avatar %s: %s", avatar.avatar_id, exc)
        return avatar
    return merge_record(avatar, records)


@dataclass
class AvatarWatch:
    """One wait for an avatar, carried from poll to poll within the process that waits.

    ``create_time``: creation time (ms) already known to the caller, used when a poll omits it.
    ``last``: the latest avatar read. ``transient_failures``: transient failures in a row.
    """

    avatar_id: str
    create_time: int | None = None
    last: Avatar | None = None
    transient_failures: int = 0


PollState = Literal["pending", "ready", "failed", "unreachable"]


@dataclass(frozen=True)
class AvatarPoll:
    """The outcome of one poll.

    ``state``: the avatar's readiness, or ``unreachable`` once Akool failed
    :data:`MAX_CONSECUTIVE_TRANSIENT` polls in a row (the wait should end with an error a retry can
    fix). ``avatar``: the avatar read now, or the last one read when this poll failed.
    ``changed``: status or availability differ from the previous poll (worth a log line).
    ``error``: the transient failure this poll met, if any.
    """

    state: PollState
    avatar: Avatar | None
    changed: bool = False
    error: AkoolError | None = None

    @property
    def message(self) -> str:
        """What to tell the user about an ``unreachable`` poll."""
        return f"Akool kept failing while polling the avatar: {self.error}"


def poll_steps(ops: AvatarOps, watch: AvatarWatch) -> Steps[AvatarPoll]:
    """Read the avatar once and update ``watch``.

    Transient failures (5xx, 429, timeouts after the client's own retries, 1005, 1214/1215) do not
    end a wait that may last hours: the poll reports ``pending`` with the error, and only the
    :data:`MAX_CONSECUTIVE_TRANSIENT`-th failure in a row reports ``unreachable``. Any other error
    (unknown avatar, wrong key) is raised. A ready avatar whose creation time nobody knows gets one
    best-effort record lookup for it.
    """
    try:
        avatar = yield from ops._avatar_detail(watch.avatar_id)
        avatar = yield from complete_steps(ops, avatar, ("status",))
    except TRANSIENT_POLL_ERRORS as exc:
        watch.transient_failures += 1
        state: PollState = "unreachable" if watch.transient_failures >= MAX_CONSECUTIVE_TRANSIENT else "pending"
        return AvatarPoll(state, watch.last, error=exc)
    watch.transient_failures = 0
    if avatar.create_time is None and watch.create_time is None and avatar.state == "ready":
        avatar = yield from complete_steps(ops, avatar, ("create_time",))
    if avatar.create_time is None and watch.create_time is not None:
        avatar = avatar.model_copy(update={"create_time": watch.create_time})
    previous, watch.last = watch.last, avatar
    watch.create_time = avatar.create_time
    changed = previous is None or (avatar.status, avatar.available) != (previous.status, previous.available)
    ready_state: AvatarState = avatar.state
    return AvatarPoll(ready_state, avatar, changed)
