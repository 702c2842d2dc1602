"""One retry policy: how often and how patiently a failed request is tried again.

Used by both API clients (through tenacity) and by the archive's source downloads
(``archive/source.py``, which decides itself which download failures are transient). For API calls,
retried: transport failures (5xx, 429, timeouts, resets) and business codes 1005 (too frequent)
and 1215 (busy). A call that is not idempotent is retried only when the failure proves the request
did not take effect (connect errors, 429, 503, 1005, 1215). Waits are exponential with full jitter,
and a ``Retry-After`` from the server is honoured (capped by ``max_wait``).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)
from tenacity.stop import stop_base

from airflow_provider_akool.client.calls import Call
from airflow_provider_akool.client.errors import AkoolBusyError, AkoolThrottledError, AkoolTransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts and total time; exponential backoff with full jitter; honours Retry-After.

    ``max_attempts`` counts every attempt, the first included. The wait before retry n is random
    in ``[0, min(max_wait, base * 2**(n-1))]``. ``max_time`` bounds how long failures may go on:
    from the first attempt of an API call, or for a download from the last byte received (a
    healthy download may stream for hours); ``None`` sets no bound.
    """

    max_attempts: int = 5
    max_wait: float = 30.0
    max_time: float | None = 180.0
    base: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"retry.max_attempts: must be an integer of at least 1 (got {self.max_attempts!r})")
        if self.base < 0 or self.max_wait < 0 or (self.max_time is not None and self.max_time < 0):
            raise ValueError("retry.base, retry.max_wait and retry.max_time: must not be negative")

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based); a server's ``retry_after`` wins, capped."""
        if retry_after is not None:
            return min(self.max_wait, float(retry_after))
        ceiling = min(self.max_wait, self.base * 2 ** (retry_number - 1))
        return random.uniform(0, ceiling)

    def should_retry(self, call: Call, exc: BaseException) -> bool:
        """Decide whether ``exc`` raised by ``call`` is worth another attempt."""
        if isinstance(exc, AkoolThrottledError):
            return True
        if isinstance(exc, AkoolBusyError):
            return exc.code == 1215
        if isinstance(exc, AkoolTransientError):
            return call.idempotent or not exc.maybe_applied
        return False

    def wait_seconds(self, state: RetryCallState) -> float:
        """Full-jitter exponential backoff, or the server's Retry-After when it asked for one."""
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return self.delay(state.attempt_number, retry_after if isinstance(retry_after, int | float) else None)

    def _kwargs(self, call: Call) -> dict[str, object]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            sleep = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "Akool %s failed (%s); attempt %d/%d, retrying in %.1fs",
                call.name,
                exc,
                state.attempt_number,
                self.max_attempts,
                sleep,
            )

        stop: stop_base = stop_after_attempt(self.max_attempts)
        if self.max_time is not None:
            stop = stop | stop_after_delay(self.max_time)
        return {
            "stop": stop,
            "wait": self.wait_seconds,
            "retry": retry_if_exception(lambda exc: self.should_retry(call, exc)),
            "reraise": True,
            "before_sleep": before_sleep,
        }

    def sync(self, call: Call) -> Retrying:
        """A tenacity Retrying for a blocking call."""
        return Retrying(**self._kwargs(call))  # type: ignore[arg-type]

    def asynchronous(self, call: Call) -> AsyncRetrying:
        """A tenacity AsyncRetrying for an awaited call."""
        return AsyncRetrying(**self._kwargs(call))  # type: ignore[arg-type]
