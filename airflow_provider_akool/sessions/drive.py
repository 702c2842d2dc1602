"""Drivers of the session steps: blocking, asyncio, and asyncio that finishes despite a cancellation.

The steps (close-and-confirm, the listing, the reconciled create, the sweep) are generators that
yield :class:`~airflow_provider_akool.client.calls.Call` and ``Pause``, as the client's own
operations do, so each is written once. ``run_sync`` and ``run_async`` are the client's drivers
with the clock's sleep; ``run_to_end`` is for steps that must finish even when the caller is
cancelled (closing a paid session): a call cut short is thrown into the steps as
:class:`CallInterrupted`, a pause is slept through, and the caller learns that a cancellation came.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from airflow_provider_akool.client.calls import Pause, Steps, drive_async, drive_sync
from airflow_provider_akool.client.errors import AkoolError

if TYPE_CHECKING:
    from airflow_provider_akool.client import AkoolClient, AsyncAkoolClient

__all__ = ["SYSTEM_CLOCK", "CallInterrupted", "Clock", "run_async", "run_sync", "run_to_end"]

T = TypeVar("T")


@dataclass(frozen=True)
class Clock:
    """The time the session steps see: injected by tests instead of sleeping for real.

    ``monotonic`` times poll windows, ``wall`` ages sessions (epoch seconds), ``sleep`` and
    ``asleep`` serve the steps' pauses in the blocking and the async driver.
    """

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], object] = time.sleep
    asleep: Callable[[float], Awaitable[object]] = asyncio.sleep


SYSTEM_CLOCK = Clock()


class CallInterrupted(AkoolError):
    """Thrown into the steps by :func:`run_to_end` when a call was cut short by a cancellation."""


def run_sync(client: AkoolClient, steps: Steps[T], clock: Clock = SYSTEM_CLOCK) -> T:
    """Run ``steps`` with the blocking client."""
    return drive_sync(steps, client.send, clock.sleep)


async def run_async(client: AsyncAkoolClient, steps: Steps[T], clock: Clock = SYSTEM_CLOCK) -> T:
    """Run ``steps`` with the async client; a cancellation stops them where they are."""
    return await drive_async(steps, client.send, clock.asleep)


async def run_to_end(client: AsyncAkoolClient, steps: Steps[T], clock: Clock = SYSTEM_CLOCK) -> tuple[T, bool]:
    """Run ``steps`` to their end even if cancelled meanwhile; return their value and whether a
    cancellation arrived (the caller re-raises it once the outcome is recorded)."""
    cancelled = False
    try:
        step = next(steps)
        while True:
            if isinstance(step, Pause):
                cancelled = await _sleep_through_cancel(step.seconds, clock) or cancelled
                step = steps.send({})
                continue
            try:
                reply = await client.send(step)
            except asyncio.CancelledError:
                cancelled = True
                step = steps.throw(CallInterrupted("interrupted by cancellation"))
            except Exception as exc:
                step = steps.throw(exc)
            else:
                step = steps.send(reply)
    except StopIteration as stop:
        return stop.value, cancelled


async def _sleep_through_cancel(seconds: float, clock: Clock) -> bool:
    """Sleep ``seconds`` even if cancelled meanwhile; return whether a cancellation arrived."""
    cancelled = False
    end = clock.monotonic() + seconds
    while (left := end - clock.monotonic()) > 0:
        try:
            await clock.asleep(left)
        except asyncio.CancelledError:
            cancelled = True
    return cancelled
