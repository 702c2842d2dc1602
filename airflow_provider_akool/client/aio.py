"""Asyncio Akool client (for triggers and the streaming runner)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import httpx

from airflow_provider_akool.client.calls import Call, Reply
from airflow_provider_akool.client.config import ClientConfig
from airflow_provider_akool.client.core import ClientCore, paginate_pages
from airflow_provider_akool.client.errors import AkoolAuthError
from airflow_provider_akool.client.http import build_request, interpret, transport_error
from airflow_provider_akool.client.models import Page
from airflow_provider_akool.client.retry import RetryPolicy

T = TypeVar("T")

# Requests in flight per client. httpcore does work proportional to its pool size and queue length
# for every request, so thousands of coroutines queuing inside the pool make it collapse (measured
# with 1,000 avatar waits); waiting on a semaphore costs nothing and also bounds the load one
# process puts on Akool (which answers 1005 "too frequent" when pushed, docs/reference/akool-api.md §6).
MAX_IN_FLIGHT = 16
POOL_LIMITS = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)


class AsyncAkoolClient(ClientCore):
    """Asynchronous client: the same endpoint methods as :class:`AkoolClient`, as coroutines.

    One instance is meant to be shared by all coroutines of an event loop (one connection pool,
    one token), e.g. every trigger of a triggerer that uses the same connection.
    """

    is_async = True

    def __init__(
        self,
        config: ClientConfig,
        *,
        http_client: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(config, retry=retry)
        self._http = http_client or httpx.AsyncClient(limits=POOL_LIMITS, **self._http_options())  # type: ignore[arg-type]
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def __aenter__(self) -> AsyncAkoolClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the connection pool."""
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def send(self, call: Call) -> Reply:
        """Perform one call with auth, retries and error mapping."""
        async for attempt in self.retry.asynchronous(call):
            with attempt:
                return await self._send_authenticated(call)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

    async def _send_authenticated(self, call: Call) -> Reply:
        token = await self._token() if call.authenticated and self.config.token_mode else None
        try:
            return await self._exchange(call, token)
        except AkoolAuthError as exc:
            if not self._should_refresh(exc, call, self.config.token_mode) or token is None:
                raise
            self.tokens.invalidate(self.token_key, token)
            return await self._exchange(call, await self._token())

    async def _exchange(self, call: Call, token: str | None) -> Reply:
        request = build_request(self._http, call, self._headers_for(call, token))
        async with self._in_flight:
            started = time.monotonic()
            try:
                response = await self._http.send(request)
            except httpx.HTTPError as exc:
                raise transport_error(call, exc) from None
        self._log_exchange(call, response, started)
        return interpret(call, response)

    async def _token(self) -> str:
        async def fetch() -> str:
            return await self._aremember_token(await self.get_token())

        return await self.tokens.aget(self.token_key, fetch)

    async def paginate(
        self,
        list_page: Callable[..., Coroutine[Any, Any, Page[T]]],
        /,
        *,
        page_size: int = 100,
        **filters: Any,
    ) -> AsyncIterator[T]:
        """Iterate every item of a list endpoint: ``async for s in c.paginate(c.list_sessions)``."""
        page, seen = 1, 0
        while True:
            current = await list_page(page=page, size=page_size, **filters)
            for item in current.result:
                yield item
            seen += len(current.result)
            if not paginate_pages(current.count, seen, len(current.result), page_size):
                return
            page += 1
