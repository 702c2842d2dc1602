"""Blocking Akool client (for operators and plain scripts)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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


class AkoolClient(ClientCore):
    """Synchronous client. Every endpoint method comes from :class:`AkoolOperations`.

    >>> with AkoolClient(ClientConfig(api_key="...")) as akool:  # doctest: +SKIP
    ...     avatar = akool.get_avatar("dvp_Tristan_cloth2_1080P")
    """

    is_async = False

    def __init__(
        self,
        config: ClientConfig,
        *,
        http_client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(config, retry=retry)
        self._http = http_client or httpx.Client(**self._http_options())  # type: ignore[arg-type]

    def __enter__(self) -> AkoolClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def send(self, call: Call) -> Reply:
        """Perform one call with auth, retries and error mapping."""
        for attempt in self.retry.sync(call):
            with attempt:
                return self._send_authenticated(call)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

    def _send_authenticated(self, call: Call) -> Reply:
        token = self._token() if call.authenticated and self.config.token_mode else None
        try:
            return self._exchange(call, token)
        except AkoolAuthError as exc:
            if not self._should_refresh(exc, call, self.config.token_mode) or token is None:
                raise
            self.tokens.invalidate(self.token_key, token)
            return self._exchange(call, self._token())

    def _exchange(self, call: Call, token: str | None) -> Reply:
        request = build_request(self._http, call, self._headers_for(call, token))
        started = time.monotonic()
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            raise transport_error(call, exc) from None
        self._log_exchange(call, response, started)
        return interpret(call, response)

    def _token(self) -> str:
        return self.tokens.get(self.token_key, lambda: self._remember_token(self.get_token()))

    def paginate(self, list_page: Callable[..., Page[T]], /, *, page_size: int = 100, **filters: Any) -> Iterator[T]:
        """Iterate every item of a list endpoint, e.g. ``paginate(client.list_sessions, status=2)``."""
        page, seen = 1, 0
        while True:
            current = list_page(page=page, size=page_size, **filters)
            yield from current.result
            seen += len(current.result)
            if not paginate_pages(current.count, seen, len(current.result), page_size):
                return
            page += 1
