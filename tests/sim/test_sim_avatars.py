"""Avatars: upload validation, status progression on the simulated clock, v3/v4 shapes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_akool.sim import SimServer

CREATE = "/api/open/v3/avatar/create"
GOOD = {"url": "https://example.com/me.mp4", "avatar_id": "me01", "name": "Me", "type": 2, "url_from": 1}


def _upload(client: httpx.Client, **changes: Any) -> dict[str, Any]:
    reply: dict[str, Any] = client.post(CREATE, json={**GOOD, **changes}).json()
    return reply


@pytest.mark.parametrize(
    ("field", "value"),
    [("url", ""), ("avatar_id", "bad-id!"), ("avatar_id", None), ("name", None), ("type", 1), ("url_from", 3)],
)
def test_upload_validation_names_the_field(api: httpx.Client, field: str, value: Any) -> None:
    reply = _upload(api, **{field: value})
    assert reply["code"] == 1003
    assert field in reply["msg"]
    assert "data" not in reply


def test_upload_returns_record_and_refuses_duplicates(api: httpx.Client, akool_sim: SimServer) -> None:
    reply = _upload(api)
    assert reply["code"] == 1000
    data = reply["data"]
    assert data["status"] == 1
    assert data["from"] == 3
    assert data["type"] == 2
    assert data["avatar_id"] == "me01"
    assert 0 <= akool_sim.state()["now_ms"] - data["create_time"] < 3_600_000  # simulated ms
    for key in ("url", "modify_url", "thumbnailUrl"):
        assert data[key].startswith(akool_sim.url + "/_sim/files/")
    assert _upload(api)["code"] == 1222
    assert len([a for a in akool_sim.state()["avatars"] if a["avatar_id"] == "me01"]) == 1


def _v3_status(client: httpx.Client, record_id: str) -> int:
    reply = client.get("/api/open/v3/avatar/detail", params={"id": record_id}).json()
    assert isinstance(reply["data"], list)
    status: int = reply["data"][0]["status"]
    return status


def test_status_advances_with_simulated_time(
    akool_sim_factory: Callable[..., SimServer], client_for: Callable[[SimServer], httpx.Client]
) -> None:
    sim = akool_sim_factory(time_scale=1.0)  # real-time: nothing moves unless the clock is advanced
    client = client_for(sim)
    record_id = _upload(client)["data"]["_id"]
    assert _v3_status(client, record_id) == 1
    sim.advance(25)
    assert _v3_status(client, record_id) == 2
    detail = client.get("/api/open/v4/liveAvatar/avatar/detail", params={"avatar_id": "me01"}).json()["data"]
    assert (detail["status"], detail["available"], detail["platform"]) == (2, False, "open")
    sim.advance(90)
    assert _v3_status(client, record_id) == 3
    detail = client.get("/api/open/v4/liveAvatar/avatar/detail", params={"avatar_id": "me01"}).json()["data"]
    assert (detail["status"], detail["available"]) == (3, True)


def test_time_scale_makes_avatars_ready_fast(api: httpx.Client) -> None:
    ok_id = _upload(api)["data"]["_id"]
    bad_id = _upload(api, avatar_id="broken1", url="https://example.com/will-fail.mp4")["data"]["_id"]
    deadline = time.monotonic() + 3
    while _v3_status(api, ok_id) != 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _v3_status(api, ok_id) == 3
    assert _v3_status(api, bad_id) == 4


def test_v3_detail_of_unknown_id_is_an_empty_array(api: httpx.Client) -> None:
    reply = api.get("/api/open/v3/avatar/detail", params={"id": "000000000000000000000000"}).json()
    assert reply == {"code": 1000, "msg": "OK", "data": []}
    assert api.get("/api/open/v3/avatar/detail").json()["code"] == 1003


def test_v4_list_seeds_official_avatars_and_pages(api: httpx.Client) -> None:
    reply = api.get("/api/open/v4/liveAvatar/avatar/list", params={"page": 1, "size": 100}).json()
    assert reply["msg"] == "ok"
    items = {a["avatar_id"]: a for a in reply["data"]["result"]}
    assert reply["data"]["count"] == len(items)
    tristan = items["dvp_Tristan_cloth2_1080P"]
    assert tristan["voice_id"] == "iP95p4xoKVk53GoZ742B"
    assert (tristan["available"], tristan["from"], tristan["type"]) == (True, 2, 2)
    assert any(not a["available"] for a in items.values())
    assert set(tristan) >= {"_id", "uid", "name", "url", "thumbnailUrl", "gender", "status"}
    page2 = api.get("/api/open/v4/liveAvatar/avatar/list", params={"page": 2, "size": 2}).json()["data"]
    assert len(page2["result"]) == 2
    assert page2["count"] == len(items)
    assert api.get("/api/open/v4/liveAvatar/avatar/list", params={"size": 101}).json()["code"] == 1003
    aigc = api.get("/api/open/v4/liveAvatar/avatar/list", params={"platform": "aigc"}).json()["data"]
    assert aigc["count"] >= 1
    assert "dvp_Tristan_cloth2_1080P" not in {a["avatar_id"] for a in aigc["result"]}


def test_uploaded_avatars_are_listed(api: httpx.Client) -> None:
    _upload(api)
    result = api.get("/api/open/v4/liveAvatar/avatar/list").json()["data"]["result"]
    mine = next(a for a in result if a["avatar_id"] == "me01")
    assert (mine["from"], mine["available"]) == (3, False)


def test_status_can_be_left_out(
    akool_sim_factory: Callable[..., SimServer], client_for: Callable[[SimServer], httpx.Client]
) -> None:
    client = client_for(akool_sim_factory(include_avatar_status=False))
    result = client.get("/api/open/v4/liveAvatar/avatar/list").json()["data"]["result"]
    assert result
    assert all("status" not in a and "available" in a for a in result)
    detail = client.get(
        "/api/open/v4/liveAvatar/avatar/detail", params={"avatar_id": "dvp_Tristan_cloth2_1080P"}
    ).json()["data"]
    assert "status" not in detail
    assert detail["available"] is True


def test_v4_detail_unknown_is_1008(api: httpx.Client) -> None:
    reply = api.get("/api/open/v4/liveAvatar/avatar/detail", params={"avatar_id": "nobody"}).json()
    assert reply["code"] == 1008
