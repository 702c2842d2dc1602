"""Progress reporting for long copies: a throttled callback and a human-readable formatter.

The copier calls ``progress(bytes_done, total_or_None, elapsed_seconds)`` at most once per
interval and once at the end, so an operator can log bytes, rate and ETA without flooding logs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow_provider_akool.archive.models import ArchiveResult

ProgressCallback = Callable[[int, int | None, float], None]
"""``(bytes_done, total_bytes or None, elapsed_seconds) -> None``."""


class TaskLog(Protocol):
    """The logging methods BatchProgressLog needs (stdlib loggers and Airflow's task log both fit)."""

    def info(self, msg: str, /, *args: Any) -> Any: ...
    def warning(self, msg: str, /, *args: Any) -> Any: ...
    def error(self, msg: str, /, *args: Any) -> Any: ...


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


class RedactQueryFilter(logging.Filter):
    """Cuts query strings from URLs in httpx's request log lines (signed CDN URLs carry credentials)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                str(arg).split("?", 1)[0] + "?…" if "://" in str(arg) and "?" in str(arg) else arg
                for arg in record.args
            )
        return True


class BatchProgressLog:
    """Batch progress for the task log: one line per finished resource, and at most one progress
    line per ``interval`` with bytes transferred, overall rate and each in-flight copy's ETA."""

    def __init__(self, log: TaskLog, total: int, interval: float) -> None:
        self._log, self._total, self._interval = log, total, interval
        self._lock = threading.Lock()
        self._active: dict[str, tuple[int, int | None, float]] = {}
        self._passes: dict[str, int] = {}
        self._finished = 0
        self._finished_bytes = 0
        self._started = time.monotonic()
        self._last = self._started

    def progress(self, name: str, done: int, total: int | None, elapsed: float) -> None:
        with self._lock:
            self._active[name] = (done, total, elapsed)
            now = time.monotonic()
            if now - self._last < self._interval:
                return
            self._last = now
            moved = self._finished_bytes + sum(d for d, _, _ in self._active.values())
            wall = max(now - self._started, 1e-6)
            items = list(self._active.items())
            flying = "; ".join(f"{self._label(n)}: {format_progress(d, t, e)}" for n, (d, t, e) in items[:4])
            flying += f"; and {len(items) - 4} more" if len(items) > 4 else ""
            self._log.info(
                "Archive progress: %d/%d resources finished, %s transferred at %s/s; in flight: %s",
                self._finished,
                self._total,
                format_bytes(moved),
                format_bytes(moved / wall),
                flying or "none",
            )

    def _label(self, name: str) -> str:
        number = self._passes.get(name)
        return name if number is None else f"{name} (pass {number}/2)"

    def source_pass(self, name: str, number: int, description: str) -> None:
        """A hash-first copy starts pass ``number`` (1: hash the source, 2: upload): log it, and tag
        the resource's progress with the pass until it finishes."""
        with self._lock:
            self._passes[name] = number
            self._active.pop(name, None)  # the byte count starts again at 0
        self._log.info("%s: hash_first pass %d/2: %s", name, number, description)

    def result(self, result: ArchiveResult) -> None:
        with self._lock:
            self._active.pop(result.name, None)
            self._passes.pop(result.name, None)
            self._finished += 1
            self._finished_bytes += result.bytes_downloaded
            step = f"[{self._finished}/{self._total}]"
        status = result.status.value
        if status == "archived":
            self._log.info(
                "%s archived %s -> %s (%s in %.1f s, sha256 %s)",
                step,
                result.name,
                result.s3_uri,
                format_bytes(result.size or 0),
                result.elapsed_s,
                (result.sha256 or "")[:16],
            )
        elif status == "skipped":
            self._log.info("%s skipped %s: %s", step, result.name, result.reason)
        elif status == "expired":
            self._log.warning("%s expired %s: %s", step, result.name, result.reason)
        else:
            self._log.error("%s FAILED %s: %s", step, result.name, result.reason)
