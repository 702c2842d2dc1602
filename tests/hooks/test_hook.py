"""AkoolHook: connection -> client, lazily, with test_connection reporting clear reasons."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from airflow_provider_akool.client.auth import TOKENS
from airflow_provider_akool.hooks.akool import AkoolHook

BASE = "https://akool.test"
LIST = "/api/open/v4/liveAvatar/avatar/list"


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "akool_default", **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "akool", **fields}))


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def test_no_io_at_construction(api: respx.MockRouter) -> None:
    hook = AkoolHook(akool_conn_id="does_not_exist")
    assert hook.akool_conn_id == "does_not_exist"
    assert api.calls.call_count == 0


def test_api_key_connection(monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter) -> None:
    set_conn(
        monkeypatch,
        host=BASE,
        password="key-abcdef",
        extra={"stream_type": "livekit", "timeout": "12", "max_attempts": 2},
    )
    hook = AkoolHook()
    config = hook.get_config()
    assert (config.base_url, config.api_key, config.client_id, config.timeout, config.max_attempts) == (
        BASE,
        "key-abcdef",
        None,
        12.0,
        2,
    )
    assert hook.default_stream_type == "livekit"
    assert hook.get_client() is hook.get_client()


def test_token_mode_connection_and_default_host(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, login="client-1", password="secret-xyz")
    config = AkoolHook().get_config()
    assert config.base_url == "https://openapi.akool.com"
    assert (config.client_id, config.client_secret, config.api_key) == ("client-1", "secret-xyz", None)


def test_bad_extra_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host=BASE, password="k-123456", extra={"timeout": "soon"})
    with pytest.raises(ValueError, match="timeout"):
        AkoolHook().get_config()


def test_test_connection_success(monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter) -> None:
    set_conn(monkeypatch, host=BASE, password="key-abcdef")
    api.get(LIST).mock(
        return_value=httpx.Response(200, json={"code": 1000, "msg": "OK", "data": {"count": 4, "result": []}})
    )
    ok, message = AkoolHook().test_connection()
    assert ok, message
    assert "4 streaming avatar" in message


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200, json={"code": 1101, "msg": "invalid token"}), "rejected the credentials"),
        (httpx.Response(404, text="<html>nginx</html>"), "does not look like the Akool API"),
        (httpx.ConnectError("refused"), "Cannot reach"),
    ],
)
def test_test_connection_failure_reasons(
    monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter, response: object, expected: str
) -> None:
    set_conn(monkeypatch, host=BASE, password="key-abcdef")
    api.get(LIST).mock(side_effect=[response])
    ok, message = AkoolHook().test_connection()
    assert not ok
    assert expected in message
    assert "key-abcdef" not in message


def test_test_connection_never_raises_on_missing_password(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host=BASE)
    ok, message = AkoolHook().test_connection()
    assert not ok and "api_key" in message


async def test_async_clients_shared_per_connection(monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter) -> None:
    TOKENS.clear()
    set_conn(monkeypatch, host=BASE, login="cid", password="secret-123")
    get_token = api.post("/api/open/v3/getToken").mock(
        return_value=httpx.Response(200, json={"code": 1000, "token": "tok-shared"})
    )
    api.get("/api/open/v4/liveAvatar/avatar/detail").mock(
        return_value=httpx.Response(200, json={"code": 1000, "msg": "OK", "data": {"avatar_id": "a", "status": 3}})
    )
    first = await AkoolHook().get_async_client()
    second = await AkoolHook().get_async_client()
    assert first is second
    await first.get_avatar("a")
    await second.get_avatar("a")
    assert get_token.call_count == 1
    await first.aclose()
    TOKENS.clear()


async def test_concurrent_first_calls_build_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    set_conn(monkeypatch, conn_id="akool_concurrent", host=BASE, password="key-abcdef")
    clients = await asyncio.gather(*(AkoolHook(akool_conn_id="akool_concurrent").get_async_client() for _ in range(50)))
    assert len({id(c) for c in clients}) == 1
    await clients[0].aclose()


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        ("http://127.0.0.1:8765", 0, "http://127.0.0.1:8765"),  # what the connection form stores
        ("http://127.0.0.1:8765", None, "http://127.0.0.1:8765"),
        ("http://127.0.0.1", 8765, "http://127.0.0.1:8765"),  # akool://:key@127.0.0.1:8765 in URI form
        ("openapi.akool.com", 443, "https://openapi.akool.com:443"),
        ("http://127.0.0.1:8765", 8765, "http://127.0.0.1:8765"),
        (None, 0, "https://openapi.akool.com"),
    ],
)
def test_port_zero_is_ignored_and_a_real_port_reaches_the_base_url(
    monkeypatch: pytest.MonkeyPatch, host: str | None, port: int | None, base_url: str
) -> None:
    set_conn(monkeypatch, host=host, port=port, password="key-abcdef")
    assert AkoolHook().get_config().base_url == base_url


def test_a_port_that_contradicts_the_base_url_names_both(
    monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter
) -> None:
    set_conn(monkeypatch, host="http://127.0.0.1:8765", port=9000, password="key-abcdef")
    with pytest.raises(
        ValueError, match=r"port 9000 differs from the port of the API base URL 'http://127.0.0.1:8765'"
    ):
        AkoolHook().get_config()
    ok, message = AkoolHook().test_connection()
    assert not ok and message.startswith("Connection is misconfigured: ") and "port 9000" in message
    assert api.calls.call_count == 0
