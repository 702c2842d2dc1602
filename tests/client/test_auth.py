"""Auth modes, token caching and refresh, and that secrets stay out of logs, repr and errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import respx

from airflow_provider_akool.client import (
    AkoolAuthError,
    AkoolClient,
    AkoolPermissionError,
    AkoolRequestError,
    AsyncAkoolClient,
    ClientConfig,
)
from airflow_provider_akool.client.auth import TOKENS

BASE = "https://akool.test"
DETAIL = "/api/open/v4/liveAvatar/avatar/detail"
READY = {"code": 1000, "msg": "OK", "data": {"avatar_id": "a", "status": 3}}
API_KEY = "KEY-distinctive-6f1e"
SECRET = "SECRET-distinctive-9a2c"
TOKEN = "TOKEN-distinctive-77b0"


@pytest.fixture(autouse=True)
def fresh_tokens() -> Iterator[None]:
    TOKENS.clear()
    yield
    TOKENS.clear()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def token_client(**kw: object) -> AkoolClient:
    return AkoolClient(ClientConfig(base_url=BASE, client_id="cid", client_secret=SECRET, max_attempts=1, **kw))  # type: ignore[arg-type]


def test_api_key_mode_sends_only_x_api_key(api: respx.MockRouter) -> None:
    route = api.get(DETAIL).mock(return_value=httpx.Response(200, json=READY))
    with AkoolClient(ClientConfig(base_url=BASE, api_key=API_KEY)) as client:
        client.get_avatar("a")
    headers = route.calls.last.request.headers
    assert headers["x-api-key"] == API_KEY
    assert "authorization" not in headers
    assert headers["user-agent"].startswith("airflow-provider-akool/")


def test_token_mode_gets_token_once_and_sends_only_bearer(api: respx.MockRouter) -> None:
    get_token = api.post("/api/open/v3/getToken").mock(
        return_value=httpx.Response(200, json={"code": 1000, "token": TOKEN})
    )
    route = api.get(DETAIL).mock(return_value=httpx.Response(200, json=READY))
    with token_client() as client:
        client.get_avatar("a")
        client.get_avatar("a")
    with token_client() as other:  # another client in the same process reuses the token
        other.get_avatar("a")
    assert get_token.call_count == 1
    assert get_token.calls.last.request.content == b'{"clientId":"cid","clientSecret":"' + SECRET.encode() + b'"}'
    headers = route.calls.last.request.headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-api-key" not in headers


def test_token_refreshed_once_on_1101_and_call_repeated(api: respx.MockRouter) -> None:
    tokens = iter(["old-token-1", "new-token-2"])
    get_token = api.post("/api/open/v3/getToken").mock(
        side_effect=lambda r: httpx.Response(200, json={"code": 1000, "token": next(tokens)})
    )
    route = api.get(DETAIL).mock(
        side_effect=lambda r: (
            httpx.Response(200, json=READY)
            if r.headers["authorization"] == "Bearer new-token-2"
            else httpx.Response(200, json={"code": 1101, "msg": "token expired"})
        )
    )
    with token_client() as client:
        assert client.get_avatar("a").state == "ready"
    assert get_token.call_count == 2
    assert route.call_count == 2


def test_refresh_happens_only_once(api: respx.MockRouter) -> None:
    get_token = api.post("/api/open/v3/getToken").mock(
        return_value=httpx.Response(200, json={"code": 1000, "token": TOKEN})
    )
    api.get(DETAIL).mock(return_value=httpx.Response(200, json={"code": 1101, "msg": "token expired"}))
    with token_client() as client, pytest.raises(AkoolAuthError):
        client.get_avatar("a")
    assert get_token.call_count == 2


async def test_concurrent_async_callers_share_one_token(api: respx.MockRouter) -> None:
    import asyncio

    get_token = api.post("/api/open/v3/getToken").mock(
        return_value=httpx.Response(200, json={"code": 1000, "token": TOKEN})
    )
    api.get(DETAIL).mock(return_value=httpx.Response(200, json=READY))
    async with AsyncAkoolClient(ClientConfig(base_url=BASE, client_id="cid", client_secret=SECRET)) as client:
        await asyncio.gather(*(client.get_avatar("a") for _ in range(50)))
    assert get_token.call_count == 1


def test_on_secret_receives_the_token(api: respx.MockRouter) -> None:
    seen: list[str] = []
    api.post("/api/open/v3/getToken").mock(return_value=httpx.Response(200, json={"code": 1000, "token": TOKEN}))
    api.get(DETAIL).mock(return_value=httpx.Response(200, json=READY))
    with token_client(on_secret=seen.append) as client:
        client.get_avatar("a")
    assert seen == [TOKEN]


def test_config_requires_credentials_and_hides_them() -> None:
    with pytest.raises(AkoolRequestError, match="api_key"):
        ClientConfig(base_url=BASE)
    with pytest.raises(AkoolRequestError, match="client_secret"):
        ClientConfig(base_url=BASE, client_id="cid")
    with pytest.raises(AkoolRequestError, match="base_url"):
        ClientConfig(base_url="openapi.akool.com", api_key=API_KEY)
    config = ClientConfig(base_url=BASE, api_key=API_KEY, client_secret=SECRET)
    assert API_KEY not in repr(config) and SECRET not in repr(config)
    client = AkoolClient(config)
    assert API_KEY not in repr(client)


def test_secrets_absent_from_logs_and_errors(api: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api.post("/api/open/v3/getToken").mock(return_value=httpx.Response(200, json={"code": 1000, "token": TOKEN}))
    api.get(DETAIL).mock(
        side_effect=[
            httpx.Response(503),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"code": 1101, "msg": "bad"}),
        ]
    )
    errors: list[str] = []
    with AkoolClient(
        ClientConfig(base_url=BASE, client_id="cid", client_secret=SECRET, max_attempts=3, backoff_base=0.001)
    ) as client:
        try:
            client.get_avatar("a")
        except Exception as exc:
            errors.append(f"{exc!r} {exc}")
    assert errors, "expected the call to fail"
    text = caplog.text + " ".join(errors)
    assert "retrying" in caplog.text  # the log shows retries happened...
    for secret in (SECRET, TOKEN):
        assert secret not in text  # ...without the secrets


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, "<html>Unauthorized</html>", AkoolAuthError),
        (401, '{"message": "Unauthorized"}', AkoolAuthError),
        (403, "<html>Forbidden by WAF</html>", AkoolPermissionError),
    ],
    ids=["401-html", "401-json-no-envelope", "403-html"],
)
def test_a_gateway_401_or_403_without_akool_envelope_is_an_account_error(
    api: respx.MockRouter, status: int, body: str, expected: type[Exception]
) -> None:
    # A gateway in front of Akool answers for it: still the credentials or the account, not retried.
    route = api.get(DETAIL).mock(return_value=httpx.Response(status, text=body))
    with AkoolClient(ClientConfig(base_url=BASE, api_key=API_KEY)) as client, pytest.raises(expected) as caught:
        client.get_avatar("a")
    assert route.call_count == 1, "an account error is not retried"
    assert f"HTTP {status}" in str(caught.value) and API_KEY not in str(caught.value)
