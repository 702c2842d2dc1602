"""Async rate limiter for data-channel sends: bytes/s AND messages/s over any one-second window.

Why not a classic token bucket: a bucket of capacity C refilled at rate r lets C + r bytes through
in some one-second window, so it can only promise "never above the cap" with C + r <= cap; with
C >= one message (960 B) and a 6,000 B/s cap that throttles to 84 %. The peer (Agora, akool-sim)
measures a sliding one-second window and drops the excess, so this limiter enforces exactly that:
it is a bucket of one second's worth of tokens (capacity = the cap) in which spent tokens come back
when the send that spent them leaves the window, i.e. a sliding-window log. ``window_margin`` widens
the window slightly so jitter between our clock and the peer's cannot merge two windows' worth into
one. Sends are also spread out (``bytes/bytes_per_second`` apart) instead of bursting a whole
second's budget at once. Clock and sleep are injectable, so tests run on a fake clock.

Throughput: only whole messages fit in a window, so the best any scheduler can do is
floor(cap / size) messages per window - 5,760 B/s for 960-byte chunks under Agora's 6,000 B/s, 5,364
B/s for 894-byte ones - and this limiter gets within the 2 % window margin of that.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from airflow_provider_akool.streaming.limits import TransportLimits

__all__ = ["Clock", "RateLimiter", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_EPSILON = 1e-9


class RateLimiter:
    """Waits before each send so that no window of ``window`` seconds exceeds either cap.

    Use one limiter per channel and ``await limiter.acquire(len(payload))`` right before each send.
    Concurrent callers are served first-come, first-served.
    """

    def __init__(
        self,
        bytes_per_second: int,
        messages_per_second: int,
        *,
        window: float = 1.0,
        window_margin: float = 0.02,
        smooth: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if bytes_per_second <= 0 or messages_per_second <= 0:
            raise ValueError("bytes_per_second and messages_per_second must be positive")
        if window <= 0 or window_margin < 0:
            raise ValueError("window must be positive and window_margin not negative")
        self.bytes_per_second = bytes_per_second
        self.messages_per_second = messages_per_second
        self._span = window + window_margin
        self._smooth = smooth
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[tuple[float, int]] = deque()
        self._bytes_in_window = 0
        self._next_allowed = float("-inf")
        self._lock = asyncio.Lock()

    @classmethod
    def for_limits(
        cls,
        limits: TransportLimits,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        window_margin: float = 0.02,
    ) -> RateLimiter:
        """A limiter enforcing ``limits``' byte and message rates."""
        return cls(
            limits.bytes_per_second,
            limits.messages_per_second,
            window_margin=window_margin,
            clock=clock,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"RateLimiter(bytes_per_second={self.bytes_per_second}, messages_per_second={self.messages_per_second})"

    async def acquire(self, nbytes: int) -> None:
        """Wait until ``nbytes`` may be sent now, then record them as sent.

        Raises:
            ValueError: ``nbytes`` is negative or larger than one window's byte budget.
        """
        if nbytes < 0:
            raise ValueError("nbytes must not be negative")
        if nbytes > self.bytes_per_second:
            raise ValueError(f"a {nbytes}-byte message exceeds the {self.bytes_per_second} B/s budget")
        async with self._lock:
            while (delay := self.delay_for(nbytes)) > 0:
                await self._sleep(delay)
            self._record(self._clock(), nbytes)

    def delay_for(self, nbytes: int) -> float:
        """Seconds to wait before ``nbytes`` may be sent (0.0 = now). Does not record anything."""
        now = self._clock()
        self._expire(now)
        wait_until = self._next_allowed if self._smooth else now
        count = len(self._sent)
        total = self._bytes_in_window
        if count + 1 > self.messages_per_second or total + nbytes > self.bytes_per_second:
            # Find the oldest send whose expiry frees enough room for both caps.
            for sent_at, size in self._sent:
                count -= 1
                total -= size
                if count + 1 <= self.messages_per_second and total + nbytes <= self.bytes_per_second:
                    wait_until = max(wait_until, sent_at + self._span)
                    break
        delay = wait_until - now
        return delay if delay > _EPSILON else 0.0

    def _expire(self, now: float) -> None:
        horizon = now - self._span + _EPSILON
        while self._sent and self._sent[0][0] <= horizon:
            _, size = self._sent.popleft()
            self._bytes_in_window -= size

    def _record(self, now: float, nbytes: int) -> None:
        self._sent.append((now, nbytes))
        self._bytes_in_window += nbytes
        spacing = max(nbytes / self.bytes_per_second, 1.0 / self.messages_per_second)
        self._next_allowed = now + spacing
