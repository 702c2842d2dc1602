"""A clock tests inject instead of sleeping: time moves only when the code under test waits."""

from __future__ import annotations

import asyncio

from airflow_provider_akool.sessions.drive import Clock

EPOCH = 1_700_000_000.0


class FakeClock:
    """Monotonic and wall time that advance by exactly what is slept (blocking or awaited)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._start = start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return EPOCH + (self.now - self._start)

    def advance(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would

    @property
    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, wall=self.wall, sleep=self.sleep, asleep=self.asleep)


class SteppedClock(FakeClock):
    """A fake clock whose awaited sleeps last until the test advances time past their end."""

    def __init__(self, start: float = 1000.0) -> None:
        super().__init__(start)
        self._waiters: list[asyncio.Future[None]] = []
        self.sleeping = asyncio.Event()  # set once a sleep is waiting for the test to advance time

    async def asleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        end = self.now + seconds
        while self.now < end:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self.sleeping.set()
            await waiter

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
