"""Transport limits of the emulated data channel: message size and a one-second token bucket."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Holds at most one second's worth of tokens; refills continuously in real time.

    The rate is read on every call, so changing it through /_sim/channel takes effect at once.
    """

    def __init__(self, rate: Callable[[], float], clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = rate()
        self._last = clock()

    def take(self, amount: float) -> bool:
        rate = self._rate()
        now = self._clock()
        self._tokens = min(rate, self._tokens + (now - self._last) * rate)
        self._last = now
        if amount > self._tokens:
            return False
        self._tokens -= amount
        return True

    def give_back(self, amount: float) -> None:
        self._tokens = min(self._rate(), self._tokens + amount)


class ChannelLimiter:
    """Decides whether one received packet passes, like an RTC data channel would."""

    def __init__(
        self,
        max_bytes: Callable[[], int],
        bytes_per_second: Callable[[], float],
        messages_per_second: Callable[[], float],
    ) -> None:
        self._max_bytes = max_bytes
        self._bytes = TokenBucket(bytes_per_second)
        self._messages = TokenBucket(messages_per_second)

    def check(self, size: int) -> str | None:
        """None if the packet passes, else the reason it is dropped."""
        if size > self._max_bytes():
            return "message_too_large"
        if not self._messages.take(1):
            return "rate_limited"
        if not self._bytes.take(size):
            self._messages.give_back(1)
            return "rate_limited"
        return None
