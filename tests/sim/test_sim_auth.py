"""Auth: x-api-key, bearer tokens from getToken, precedence, 1101/1102, the request log's auth mode."""

from __future__ import annotations

import httpx

from airflow_provider_akool.sim import SimServer

LIST = "/api/open/v4/liveAvatar/avatar/list"


def _token(sim: SimServer) -> str:
    reply = httpx.post(
        f"{sim.url}/api/open/v3/getToken", json={"clientId": "sim-client-id", "clientSecret": "sim-client-secret"}
    ).json()
    assert set(reply) == {"code", "token"}  # not wrapped in data
    assert reply["code"] == 1000
    token: str = reply["token"]
    return token


def test_get_token_is_unwrapped_and_counted(akool_sim: SimServer) -> None:
    _token(akool_sim)
    _token(akool_sim)
    assert akool_sim.state()["tokens"]["issued"] == 2


def test_get_token_with_bad_credentials_fails(akool_sim: SimServer) -> None:
    reply = httpx.post(
        f"{akool_sim.url}/api/open/v3/getToken", json={"clientId": "sim-client-id", "clientSecret": "nope"}
    ).json()
    assert reply["code"] != 1000
    assert "token" not in reply
    missing = httpx.post(f"{akool_sim.url}/api/open/v3/getToken", json={"clientId": "x"}).json()
    assert missing["code"] == 1003
    assert "clientSecret" in missing["msg"]


def test_missing_and_bad_auth_codes_in_http_200(akool_sim: SimServer) -> None:
    none = httpx.get(akool_sim.url + LIST)
    assert none.status_code == 200
    assert none.json()["code"] == 1102
    bad_key = httpx.get(akool_sim.url + LIST, headers={"x-api-key": "wrong"})
    assert bad_key.json()["code"] == 1101
    bad_token = httpx.get(akool_sim.url + LIST, headers={"Authorization": "Bearer forged"})
    assert bad_token.json()["code"] == 1101


def test_api_key_and_bearer_both_work(akool_sim: SimServer) -> None:
    assert httpx.get(akool_sim.url + LIST, headers={"x-api-key": "sim-api-key"}).json()["code"] == 1000
    token = _token(akool_sim)
    assert httpx.get(akool_sim.url + LIST, headers={"Authorization": f"Bearer {token}"}).json()["code"] == 1000


def test_authorization_wins_when_both_headers_are_sent(akool_sim: SimServer) -> None:
    token = _token(akool_sim)
    good_bearer = {"Authorization": f"Bearer {token}", "x-api-key": "wrong"}
    assert httpx.get(akool_sim.url + LIST, headers=good_bearer).json()["code"] == 1000
    stale_bearer = {"Authorization": "Bearer stale", "x-api-key": "sim-api-key"}
    assert httpx.get(akool_sim.url + LIST, headers=stale_bearer).json()["code"] == 1101
    modes = [r["auth"] for r in akool_sim.requests() if r["path"] == LIST]
    assert modes == ["both", "both"]


def test_expired_token_gives_1101(akool_sim: SimServer) -> None:
    token = _token(akool_sim)
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(akool_sim.url + LIST, headers=headers).json()["code"] == 1000
    assert akool_sim.expire_tokens() == 1
    assert httpx.get(akool_sim.url + LIST, headers=headers).json()["code"] == 1101
    assert akool_sim.state()["tokens"]["expired"] == 1


def test_request_log_redacts_secrets_and_records_auth_mode(akool_sim: SimServer) -> None:
    _token(akool_sim)
    httpx.get(akool_sim.url + LIST, headers={"x-api-key": "sim-api-key"}, params={"size": 5})
    httpx.get(akool_sim.url + LIST)
    log = akool_sim.requests()
    assert [r["auth"] for r in log] == ["none", "api_key", "none"]
    assert log[0]["body"] == {"clientId": "sim-client-id", "clientSecret": "***"}
    assert log[1]["query"] == {"size": "5"}
    assert [r["code"] for r in log] == [1000, 1000, 1102]
    assert "sim-client-secret" not in str(log)
    akool_sim.clear_requests()
    assert akool_sim.requests() == []
