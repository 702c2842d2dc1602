"""Progress reporting for long copies: a throttled callback and a human-readable formatter.

The copier calls ``progress(bytes_done, total_or_None, elapsed_seconds)`` at most once per
interval and once at the end, so an operator can log bytes, rate and ETA without flooding logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

ProgressCallback = Callable[[int, int | None, float], None]
"""``(bytes_done, total_bytes or None, elapsed_seconds) -> None``."""

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(count: float) -> str:
    """``12582912`` -> ``"12.0 MiB"`` (binary units, one decimal)."""
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """``2.4`` -> ``"2s"``, ``65`` -> ``"1m05s"``, ``3720`` -> ``"1h02m"``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"


def format_progress(done: int, total: int | None, elapsed: float) -> str:
    """One log line: ``"12.0 MiB / 100.0 MiB (12%) at 45.1 MiB/s, ETA 2s"``.

    Without a total the percentage and ETA are left out; before any time has passed, the rate is.
    """
    rate = done / elapsed if elapsed > 0 else None
    if total is None:
        text = format_bytes(done)
    else:
        percent = int(done * 100 / total) if total else 100
        text = f"{format_bytes(done)} / {format_bytes(total)} ({percent}%)"
    if rate is None:
        return text
    text += f" at {format_bytes(rate)}/s"
    if total is not None and rate > 0:
        text += f", ETA {format_duration(max(0, total - done) / rate)}"
    return text


class ProgressThrottle:
    """Forwards progress to a callback at most every ``interval`` seconds (plus a final call)."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._last = self._started

    @property
    def elapsed(self) -> float:
        """Seconds since the copy started."""
        return self._clock() - self._started

    def update(self, done: int, total: int | None) -> None:
        """Report if the interval has passed since the previous report."""
        if self._callback is None:
            return
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._callback(done, total, now - self._started)

    def finish(self, done: int, total: int | None) -> None:
        """Report unconditionally (end of copy)."""
        if self._callback is not None:
            self._callback(done, total, self.elapsed)
