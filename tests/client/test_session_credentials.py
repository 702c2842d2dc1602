"""Bring-your-own RTC credentials on session create: checked per stream_type, before any call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_akool.client import AkoolClient, AkoolRequestError, ClientConfig

BASE = "https://akool.test"
TOKEN = "byo-token-0123456789"
AGORA = {"agora_uid": 1001, "agora_app_id": "app-1", "agora_channel": "room-1", "agora_token": TOKEN}
LIVEKIT = {"livekit_url": "wss://lk.example", "livekit_token": TOKEN, "livekit_room_name": "room-1"}
TRTC_SCHEMA = {
    "trtc_sdk_app_id": 1400000001,
    "trtc_sdk_room_id": 42,
    "trtc_sdk_user_id": "u1",
    "trtc_sdk_user_sig": TOKEN,
}
TRTC_DEMO = {"trtc_app_id": 1400000001, "trtc_room_id": 42, "trtc_user_id": "u1", "trtc_user_sig": TOKEN}
SESSION = {"_id": "s1", "status": 1, "stream_type": "agora", "credentials": {}}


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/api/open/v4/liveAvatar/session/list").mock(
            return_value=httpx.Response(200, json={"code": 1000, "data": {"count": 0, "result": []}})
        )
        router.post("/api/open/v4/liveAvatar/session/create", name="create").mock(
            return_value=httpx.Response(200, json={"code": 1000, "data": SESSION})
        )
        yield router


@pytest.fixture
def client() -> Iterator[AkoolClient]:
    with AkoolClient(ClientConfig(base_url=BASE, api_key="key-123456", max_attempts=1)) as c:
        yield c


def sent_credentials(api: respx.MockRouter) -> Any:
    return json.loads(api.routes["create"].calls.last.request.content)["credentials"]


@pytest.mark.parametrize(
    ("stream_type", "credentials", "expected"),
    [
        ("agora", AGORA, AGORA),
        (None, AGORA, AGORA),  # agora is the documented default stream_type
        ("livekit", LIVEKIT, LIVEKIT),
        ("trtc", TRTC_SCHEMA, TRTC_SCHEMA),
        ("trtc", TRTC_DEMO, TRTC_SCHEMA),  # the demo's spelling is accepted, the schema's is sent
    ],
    ids=["agora", "default-agora", "livekit", "trtc-schema", "trtc-demo-spelling"],
)
def test_valid_credentials_are_sent_as_given(
    api: respx.MockRouter, client: AkoolClient, stream_type: str | None, credentials: dict[str, Any], expected: Any
) -> None:
    fields: dict[str, Any] = {"avatar_id": "dvp_Tristan_cloth2_1080P", "credentials": credentials}
    if stream_type:
        fields["stream_type"] = stream_type
    client.create_session(**fields)
    assert sent_credentials(api) == expected


@pytest.mark.parametrize(
    ("stream_type", "credentials", "named"),
    [
        ("agora", {**AGORA, "agora_chanel": "typo"}, ["credentials.agora.agora_chanel"]),
        ("agora", {k: v for k, v in AGORA.items() if k != "agora_token"}, ["credentials.agora.agora_token"]),
        ("livekit", {**LIVEKIT, "livekit_room": "typo"}, ["credentials.livekit.livekit_room"]),
        ("livekit", AGORA, ["credentials.livekit.livekit_url", "credentials.livekit.agora_channel"]),
        ("trtc", {**TRTC_DEMO, "trtc_usersig": TOKEN}, ["credentials.trtc.trtc_usersig"]),
        ("trtc", {**TRTC_DEMO, "trtc_sdk_user_sig": TOKEN}, ["trtc_sdk_user_sig or trtc_user_sig"]),
        ("sim", AGORA, ["credentials", "stream_type 'sim'"]),
    ],
    ids=[
        "agora-typo",
        "agora-missing-token",
        "livekit-typo",
        "agora-fields-on-livekit",
        "trtc-typo",
        "trtc-both-spellings",
        "sim",
    ],
)
def test_bad_credentials_fail_before_any_call_naming_the_field(
    api: respx.MockRouter, client: AkoolClient, stream_type: str, credentials: dict[str, Any], named: list[str]
) -> None:
    with pytest.raises(AkoolRequestError) as caught:
        client.create_session(avatar_id="dvp_Tristan_cloth2_1080P", stream_type=stream_type, credentials=credentials)
    message = str(caught.value)
    for name in named:
        assert name in message
    assert TOKEN not in message
    assert not api.calls, "refused before any request"


def test_credentials_tokens_are_masked_outside_the_request_body() -> None:
    from airflow_provider_akool.client.models import CreateSessionRequest

    request = CreateSessionRequest.model_validate({"avatar_id": "a", "stream_type": "livekit", "credentials": LIVEKIT})
    assert TOKEN not in repr(request) and TOKEN not in json.dumps(request.model_dump(mode="json"))
    assert request.to_body()["credentials"]["livekit_token"] == TOKEN
    assert "stream_type" not in request.to_body()["credentials"]
