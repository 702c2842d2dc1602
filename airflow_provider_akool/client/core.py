"""What the sync and async clients share besides the operations: auth headers and logging."""

from __future__ import annotations

import inspect
import logging
import time

import httpx

from airflow_provider_akool.client.auth import TOKENS, TokenCache, token_key
from airflow_provider_akool.client.calls import Call
from airflow_provider_akool.client.config import ClientConfig
from airflow_provider_akool.client.errors import AkoolAuthError
from airflow_provider_akool.client.operations import AkoolOperations
from airflow_provider_akool.client.retry import RetryPolicy

log = logging.getLogger("airflow_provider_akool.client")


class ClientCore(AkoolOperations):
    """Configuration, retry policy and auth-header logic common to both clients."""

    def __init__(self, config: ClientConfig, *, retry: RetryPolicy | None = None, tokens: TokenCache | None = None):
        self.config = config
        self.retry = retry or RetryPolicy(
            max_attempts=config.max_attempts,
            max_wait=config.max_retry_wait,
            max_time=config.max_retry_time,
            base=config.backoff_base,
        )
        self.tokens = tokens or TOKENS
        self.token_key = token_key(config)

    def __repr__(self) -> str:
        mode = "token" if self.config.token_mode else "api-key"
        return f"{type(self).__name__}(base_url={self.config.base_url!r}, auth={mode})"

    def _http_options(self) -> dict[str, object]:
        return {
            "base_url": self.config.base_url,
            "timeout": httpx.Timeout(self.config.timeout, connect=self.config.connect_timeout),
            "headers": {"User-Agent": self.config.user_agent},
            "follow_redirects": False,
        }

    def _headers_for(self, call: Call, token: str | None) -> dict[str, str]:
        # Exactly one auth header: with both, Authorization wins and a stale token would beat a
        # valid key (docs/reference/akool-api.md §1).
        if not call.authenticated:
            return {}
        if self.config.token_mode:
            return {"Authorization": f"Bearer {token}"}
        return {"x-api-key": self.config.api_key or ""}

    def _remember_token(self, token: str) -> str:
        if self.config.on_secret is not None:
            outcome = self.config.on_secret(token)
            if inspect.isawaitable(outcome):  # an async masker used from sync code: not awaited
                close = getattr(outcome, "close", None)
                if close is not None:
                    close()
        return token

    async def _aremember_token(self, token: str) -> str:
        if self.config.on_secret is not None:
            outcome = self.config.on_secret(token)
            if inspect.isawaitable(outcome):
                await outcome
        return token

    @staticmethod
    def _should_refresh(exc: AkoolAuthError, call: Call, token_mode: bool) -> bool:
        """A 1101 on an authenticated call in token mode: the token expired; refresh it once."""
        return token_mode and call.authenticated and exc.code == 1101

    @staticmethod
    def _log_exchange(call: Call, response: httpx.Response, started: float) -> None:
        log.debug(
            "Akool %s %s -> HTTP %s in %.0f ms",
            call.method,
            call.name,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )


def paginate_pages(count: int, seen: int, page_len: int, size: int) -> bool:
    """True when another page should be fetched."""
    return page_len >= size and seen < count and page_len > 0
