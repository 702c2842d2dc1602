"""Sessions: validation, credentials per stream type, pre-charge and refund, close codes, end at duration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_akool.sim import SimServer

CREATE = "/api/open/v4/liveAvatar/session/create"
CLOSE = "/api/open/v4/liveAvatar/session/close"
DETAIL = "/api/open/v4/liveAvatar/session/detail"
TRISTAN = "dvp_Tristan_cloth2_1080P"


def _create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    reply: dict[str, Any] = client.post(CREATE, json={"avatar_id": TRISTAN, "duration": 600, **fields}).json()
    return reply


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"avatar_id": None}, "avatar_id"),
        ({"duration": 3601}, "duration"),
        ({"duration": 0}, "duration"),
        ({"mode_type": 3}, "mode_type"),
        ({"stream_type": "webrtc"}, "stream_type"),
        ({"voice_params": {"speed": 1.5}}, "voice_params.speed"),
        ({"voice_id": "simVoiceInes00000003"}, "voice_id"),
    ],
)
def test_create_validation(api: httpx.Client, fields: dict[str, Any], named: str) -> None:
    reply = _create(api, **fields)
    assert reply["code"] == 1003
    assert named in reply["msg"]
    assert api.get("/api/open/v4/liveAvatar/session/list").json()["data"]["count"] == 0


def test_create_checks_the_avatar(api: httpx.Client) -> None:
    assert _create(api, avatar_id="nobody")["code"] == 1008
    assert _create(api, avatar_id="dvp_Ilse_offline_1080P")["code"] == 1008  # official, unavailable
    upload = {"url": "https://example.com/v.mp4", "avatar_id": "fresh1", "name": "F", "type": 2, "url_from": 1}
    assert api.post("/api/open/v3/avatar/create", json=upload).json()["code"] == 1000
    assert _create(api, avatar_id="fresh1")["code"] == 1214


@pytest.mark.parametrize(
    ("stream_type", "keys", "secret"),
    [
        ("agora", {"agora_uid", "agora_app_id", "agora_channel", "agora_token"}, "agora_token"),
        (
            "livekit",
            {"livekit_url", "livekit_token", "livekit_room_name", "livekit_client_identity", "livekit_server_identity"},
            "livekit_token",
        ),
        ("trtc", {"trtc_app_id", "trtc_room_id", "trtc_user_id", "trtc_user_sig"}, "trtc_user_sig"),
        ("sim", {"sim_url", "sim_token"}, "sim_token"),
    ],
)
def test_credentials_per_stream_type(
    api: httpx.Client, akool_sim: SimServer, stream_type: str, keys: set[str], secret: str
) -> None:
    data = _create(api, stream_type=stream_type)["data"]
    assert set(data) == {"_id", "uid", "type", "status", "stream_type", "credentials"}
    assert data["status"] == 1
    assert set(data["credentials"]) == keys
    detail = api.get(DETAIL, params={"id": data["_id"]}).json()
    assert secret not in detail["data"]["credentials"]  # the detail view shows no token
    if stream_type == "sim":
        port = akool_sim.url.rsplit(":", 1)[1]
        assert data["credentials"]["sim_url"] == f"ws://127.0.0.1:{port}/_sim/channel/{data['_id']}"


def test_default_stream_type_is_agora(api: httpx.Client) -> None:
    assert _create(api)["data"]["stream_type"] == "agora"


def test_precharge_refund_and_close_codes(
    akool_sim_factory: Callable[..., SimServer], client_for: Callable[[SimServer], httpx.Client]
) -> None:
    sim = akool_sim_factory(time_scale=1.0, credits=100, credits_per_minute=2)
    client = client_for(sim)
    session_id = _create(client, duration=600)["data"]["_id"]  # 10 min x 2 = 20 credits
    assert sim.state()["credits"]["balance"] == pytest.approx(80)
    sim.advance(150)  # 2.5 minutes used
    assert client.get(DETAIL, params={"id": session_id}).json()["data"]["status"] == 2
    assert client.post(CLOSE, json={"id": session_id}).json() == {"code": 1000, "msg": "OK"}
    state = sim.state()
    record = next(s for s in state["sessions"] if s["_id"] == session_id)
    assert record["status"] == 3
    assert record["precharged"] == pytest.approx(20)
    assert record["refunded"] == pytest.approx(15, abs=0.01)
    assert state["credits"]["balance"] == pytest.approx(95, abs=0.01)
    assert client.post(CLOSE, json={"id": session_id}).json()["code"] == 1219
    assert client.post(CLOSE, json={"id": "000000000000000000000000"}).json()["code"] == 1216
    assert client.get(DETAIL, params={"id": "000000000000000000000000"}).json()["code"] == 1216
    assert client.post(CLOSE, json={}).json()["code"] == 1003


def test_insufficient_credit_is_1104(
    akool_sim_factory: Callable[..., SimServer], client_for: Callable[[SimServer], httpx.Client]
) -> None:
    sim = akool_sim_factory(credits=5, credits_per_minute=1)
    client = client_for(sim)
    assert _create(client, duration=600)["code"] == 1104
    assert _create(client, duration=300)["code"] == 1000
    assert sim.state()["credits"]["balance"] == pytest.approx(0)


def test_close_alternates_response_shapes_and_accepts_session_id(api: httpx.Client) -> None:
    first, second = _create(api)["data"]["_id"], _create(api)["data"]["_id"]
    assert api.post(CLOSE, json={"id": first}).json() == {"code": 1000, "msg": "OK"}
    reply = api.post(CLOSE, json={"session_id": second}).json()
    assert reply["code"] == 1000
    assert reply["data"]["session_id"] == second
    assert reply["data"]["status"] == "closed"
    assert isinstance(reply["data"]["closed_at"], int)


def test_session_ends_by_itself_without_refund(
    akool_sim_factory: Callable[..., SimServer], client_for: Callable[[SimServer], httpx.Client]
) -> None:
    sim = akool_sim_factory(time_scale=1.0)
    client = client_for(sim)
    session_id = _create(client, duration=60)["data"]["_id"]
    sim.advance(61)
    assert client.get(DETAIL, params={"id": session_id}).json()["data"]["status"] == 3
    assert client.post(CLOSE, json={"id": session_id}).json()["code"] == 1219
    record = sim.state()["sessions"][0]
    assert (record["ended_by"], record["refunded"]) == ("duration", 0)
    assert record["closed_at"] == record["opened_at"] + 60_000
    assert sim.state()["open_sessions"] == []


def test_session_list_filters_by_status(
    akool_sim_factory: Callable[..., SimServer], client_for: Callable[[SimServer], httpx.Client]
) -> None:
    sim = akool_sim_factory(time_scale=1.0)
    client = client_for(sim)
    ids = [_create(client)["data"]["_id"] for _ in range(3)]
    sim.advance(5)
    client.post(CLOSE, json={"id": ids[0]})
    listing = client.get("/api/open/v4/liveAvatar/session/list", params={"status": 2}).json()
    assert listing["msg"] == "ok"
    assert [s["_id"] for s in listing["data"]["result"]] == [ids[2], ids[1]]
    closed = client.get("/api/open/v4/liveAvatar/session/list", params={"status": 3}).json()["data"]
    assert closed["count"] == 1
    assert client.get("/api/open/v4/liveAvatar/session/list", params={"status": 7}).json()["code"] == 1003
    assert all("agora_token" not in s["credentials"] for s in listing["data"]["result"])
