"""Simulated time: wall-clock start + real elapsed x time_scale + manual advances."""

from __future__ import annotations

import asyncio
import contextlib
import time


class SimClock:
    """A clock that runs ``time_scale`` times faster than real time and can be pushed forward.

    Waiters (``sleep_until``) wake up early when the clock is advanced, so an admin advance is
    seen at once by sessions and speaking avatars.
    """

    def __init__(self, time_scale: float) -> None:
        self.time_scale = time_scale
        self._start = time.time()
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._advanced: asyncio.Event | None = None

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self._start + (time.monotonic() - self._mono0) * self.time_scale + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> float:
        """Jump forward by ``seconds`` simulated seconds; returns the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        if self._advanced is not None:
            self._advanced.set()
            self._advanced = None
        return self.now()

    def real_seconds(self, sim_seconds: float) -> float:
        return max(0.0, sim_seconds) / self.time_scale

    async def sleep_until(self, deadline: float) -> None:
        """Return once simulated now >= ``deadline`` (simulated epoch seconds)."""
        while True:
            remaining = deadline - self.now()
            if remaining <= 0:
                return
            if self._advanced is None:
                self._advanced = asyncio.Event()
            event = self._advanced
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=self.real_seconds(remaining) + 0.0005)

    async def sleep(self, sim_seconds: float) -> None:
        await self.sleep_until(self.now() + sim_seconds)
