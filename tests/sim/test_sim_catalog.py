"""Voices, languages and knowledge bases."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from airflow_provider_akool.sim import SimServer

KB = "/api/open/v4/knowledge"


def test_voice_list_filters_and_shape(api: httpx.Client, akool_sim: SimServer) -> None:
    assert api.get("/api/open/v4/voice/list").json()["code"] == 1003  # type is required
    assert api.get("/api/open/v4/voice/list", params={"type": 3}).json()["code"] == 1003
    data = api.get("/api/open/v4/voice/list", params={"type": 2, "size": 100}).json()["data"]
    assert set(data) == {"result", "count", "page", "size"}
    assert data["count"] == len(data["result"]) >= 4
    assert any(not v["support_stream"] and v["voice_model_name"] == "Akool Multilingual 2" for v in data["result"])
    streaming = api.get("/api/open/v4/voice/list", params={"type": 2, "support_stream": 1}).json()["data"]
    assert streaming["result"]
    assert all(v["support_stream"] for v in streaming["result"])
    assert all(v["preview"].startswith(akool_sim.url + "/_sim/files/") for v in data["result"])
    by_name = api.get("/api/open/v4/voice/list", params={"type": 2, "name": "trist"}).json()["data"]
    assert [v["voice_id"] for v in by_name["result"]] == ["iP95p4xoKVk53GoZ742B"]
    cloned = api.get("/api/open/v4/voice/list", params={"type": 1}).json()["data"]
    assert cloned["count"] >= 1
    preview = httpx.get(data["result"][0]["preview"])
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "audio/mpeg"


def test_language_list(api: httpx.Client) -> None:
    data = api.get("/api/open/v3/language/list").json()["data"]
    assert len(data["lang_list"]) >= 5
    assert set(data["lang_list"][0]) == {"lang_code", "lang_name", "url"}


def test_knowledge_base_crud_and_codes(api: httpx.Client) -> None:
    created = api.post(f"{KB}/create", json={"name": "faq", "prompt": "be brief", "urls": ["https://x.y"]}).json()
    assert created["code"] == 1000
    kb_id = created["data"]["_id"]
    assert api.post(f"{KB}/create", json={"name": "faq"}).json()["code"] == 1233
    assert api.post(f"{KB}/create", json={"name": "x" * 101}).json()["code"] == 1003
    assert (
        api.post(f"{KB}/create", json={"docs": [{"name": "a", "url": "u", "size": 104_857_601}]}).json()["code"] == 1003
    )
    assert api.get(f"{KB}/detail", params={"id": kb_id}).json()["data"]["prompt"] == "be brief"
    assert api.get(f"{KB}/detail", params={"id": "missing"}).json()["code"] == 1232
    assert api.post(f"{KB}/update", json={"prologue": "hi"}).json()["code"] == 1003
    updated = api.post(f"{KB}/update", json={"id": kb_id, "prologue": "hi"}).json()
    assert updated["data"]["prologue"] == "hi"
    api.post(f"{KB}/create", json={"name": "second"})
    listed = api.get(f"{KB}/list").json()["data"]
    assert isinstance(listed, list)
    assert [kb["name"] for kb in listed] == ["second", "faq"]  # newest first
    assert [kb["name"] for kb in api.get(f"{KB}/list", params={"name": "FA"}).json()["data"]] == ["faq"]
    assert api.get(f"{KB}/list", params={"size": 0}).json()["code"] == 1003
    assert api.request("DELETE", f"{KB}/delete", json={"id": kb_id}).json()["code"] == 1000
    assert api.request("DELETE", f"{KB}/delete", json={"id": kb_id}).json()["code"] == 1232


def test_knowledge_list_alternative_shape(
    akool_sim_factory: Callable[..., SimServer], client_for: Callable[[SimServer], httpx.Client]
) -> None:
    client = client_for(akool_sim_factory(kb_list_shape="knowledge_list"))
    client.post(f"{KB}/create", json={"name": "one"})
    data = client.get(f"{KB}/list").json()["data"]
    assert [kb["name"] for kb in data["knowledge_list"]] == ["one"]
