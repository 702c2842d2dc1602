"""Avatar readiness as one client operation, the same through the sync and the async client:
the v3 record completes what the v4 detail leaves open, and one poll step tolerates outages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_akool.client import (
    AkoolClient,
    AkoolNotFoundError,
    AkoolRequestError,
    AkoolTransientError,
    AsyncAkoolClient,
    ClientConfig,
)
from airflow_provider_akool.client.readiness import AvatarWatch

BASE = "https://akool.test"
DETAIL = "/api/open/v4/liveAvatar/avatar/detail"
RECORD = "/api/open/v3/avatar/detail"
CREATED_MS = 1_700_000_000_000

Invoke = Callable[..., Any]


def ok(data: Any) -> httpx.Response:
    return httpx.Response(200, json={"code": 1000, "msg": "OK", "data": data})


def detail(**fields: Any) -> httpx.Response:
    return ok({"_id": "rec1", "avatar_id": "a1", **fields})


def record(**fields: Any) -> httpx.Response:
    return ok([{"_id": "rec1", "avatar_id": "a1", **fields}])


NOT_FOUND = httpx.Response(200, json={"code": 1008, "msg": "not found"})


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture(params=["sync", "async"])
def invoke(request: pytest.FixtureRequest) -> Invoke:
    """Call a client method by name through the sync or the async client (no client-side retries)."""
    config = ClientConfig(base_url=BASE, api_key="key-123456", max_attempts=1)

    def sync_call(name: str, *args: Any, **kwargs: Any) -> Any:
        with AkoolClient(config) as client:
            return getattr(client, name)(*args, **kwargs)

    def async_call(name: str, *args: Any, **kwargs: Any) -> Any:
        async def call() -> Any:
            async with AsyncAkoolClient(config) as client:
                return await getattr(client, name)(*args, **kwargs)

        return asyncio.run(call())

    return sync_call if request.param == "sync" else async_call


def test_a_failed_upload_hidden_behind_available_false_is_found_in_the_record(
    api: respx.MockRouter, invoke: Invoke
) -> None:
    api.get(DETAIL).mock(return_value=detail(available=False))
    api.get(RECORD).mock(return_value=record(status=4, create_time=CREATED_MS, modify_url="https://cdn/m.mp4"))
    avatar = invoke("read_avatar", "a1")
    assert avatar.state == "failed" and avatar.status == 4
    assert avatar.create_time == CREATED_MS, "every field the detail lacked is taken from the record"


def test_a_status_in_the_detail_needs_no_record(api: respx.MockRouter, invoke: Invoke) -> None:
    api.get(DETAIL).mock(return_value=detail(status=2, available=False))
    records = api.get(RECORD).mock(return_value=record(status=4))
    avatar = invoke("read_avatar", "a1")
    assert avatar.state == "pending" and not records.called


def test_a_missing_record_leaves_the_avatar_as_the_detail_gave_it(api: respx.MockRouter, invoke: Invoke) -> None:
    api.get(DETAIL).mock(return_value=detail(available=False))
    api.get(RECORD).mock(return_value=NOT_FOUND)
    avatar = invoke("read_avatar", "a1", want=("status", "create_time"))
    assert avatar.state == "pending" and avatar.create_time is None


def test_a_record_outage_raises_only_when_readiness_depends_on_it(api: respx.MockRouter, invoke: Invoke) -> None:
    api.get(RECORD).mock(return_value=httpx.Response(503))
    api.get(DETAIL).mock(return_value=detail(available=False))
    with pytest.raises(AkoolTransientError):
        invoke("read_avatar", "a1")
    api.get(DETAIL).mock(return_value=detail(status=3, available=True))
    avatar = invoke("read_avatar", "a1", want=("status", "create_time", "modify_url"))
    assert avatar.state == "ready" and avatar.create_time is None, "extra fields are best effort"


def test_an_unknown_wanted_field_is_refused_before_any_call(api: respx.MockRouter, invoke: Invoke) -> None:
    from airflow_provider_akool.client.models import Avatar

    with pytest.raises(AkoolRequestError, match="want: unknown field"):
        invoke("complete_avatar", Avatar(_id="rec1", avatar_id="a1"), want=("colour",))
    assert not api.calls


def test_an_avatar_without_an_upload_record_id_is_returned_as_is(api: respx.MockRouter, invoke: Invoke) -> None:
    from airflow_provider_akool.client.models import Avatar

    official = Avatar(avatar_id="dvp_Tristan_cloth2_1080P", available=True)
    assert invoke("complete_avatar", official, want=("create_time", "modify_url")) == official


# -- the poll step shared by the operator's worker wait and the trigger ---------------------------
def test_a_poll_rides_out_two_transient_failures_in_a_row(api: respx.MockRouter, invoke: Invoke) -> None:
    api.get(DETAIL).mock(
        side_effect=[
            httpx.Response(502),
            httpx.Response(503),
            detail(status=2),
            httpx.Response(502),
            httpx.Response(500),
            detail(status=3, create_time=CREATED_MS),
        ]
    )
    watch = AvatarWatch("a1")
    states = [invoke("poll_avatar", watch).state for _ in range(6)]
    assert states == ["pending", "pending", "pending", "pending", "pending", "ready"]


def test_the_third_transient_failure_in_a_row_ends_the_wait(api: respx.MockRouter, invoke: Invoke) -> None:
    api.get(DETAIL).mock(side_effect=[detail(status=2), *[httpx.Response(502)] * 3])
    watch = AvatarWatch("a1")
    polls = [invoke("poll_avatar", watch) for _ in range(4)]
    last = polls[-1]
    assert last.state == "unreachable" and isinstance(last.error, AkoolTransientError)
    assert "kept failing" in last.message
    assert last.avatar is not None and last.avatar.status == 2, "the last avatar read is kept"


def test_a_poll_raises_what_waiting_cannot_fix(api: respx.MockRouter, invoke: Invoke) -> None:
    api.get(DETAIL).mock(return_value=NOT_FOUND)
    with pytest.raises(AkoolNotFoundError):
        invoke("poll_avatar", AvatarWatch("a1"))


def test_a_ready_avatar_gets_its_creation_time_from_the_caller_or_the_record(
    api: respx.MockRouter, invoke: Invoke
) -> None:
    api.get(DETAIL).mock(return_value=detail(status=3, available=True))
    api.get(RECORD).mock(return_value=record(status=3, create_time=CREATED_MS))
    known = invoke("poll_avatar", AvatarWatch("a1", create_time=17))
    assert known.state == "ready" and known.avatar.create_time == 17
    looked_up = invoke("poll_avatar", AvatarWatch("a1"))
    assert looked_up.avatar.create_time == CREATED_MS


def test_a_poll_says_when_readiness_changed(api: respx.MockRouter, invoke: Invoke) -> None:
    api.get(DETAIL).mock(side_effect=[detail(status=1), detail(status=1), detail(status=2)])
    watch = AvatarWatch("a1")
    assert [invoke("poll_avatar", watch).changed for _ in range(3)] == [True, False, True]
