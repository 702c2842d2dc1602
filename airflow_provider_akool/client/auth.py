"""Process-wide cache of bearer tokens for token mode (clientId/clientSecret -> getToken).

Akool tokens live for more than a year (docs/reference/akool-api.md §1), so one token per credential pair per
process is enough. Fetching is single-flight: concurrent callers (1,000 triggers in one triggerer)
wait for one getToken instead of each sending their own. A token is dropped only when a request
using that very token failed with 1101, so concurrent refreshes do not thrash.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Awaitable, Callable

from airflow_provider_akool.client.config import ClientConfig

TokenKey = tuple[str, str, str]


def token_key(config: ClientConfig) -> TokenKey:
    """Cache key: base URL, client id and a fingerprint of the secret (never the secret itself)."""
    secret = (config.client_secret or "").encode()
    return (config.base_url, config.client_id or "", hashlib.sha256(secret).hexdigest()[:16])


class TokenCache:
    """Thread-safe and asyncio-safe token store with single-flight fetching."""

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, str] = {}
        self._lock = threading.Lock()
        self._fetch_locks: dict[TokenKey, threading.Lock] = {}
        self._async_locks: dict[tuple[TokenKey, int], asyncio.Lock] = {}

    def peek(self, key: TokenKey) -> str | None:
        with self._lock:
            return self._tokens.get(key)

    def store(self, key: TokenKey, token: str) -> None:
        with self._lock:
            self._tokens[key] = token

    def invalidate(self, key: TokenKey, token: str) -> None:
        """Forget ``token`` if it is still the cached one (it was rejected with 1101)."""
        with self._lock:
            if self._tokens.get(key) == token:
                del self._tokens[key]

    def get(self, key: TokenKey, fetch: Callable[[], str]) -> str:
        """Cached token, or one fetched by exactly one thread while the others wait."""
        token = self.peek(key)
        if token:
            return token
        with self._lock:
            fetch_lock = self._fetch_locks.setdefault(key, threading.Lock())
        with fetch_lock:
            token = self.peek(key)
            if not token:
                token = fetch()
                self.store(key, token)
            return token

    async def aget(self, key: TokenKey, fetch: Callable[[], Awaitable[str]]) -> str:
        """Async variant: one getToken per key per event loop, the other coroutines wait."""
        token = self.peek(key)
        if token:
            return token
        loop_key = (key, id(asyncio.get_running_loop()))
        with self._lock:
            lock = self._async_locks.setdefault(loop_key, asyncio.Lock())
        async with lock:
            token = self.peek(key)
            if not token:
                token = await fetch()
                self.store(key, token)
            return token

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()
