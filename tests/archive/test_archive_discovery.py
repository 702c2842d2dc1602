"""Avatar discovery completes what the v4 detail and list lack (creation time, modified video) from the
v3 upload record through the client's readiness operation, best effort."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_akool.archive.discovery import discover_avatars
from airflow_provider_akool.client import AkoolClient, ClientConfig

BASE = "https://akool.test"
DETAIL = "/api/open/v4/liveAvatar/avatar/detail"
LIST = "/api/open/v4/liveAvatar/avatar/list"
RECORD = "/api/open/v3/avatar/detail"
CREATED_MS = 1_700_000_000_000


def ok(data: Any) -> httpx.Response:
    return httpx.Response(200, json={"code": 1000, "msg": "OK", "data": data})


UPLOADED = {"_id": "rec1", "avatar_id": "anna1", "status": 3, "url": "https://cdn.test/anna1.mp4"}


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def client() -> Iterator[AkoolClient]:
    with AkoolClient(ClientConfig(base_url=BASE, api_key="key-123456", max_attempts=1)) as c:
        yield c


def kinds(specs: list[Any]) -> dict[str, Any]:
    return {spec.kind: spec for spec in specs}


def test_the_upload_record_adds_the_modified_video_and_the_creation_time(
    api: respx.MockRouter, client: AkoolClient
) -> None:
    api.get(DETAIL).mock(return_value=ok(UPLOADED))
    record = {**UPLOADED, "create_time": CREATED_MS, "modify_url": "https://cdn.test/anna1-mod.mp4"}
    api.get(RECORD).mock(return_value=ok([record]))
    specs, problems = discover_avatars(client, avatar_ids=["anna1"])
    found = kinds(specs)
    assert problems == []
    assert set(found) == {"avatar-video", "avatar-modified-video"}
    assert found["avatar-modified-video"].url == "https://cdn.test/anna1-mod.mp4"
    assert found["avatar-video"].created_at == datetime.fromtimestamp(CREATED_MS / 1000, tz=UTC)


@pytest.mark.parametrize(
    "record_reply",
    [httpx.Response(503), httpx.Response(200, json={"code": 1008, "msg": "not found"})],
    ids=["outage", "no-record"],
)
def test_without_the_record_the_detail_is_archived_as_is(
    api: respx.MockRouter, client: AkoolClient, record_reply: httpx.Response
) -> None:
    api.get(LIST).mock(return_value=ok({"count": 1, "result": [UPLOADED]}))
    api.get(RECORD).mock(return_value=record_reply)
    specs, problems = discover_avatars(client, all_avatars=True)
    assert problems == []
    [video] = specs
    assert video.kind == "avatar-video" and video.created_at is None


def test_complete_false_asks_for_no_record(api: respx.MockRouter, client: AkoolClient) -> None:
    api.get(DETAIL).mock(return_value=ok(UPLOADED))
    records = api.get(RECORD).mock(return_value=ok([{**UPLOADED, "modify_url": "https://cdn.test/m.mp4"}]))
    specs, _ = discover_avatars(client, avatar_ids=["anna1"], complete=False)
    assert set(kinds(specs)) == {"avatar-video"} and not records.called
