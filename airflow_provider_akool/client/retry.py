"""One retry policy for both clients, built on tenacity.

Retried: transport failures (5xx, 429, timeouts, resets) and business codes 1005 (too frequent)
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

from airflow_provider_akool.client.calls import Call
from airflow_provider_akool.client.errors import AkoolBusyError, AkoolThrottledError, AkoolTransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts and total time; exponential backoff with jitter; honours Retry-After."""

    max_attempts: int = 5
    max_wait: float = 30.0
    max_time: float = 180.0
    base: float = 0.5

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
        if isinstance(retry_after, int | float):
            return min(self.max_wait, float(retry_after))
        ceiling = min(self.max_wait, self.base * 2 ** (state.attempt_number - 1))
        return random.uniform(0, ceiling)

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

        return {
            "stop": stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_time),
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
