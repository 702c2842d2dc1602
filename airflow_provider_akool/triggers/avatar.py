"""Waiting for an uploaded streaming avatar to become usable (status 3) or to fail (status 4).

``AkoolAvatarTrigger`` runs in the triggerer. The module also holds the readiness helpers that
the operator and the sensor share with it, so all three read Akool the same way:

- readiness comes from ``status`` when the v4 detail carries it, else from ``available``
  (akool-api.md §2.1 note);
- with only ``available`` a failed upload looks like one still processing, so when the avatar is
  not available and its upload record ``_id`` is known, the v3 record detail (§2.9, which always
  has ``status``) is asked as well;
- the creation time, which the v4 detail does not document, also comes from the v3 record.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_akool.client import AkoolClient, AsyncAkoolClient
    from airflow_provider_akool.client.models import Avatar, AvatarRecord

SUCCESS, FAILED, TIMEOUT, ERROR = "success", "failed", "timeout", "error"
RESOURCE_LIFETIME = timedelta(days=7)  # generated resources expire after 7 days (§5.4)
# Transport failures that survived the client's own retries; this many in a row end the wait.
MAX_CONSECUTIVE_TRANSIENT = 3
_REASON_FIELDS = ("msg", "message", "error", "error_msg", "err_msg", "fail_reason", "reason")


# -- reading an avatar (shared by operator, sensor and trigger) ---------------------------------
def _wants_record(avatar: Avatar, need_create_time: bool) -> bool:
    if avatar.id is None:
        return False
    return (avatar.status is None and not avatar.available) or (need_create_time and avatar.create_time is None)


def _merge_record(avatar: Avatar, records: list[AvatarRecord]) -> Avatar:
    if not records:
        return avatar
    record = records[0]
    update: dict[str, Any] = {}
    if avatar.status is None and record.status is not None:
        update["status"] = record.status
    if avatar.create_time is None and record.create_time is not None:
        update["create_time"] = record.create_time
    return avatar.model_copy(update=update) if update else avatar


def complete_from_record(client: AkoolClient, avatar: Avatar, *, need_create_time: bool = False) -> Avatar:
    """Fill a missing status (avatar not available) or creation time from the v3 upload record."""
    from airflow_provider_akool.client import AkoolNotFoundError

    if not _wants_record(avatar, need_create_time):
        return avatar
    try:
        records = client.get_avatar_record(str(avatar.id))
    except AkoolNotFoundError:
        records = []
    return _merge_record(avatar, records)


async def acomplete_from_record(client: AsyncAkoolClient, avatar: Avatar, *, need_create_time: bool = False) -> Avatar:
    """Async twin of :func:`complete_from_record`."""
    from airflow_provider_akool.client import AkoolNotFoundError

    if not _wants_record(avatar, need_create_time):
        return avatar
    try:
        records = await client.get_avatar_record(str(avatar.id))
    except AkoolNotFoundError:
        records = []
    return _merge_record(avatar, records)


def fetch_avatar(client: AkoolClient, avatar_id: str, *, need_create_time: bool = False) -> Avatar:
    """v4 detail, completed from the v3 upload record when status or creation time is missing."""
    avatar = client.get_avatar(avatar_id)
    return complete_from_record(client, avatar, need_create_time=need_create_time)


async def afetch_avatar(client: AsyncAkoolClient, avatar_id: str) -> Avatar:
    """Async v4 detail, completed from the v3 upload record when the status is missing."""
    avatar = await client.get_avatar(avatar_id)
    return await acomplete_from_record(client, avatar)


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


def failure_message(snapshot: dict[str, Any]) -> str:
    """The error text for an avatar Akool reports as failed (status 4)."""
    said = snapshot.get("reason") or "no reason given"
    return (
        f"Akool failed to process avatar {snapshot.get('avatar_id')!r} (status 4): {said}. "
        "It is not recreated automatically; fix the source video and use a new avatar_id."
    )


def avatar_record(snapshot: dict[str, Any]) -> dict[str, Any]:
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


# -- the trigger --------------------------------------------------------------------------------
class AkoolAvatarTrigger(BaseTrigger):
    """Poll one avatar until it is ready, failed, or ``deadline`` (epoch seconds) has passed.

    Fires exactly one event and returns. The payload is a dict with ``status`` (``success``,
    ``failed``, ``timeout`` or ``error``), ``avatar_id``, ``message`` and ``avatar`` (the last
    snapshot from :func:`describe_avatar`, or None). Errors never escape ``run()``: an ``error``
    event caused by an exception also carries ``error_type``, its class name (``AkoolAuthError``
    tells the task not to retry).

    The first poll happens at a random point within the first ``poll_interval`` and the rest
    follow at a fixed period from there, so a thousand waits started together spread their
    requests evenly and none polls more often than the interval. All triggers of a triggerer
    that use the same connection share one async client (one pool, one token) via the hook.

    :param avatar_id: the avatar to wait for.
    :param deadline: wall-clock deadline (``time.time()``), enforced here rather than by Airflow's
        defer timeout so it survives triggerer restarts.
    :param akool_conn_id: Airflow connection of type ``akool``.
    :param poll_interval: seconds between status requests.
    :param create_time: creation time (ms) already known to the caller, used when the detail
        omits it.
    """

    def __init__(
        self,
        *,
        avatar_id: str,
        deadline: float,
        akool_conn_id: str = "akool_default",
        poll_interval: float = 30.0,
        create_time: int | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if not avatar_id:
            raise ValueError("avatar_id must not be empty")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0 seconds (got {poll_interval!r})")
        self.avatar_id = avatar_id
        self.deadline = float(deadline)
        self.akool_conn_id = akool_conn_id
        self.poll_interval = float(poll_interval)
        self.create_time = create_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "avatar_id": self.avatar_id,
                "deadline": self.deadline,
                "akool_conn_id": self.akool_conn_id,
                "poll_interval": self.poll_interval,
                "create_time": self.create_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            payload = await self._wait()
        except Exception as exc:  # run() must not raise: the task gets an error event instead
            payload = self._payload(ERROR, f"waiting for avatar failed: {type(exc).__name__}: {exc}")
            # The task decides from the class name whether a retry can help (a wrong key cannot).
            payload["error_type"] = type(exc).__name__
        yield TriggerEvent(payload)  # type: ignore[no-untyped-call]

    def _payload(self, status: str, message: str, avatar: Avatar | None = None) -> dict[str, Any]:
        snapshot = describe_avatar(avatar) if avatar is not None else None
        if snapshot is not None and snapshot["create_time"] is None:
            snapshot["create_time"] = self.create_time
        return {"status": status, "avatar_id": self.avatar_id, "message": message, "avatar": snapshot}

    async def _with_create_time(self, client: AsyncAkoolClient, avatar: Avatar) -> Avatar:
        """One extra read for the creation time when neither the detail nor the caller knew it."""
        from airflow_provider_akool.client import AkoolError

        if avatar.create_time is not None or self.create_time is not None:
            return avatar
        try:
            return await acomplete_from_record(client, avatar, need_create_time=True)
        except AkoolError as exc:
            self.log.warning("Could not read the creation time of avatar %s: %s", self.avatar_id, exc)
            return avatar

    async def _wait(self) -> dict[str, Any]:
        from airflow_provider_akool.client import AkoolBusyError, AkoolThrottledError, AkoolTransientError
        from airflow_provider_akool.hooks.akool import AkoolHook

        client = await AkoolHook(akool_conn_id=self.akool_conn_id).get_async_client()
        next_poll = time.monotonic() + random.uniform(0, self.poll_interval)
        last: Avatar | None = None
        transient = 0
        while True:
            await asyncio.sleep(max(0.0, min(next_poll - time.monotonic(), self.deadline - time.time())))
            try:
                avatar = await afetch_avatar(client, self.avatar_id)
            except (AkoolTransientError, AkoolThrottledError, AkoolBusyError) as exc:
                transient += 1
                if transient >= MAX_CONSECUTIVE_TRANSIENT:
                    return self._payload(ERROR, f"Akool kept failing while polling the avatar: {exc}", last)
                self.log.warning("Polling avatar %s failed (%s); will poll again", self.avatar_id, exc)
            else:
                transient = 0
                if last is None or (avatar.status, avatar.available) != (last.status, last.available):
                    self.log.info("Avatar %s: status=%s available=%s", self.avatar_id, avatar.status, avatar.available)
                last = avatar
                if avatar.state == "ready":
                    avatar = await self._with_create_time(client, avatar)
                    return self._payload(SUCCESS, f"avatar {self.avatar_id} is ready", avatar)
                if avatar.state == "failed":
                    return self._payload(FAILED, failure_message(describe_avatar(avatar)), avatar)
            if time.time() >= self.deadline:
                when = datetime.fromtimestamp(self.deadline, tz=UTC).isoformat()
                return self._payload(TIMEOUT, f"avatar {self.avatar_id} was not ready by the deadline {when}", last)
            now = time.monotonic()
            next_poll += self.poll_interval
            if next_poll <= now:  # a slow request overran one or more slots: skip them, keep the phase
                next_poll += ((now - next_poll) // self.poll_interval + 1) * self.poll_interval
