"""Request shape (method, path, query, body) and response parsing of every endpoint, over HTTP mocks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_akool.client import AkoolClient, AkoolRequestError, AsyncAkoolClient, ClientConfig

BASE = "https://akool.test"


def ok(data: Any = None, msg: str = "OK") -> httpx.Response:
    body: dict[str, Any] = {"code": 1000, "msg": msg}
    if data is not None:
        body["data"] = data
    return httpx.Response(200, json=body)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def client() -> Iterator[AkoolClient]:
    with AkoolClient(ClientConfig(base_url=BASE, api_key="key-123456", max_attempts=1)) as c:
        yield c


def body_of(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


def test_create_avatar_sends_v3_body_and_parses(api: respx.MockRouter, client: AkoolClient) -> None:
    route = api.post("/api/open/v3/avatar/create").mock(
        return_value=ok({"_id": "rec1", "avatar_id": "abc1", "status": 1, "thumbnailUrl": "https://cdn/t.jpg"})
    )
    created = client.create_avatar("https://videos.test/a.mp4", "abc1", "Anna", url_from=1)
    assert body_of(route) == {
        "url": "https://videos.test/a.mp4",
        "avatar_id": "abc1",
        "name": "Anna",
        "type": 2,
        "url_from": 1,
    }
    assert created.adopted is False
    assert created.avatar.id == "rec1"
    assert created.avatar.thumbnail_url == "https://cdn/t.jpg"
    assert created.avatar.state == "pending"


def test_create_avatar_adopts_existing_on_1222(api: respx.MockRouter, client: AkoolClient) -> None:
    api.post("/api/open/v3/avatar/create").mock(return_value=httpx.Response(200, json={"code": 1222, "msg": "exists"}))
    detail = api.get("/api/open/v4/liveAvatar/avatar/detail").mock(
        return_value=ok({"avatar_id": "abc1", "status": 3, "available": True})
    )
    created = client.create_avatar("https://videos.test/a.mp4", "abc1", "Anna")
    assert created.adopted is True
    assert created.avatar.state == "ready"
    assert detail.calls.last.request.url.params["avatar_id"] == "abc1"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"url": "ftp://x/a.mp4"}, "url"),
        ({"url": ""}, "url"),
        ({"avatar_id": "bad-id!"}, "avatar_id"),
        ({"url_from": 3}, "url_from"),
        ({"name": ""}, "name"),
    ],
)
def test_create_avatar_rejects_bad_input_before_any_call(
    api: respx.MockRouter, client: AkoolClient, kwargs: dict[str, Any], field: str
) -> None:
    args = {"url": "https://v.test/a.mp4", "avatar_id": "abc1", "name": "n", "url_from": 1, **kwargs}
    with pytest.raises(AkoolRequestError, match=field):
        client.create_avatar(**args)
    assert api.calls.call_count == 0


def test_avatar_record_is_an_array(api: respx.MockRouter, client: AkoolClient) -> None:
    route = api.get("/api/open/v3/avatar/detail").mock(return_value=ok([{"_id": "rec1", "status": 2, "name": "A"}]))
    records = client.get_avatar_record("rec1")
    assert route.calls.last.request.url.params["id"] == "rec1"
    assert [r.status for r in records] == [2]


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"status": 3, "available": True}, "ready"),
        ({"status": 3, "available": False}, "pending"),
        ({"status": 3}, "ready"),
        ({"status": 2, "available": True}, "pending"),
        ({"status": 4, "available": False}, "failed"),
        ({"available": True}, "ready"),
        ({}, "pending"),
    ],
)
def test_avatar_state_combines_status_and_available(
    api: respx.MockRouter, client: AkoolClient, fields: dict[str, Any], state: str
) -> None:
    api.get("/api/open/v4/liveAvatar/avatar/detail").mock(return_value=ok({"avatar_id": "x", **fields}))
    assert client.get_avatar("x").state == state


def test_avatar_detail_without_status_uses_available(api: respx.MockRouter, client: AkoolClient) -> None:
    api.get("/api/open/v4/liveAvatar/avatar/detail").mock(return_value=ok({"avatar_id": "x", "available": False}))
    assert client.get_avatar("x").state == "pending"


def test_avatar_list_query_and_pagination(api: respx.MockRouter, client: AkoolClient) -> None:
    pages = {
        "1": {"count": 3, "result": [{"avatar_id": "a"}, {"avatar_id": "b"}]},
        "2": {"count": 3, "result": [{"avatar_id": "c"}]},
    }
    route = api.get("/api/open/v4/liveAvatar/avatar/list").mock(
        side_effect=lambda request: ok(pages[request.url.params["page"]])
    )
    ids = [a.avatar_id for a in client.paginate(client.list_avatars, page_size=2)]
    assert ids == ["a", "b", "c"]
    params = route.calls[0].request.url.params
    assert (params["platform"], params["size"]) == ("open", "2")


def test_list_size_over_100_rejected(api: respx.MockRouter, client: AkoolClient) -> None:
    with pytest.raises(AkoolRequestError, match="size"):
        client.list_avatars(size=101)
    assert api.calls.call_count == 0


def session_payload(**extra: Any) -> dict[str, Any]:
    return {
        "_id": "s1",
        "uid": 7,
        "type": 1,
        "status": 1,
        "stream_type": "agora",
        "credentials": {"agora_uid": 1, "agora_app_id": "app", "agora_channel": "ch", "agora_token": "tok-secret"},
        **extra,
    }


def test_create_session_body_and_credentials(api: respx.MockRouter, client: AkoolClient) -> None:
    api.get("/api/open/v4/liveAvatar/session/list").mock(return_value=ok({"count": 0, "result": []}))
    route = api.post("/api/open/v4/liveAvatar/session/create").mock(return_value=ok(session_payload()))
    session = client.create_session(
        avatar_id="dvp_Tristan_cloth2_1080P",
        duration=600,
        mode_type=1,
        voice_id="v1",
        language="en",
        stream_type="agora",
        voice_params={"speed": 1.1, "pron_map": {"akool": "ai ku er"}},
    )
    assert body_of(route) == {
        "avatar_id": "dvp_Tristan_cloth2_1080P",
        "duration": 600,
        "mode_type": 1,
        "voice_id": "v1",
        "language": "en",
        "stream_type": "agora",
        "voice_params": {"speed": 1.1, "pron_map": {"akool": "ai ku er"}},
    }
    assert session.id == "s1"
    assert session.is_open
    assert session.credentials is not None
    assert session.credentials.reveal()["agora_token"] == "tok-secret"
    assert "tok-secret" not in repr(session)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"duration": 3601}, "duration"),
        ({"duration": 0}, "duration"),
        ({"mode_type": 3}, "mode_type"),
        ({"stream_type": "webrtc"}, "stream_type"),
        ({"voice_params": {"speed": 1.5}}, "voice_params.speed"),
        ({"avatar_id": ""}, "avatar_id"),
        ({"e2e_type": "openai"}, "e2e_type"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_create_session_rejects_bad_input(
    api: respx.MockRouter, client: AkoolClient, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(AkoolRequestError, match=field.replace(".", r"\.")):
        client.create_session(**{"avatar_id": "a", **fields})
    assert api.calls.call_count == 0


def test_trtc_sdk_credential_names_are_normalised(api: respx.MockRouter, client: AkoolClient) -> None:
    creds = {"trtc_sdk_app_id": 1400, "trtc_sdk_room_id": "r", "trtc_sdk_user_id": "u", "trtc_sdk_user_sig": "sig"}
    api.get("/api/open/v4/liveAvatar/session/detail").mock(return_value=ok(session_payload(credentials=creds)))
    session = client.get_session("s1")
    assert session.credentials is not None
    assert session.credentials.reveal() == {
        "trtc_app_id": 1400,
        "trtc_room_id": "r",
        "trtc_user_id": "u",
        "trtc_user_sig": "sig",
    }


def test_legacy_stream_urls_become_credentials(api: respx.MockRouter, client: AkoolClient) -> None:
    payload = session_payload(credentials=None, stream_urls={"agora_channel": "legacy"})
    api.get("/api/open/v4/liveAvatar/session/detail").mock(return_value=ok(payload))
    session = client.get_session("s1")
    assert session.credentials is not None and session.credentials.agora_channel == "legacy"


@pytest.mark.parametrize(
    ("response", "already", "status"),
    [
        ({"code": 1000, "msg": "OK"}, False, None),
        (
            {"code": 1000, "msg": "ok", "data": {"session_id": "s1", "status": "closed", "closed_at": 1}},
            False,
            "closed",
        ),
        ({"code": 1216, "msg": "session not exist"}, True, None),
        ({"code": 1219, "msg": "closed"}, True, None),
    ],
)
def test_close_session_tolerates_both_shapes_and_closed_codes(
    api: respx.MockRouter, client: AkoolClient, response: dict[str, Any], already: bool, status: str | None
) -> None:
    route = api.post("/api/open/v4/liveAvatar/session/close").mock(return_value=httpx.Response(200, json=response))
    result = client.close_session("s1")
    assert body_of(route) == {"id": "s1"}
    assert (result.already_closed, result.status) == (already, status)


def test_session_list_status_filter(api: respx.MockRouter, client: AkoolClient) -> None:
    route = api.get("/api/open/v4/liveAvatar/session/list").mock(
        return_value=ok({"count": 1, "result": [session_payload()]})
    )
    page = client.list_sessions(status=2, size=50)
    assert dict(route.calls.last.request.url.params) == {"page": "1", "size": "50", "status": "2"}
    assert page.result[0].id == "s1"


def test_voice_list_query(api: respx.MockRouter, client: AkoolClient) -> None:
    route = api.get("/api/open/v4/voice/list").mock(
        return_value=ok({"result": [{"voice_id": "v1", "support_stream": True}], "count": 1, "page": 1, "size": 10})
    )
    page = client.list_voices(type=1, support_stream=True, size=10)
    assert dict(route.calls.last.request.url.params) == {"page": "1", "size": "10", "type": "1", "support_stream": "1"}
    assert page.result[0].support_stream is True


def test_language_list(api: respx.MockRouter, client: AkoolClient) -> None:
    api.get("/api/open/v3/language/list").mock(
        return_value=ok({"lang_list": [{"lang_code": "en-US", "lang_name": "English"}]})
    )
    assert [lang.lang_code for lang in client.list_languages()] == ["en-US"]


@pytest.mark.parametrize(
    "data",
    [
        [{"_id": "k1", "name": "faq"}],
        {"knowledge_list": [{"_id": "k1", "name": "faq"}]},
        {"count": 1, "result": [{"_id": "k1", "name": "faq"}]},
    ],
)
def test_knowledge_list_shapes(api: respx.MockRouter, client: AkoolClient, data: Any) -> None:
    route = api.get("/api/open/v4/knowledge/list").mock(return_value=ok(data))
    page = client.list_knowledge_bases(name="faq")
    assert route.calls.last.request.url.params["name"] == "faq"
    assert [kb.id for kb in page.result] == ["k1"]


def test_knowledge_crud_shapes(api: respx.MockRouter, client: AkoolClient) -> None:
    create = api.post("/api/open/v4/knowledge/create").mock(return_value=ok({"_id": "k1", "name": "faq"}))
    detail = api.get("/api/open/v4/knowledge/detail").mock(return_value=ok({"_id": "k1", "name": "faq2"}))
    update = api.post("/api/open/v4/knowledge/update").mock(return_value=ok())
    delete = api.delete("/api/open/v4/knowledge/delete").mock(return_value=ok())
    assert client.create_knowledge_base(name="faq", urls=["https://docs.test"]).id == "k1"
    assert body_of(create) == {"name": "faq", "urls": ["https://docs.test"]}
    assert client.update_knowledge_base("k1", name="faq2").name == "faq2"  # no data -> re-read
    assert body_of(update) == {"id": "k1", "name": "faq2"}
    assert detail.calls.last.request.url.params["id"] == "k1"
    client.delete_knowledge_base("k1")
    assert body_of(delete) == {"id": "k1"}


def test_knowledge_limits_checked_locally(api: respx.MockRouter, client: AkoolClient) -> None:
    with pytest.raises(AkoolRequestError, match="prologue"):
        client.create_knowledge_base(name="x", prologue="p" * 2001)
    assert api.calls.call_count == 0


async def test_async_client_shares_the_declarations(api: respx.MockRouter) -> None:
    api.get("/api/open/v4/liveAvatar/avatar/detail").mock(return_value=ok({"avatar_id": "a", "status": 4}))
    api.get("/api/open/v4/liveAvatar/session/list").mock(
        side_effect=lambda r: ok({"count": 1, "result": [session_payload()]} if r.url.params["page"] == "1" else {})
    )
    async with AsyncAkoolClient(ClientConfig(base_url=BASE, api_key="key-123456")) as client:
        assert (await client.get_avatar("a")).state == "failed"
        sessions = [s.id async for s in client.paginate(client.list_sessions, status=1)]
    assert sessions == ["s1"]
