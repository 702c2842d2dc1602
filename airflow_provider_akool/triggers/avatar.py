"""AkoolAvatarTrigger: wait in the triggerer until an uploaded avatar is usable (status 3) or failed (4).

Each poll is the client's ``poll_avatar`` (``client/readiness.py``), the same step the operator's
wait in the worker takes; the event payload is read back by ``avatar_wait.read_event``.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_akool.avatar_wait import (
    ERROR,
    FAILED,
    SUCCESS,
    TIMEOUT,
    AsyncClock,
    describe_avatar,
    failure_message,
)

if TYPE_CHECKING:
    from airflow_provider_akool.client.models import Avatar


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
    A transient failure (5xx, 429, timeout, 1005, 1214/1215, after the client's own retries)
    does not end the wait; the third in a row ends it with an ``error`` event a retry can fix.

    :param avatar_id: the avatar to wait for.
    :param deadline: wall-clock deadline (``time.time()``), enforced here rather than by Airflow's
        defer timeout so it survives triggerer restarts.
    :param akool_conn_id: Airflow connection of type ``akool``.
    :param poll_interval: seconds between status requests.
    :param create_time: creation time (ms) already known to the caller, used when the detail
        omits it.
    :param clock: wall clock and sleep (not serialised; tests pass a fake one).
    """

    def __init__(
        self,
        *,
        avatar_id: str,
        deadline: float,
        akool_conn_id: str = "akool_default",
        poll_interval: float = 30.0,
        create_time: int | None = None,
        clock: AsyncClock | None = None,
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
        self.clock = clock or AsyncClock()

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
            # The task decides from the class name whether a retry can help (a wrong key cannot).
            name = type(exc).__name__
            payload = self._payload(ERROR, f"waiting for avatar failed: {name}: {exc}", error_type=name)
        yield TriggerEvent(payload)  # type: ignore[no-untyped-call]

    def _payload(
        self, status: str, message: str, avatar: Avatar | None = None, error_type: str | None = None
    ) -> dict[str, Any]:
        payload = {
            "status": status,
            "avatar_id": self.avatar_id,
            "message": message,
            "avatar": describe_avatar(avatar) if avatar is not None else None,
        }
        if error_type is not None:
            payload["error_type"] = error_type
        return payload

    async def _wait(self) -> dict[str, Any]:
        from airflow_provider_akool.client.readiness import AvatarWatch
        from airflow_provider_akool.hooks.akool import AkoolHook

        client = await AkoolHook(akool_conn_id=self.akool_conn_id).get_async_client()
        clock, interval = self.clock, self.poll_interval
        watch = AvatarWatch(self.avatar_id, create_time=self.create_time)
        next_poll = clock.now() + random.uniform(0, interval)
        while True:
            # Never longer than one interval, even if the wall clock was set back meanwhile.
            await clock.sleep(min(interval, max(0.0, min(next_poll, self.deadline) - clock.now())))
            poll = await client.poll_avatar(watch)
            avatar = poll.avatar
            if poll.changed and avatar is not None:
                self.log.info("Avatar %s: status=%s available=%s", self.avatar_id, avatar.status, avatar.available)
            if poll.state == "ready":
                return self._payload(SUCCESS, f"avatar {self.avatar_id} is ready", avatar)
            if poll.state == "failed" and avatar is not None:
                return self._payload(FAILED, failure_message(describe_avatar(avatar)), avatar)
            if poll.state == "unreachable":
                return self._payload(ERROR, poll.message, avatar, error_type=type(poll.error).__name__)
            if poll.error is not None:
                self.log.warning("Polling avatar %s failed (%s); will poll again", self.avatar_id, poll.error)
            now = clock.now()
            if now >= self.deadline:
                when = datetime.fromtimestamp(self.deadline, tz=UTC).isoformat()
                return self._payload(TIMEOUT, f"avatar {self.avatar_id} was not ready by the deadline {when}", avatar)
            next_poll += interval
            if next_poll <= now:  # a slow request overran one or more slots: skip them, keep the phase
                next_poll += ((now - next_poll) // interval + 1) * interval
