"""Turning Calls into httpx requests and httpx outcomes into replies or typed errors.

Pure functions shared by both clients. Akool reports business errors inside HTTP 200
(docs/reference/akool-api.md §6), so the envelope's ``code`` decides success; non-2xx is a transport failure.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from airflow_provider_akool.client.calls import Call, Reply
from airflow_provider_akool.client.errors import (
    AkoolAuthError,
    AkoolError,
    AkoolPermissionError,
    AkoolTransientError,
    error_for_code,
)

SUCCESS = 1000


def build_request(client: httpx.Client | httpx.AsyncClient, call: Call, auth_headers: dict[str, str]) -> httpx.Request:
    """An httpx request for ``call`` with the given auth headers (exactly one auth header)."""
    headers = {"Accept": "application/json", **auth_headers}
    params = {k: v for k, v in (call.params or {}).items() if v is not None}
    return client.build_request(call.method, call.path, params=params, json=call.json, headers=headers)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def interpret(call: Call, response: httpx.Response) -> Reply:
    """Return the decoded envelope when ``code`` is 1000 (or accepted); raise a typed error otherwise."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise AkoolTransientError(
            f"Akool answered HTTP {status}",
            endpoint=call.name,
            http_status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            # 429 and 503 mean "not processed"; other 5xx may come after the action took effect.
            maybe_applied=status not in (429, 503),
        )
    # A 401/403 without Akool's envelope comes from a gateway or WAF in front of it: still the
    # credentials or the account, which a retry cannot fix.
    bare_error = {401: AkoolAuthError, 403: AkoolPermissionError}.get(status, AkoolError)
    try:
        body: Any = response.json()
    except ValueError:
        raise bare_error(
            f"Akool answered HTTP {status} with a non-JSON body", endpoint=call.name, http_status=status
        ) from None
    if not isinstance(body, dict) or "code" not in body:
        raise bare_error(
            f"Akool answered HTTP {status} without a response envelope", endpoint=call.name, http_status=status
        )
    code = body.get("code")
    if not isinstance(code, int):
        raise AkoolError(f"Akool answered with a non-integer code {code!r}", endpoint=call.name, http_status=status)
    if code == SUCCESS or code in call.accept_codes:
        if status >= 400:
            raise AkoolError(f"Akool answered HTTP {status}", code=code, endpoint=call.name, http_status=status)
        return body
    msg = body.get("msg")
    raise error_for_code(code, str(msg) if msg else "", endpoint=call.name, http_status=status)


def transport_error(call: Call, exc: httpx.HTTPError) -> AkoolTransientError:
    """Classify an httpx exception; connect-phase failures certainly did not reach Akool."""
    not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    kind = type(exc).__name__
    return AkoolTransientError(
        f"network error talking to Akool: {kind}", endpoint=call.name, maybe_applied=not not_sent
    )
