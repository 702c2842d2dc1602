"""Which failures are retried, how long the client waits, and that non-idempotent creates are safe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_akool.client import (
    AkoolAuthError,
    AkoolBadParameterError,
    AkoolBusyError,
    AkoolClient,
    AkoolError,
    AkoolNotFoundError,
    AkoolQuotaError,
    AkoolThrottledError,
    AkoolTransientError,
    ClientConfig,
    RetryPolicy,
)
from airflow_provider_akool.client.calls import Call

BASE = "https://akool.test"
DETAIL = "/api/open/v4/liveAvatar/avatar/detail"
SUCCESS = httpx.Response(200, json={"code": 1000, "msg": "OK", "data": {"avatar_id": "a", "status": 3}})


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def make_client(**overrides: Any) -> AkoolClient:
    config = ClientConfig(base_url=BASE, api_key="key-123456", backoff_base=0.001, max_retry_wait=0.01, **overrides)
    return AkoolClient(config)


def business(code: int) -> httpx.Response:
    return httpx.Response(200, json={"code": code, "msg": f"error {code}"})


# (first response or exception, expected retried?, error type raised when not retried)
RETRY_TABLE: list[tuple[str, Any, bool, type[Exception]]] = [
    ("http-500", httpx.Response(500), True, AkoolTransientError),
    ("http-502", httpx.Response(502), True, AkoolTransientError),
    ("http-503", httpx.Response(503), True, AkoolTransientError),
    ("http-429", httpx.Response(429, headers={"Retry-After": "0"}), True, AkoolTransientError),
    ("connect-error", httpx.ConnectError("refused"), True, AkoolTransientError),
    ("read-timeout", httpx.ReadTimeout("slow"), True, AkoolTransientError),
    ("reset", httpx.RemoteProtocolError("reset"), True, AkoolTransientError),
    ("code-1005", business(1005), True, AkoolThrottledError),
    ("code-1215", business(1215), True, AkoolBusyError),
    ("code-1214", business(1214), False, AkoolBusyError),
    ("code-1003", business(1003), False, AkoolBadParameterError),
    ("code-1101", business(1101), False, AkoolAuthError),
    ("code-1102", business(1102), False, AkoolAuthError),
    ("code-1008", business(1008), False, AkoolNotFoundError),
    ("code-1104", business(1104), False, AkoolQuotaError),
    ("code-9999", business(9999), False, AkoolError),
    ("http-404-html", httpx.Response(404, text="<html>not found</html>"), False, AkoolError),
]


@pytest.mark.parametrize(("first", "retried", "error"), [r[1:] for r in RETRY_TABLE], ids=[r[0] for r in RETRY_TABLE])
def test_retry_decision_for_idempotent_read(
    api: respx.MockRouter, first: Any, retried: bool, error: type[Exception]
) -> None:
    route = api.get(DETAIL).mock(side_effect=[first, SUCCESS])
    with make_client() as client:
        if retried:
            assert client.get_avatar("a").state == "ready"
            assert route.call_count == 2
        else:
            with pytest.raises(error):
                client.get_avatar("a")
            assert route.call_count == 1


def test_unknown_code_keeps_its_number(api: respx.MockRouter) -> None:
    api.get(DETAIL).mock(return_value=business(4242))
    with make_client() as client, pytest.raises(AkoolError) as caught:
        client.get_avatar("a")
    assert caught.value.code == 4242
    assert caught.value.endpoint == "avatar.detail"
    assert "4242" in str(caught.value)


def test_attempts_are_bounded(api: respx.MockRouter) -> None:
    route = api.get(DETAIL).mock(return_value=httpx.Response(503))
    with make_client(max_attempts=3) as client, pytest.raises(AkoolTransientError) as caught:
        client.get_avatar("a")
    assert route.call_count == 3
    assert caught.value.http_status == 503


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(max_attempts=3, max_wait=5.0, base=0.5)

    class State:
        attempt_number = 1

        class outcome:
            @staticmethod
            def exception() -> BaseException:
                return AkoolTransientError("429", http_status=429, retry_after=2.0)

    assert policy.wait_seconds(State()) == 2.0  # type: ignore[arg-type]

    class Long(State):
        class outcome:
            @staticmethod
            def exception() -> BaseException:
                return AkoolTransientError("429", http_status=429, retry_after=600.0)

    assert policy.wait_seconds(Long()) == 5.0  # type: ignore[arg-type]


def test_backoff_has_jitter_and_grows() -> None:
    policy = RetryPolicy(max_attempts=10, max_wait=100.0, base=1.0)

    def waits(attempt: int) -> set[float]:
        class State:
            attempt_number = attempt
            outcome = None

        return {policy.wait_seconds(State()) for _ in range(50)}  # type: ignore[arg-type]

    first, fifth = waits(1), waits(5)
    assert len(first) > 1 and all(0 <= w <= 1.0 for w in first)
    assert max(fifth) <= 16.0 and max(fifth) > 1.0


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (AkoolTransientError("502", http_status=502, maybe_applied=True), False),
        (AkoolTransientError("reset", maybe_applied=True), False),
        (AkoolTransientError("connect", maybe_applied=False), True),
        (AkoolTransientError("429", http_status=429, maybe_applied=False), True),
        (AkoolThrottledError("1005", code=1005), True),
    ],
)
def test_non_idempotent_calls_only_retry_when_not_applied(exc: AkoolError, retried: bool) -> None:
    call = Call("POST", "/x", "session.create", idempotent=False)
    assert RetryPolicy().should_retry(call, exc) is retried


SESSION = {"_id": "s-new", "status": 1, "stream_type": "sim", "credentials": {}}


# What a lost create response may have opened is the job of sessions/ (tests/sessions/test_session_lost_create.py).


def test_session_create_retried_when_surely_not_applied(api: respx.MockRouter) -> None:
    create = api.post("/api/open/v4/liveAvatar/session/create").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}),
            business(1005),
            httpx.Response(200, json={"code": 1000, "msg": "OK", "data": SESSION}),
        ]
    )
    with make_client() as client:
        assert client.create_session(avatar_id="a").id == "s-new"
    assert create.call_count == 3
