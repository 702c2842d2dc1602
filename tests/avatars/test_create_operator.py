"""AkoolCreateAvatarOperator against akool-sim (and a mocked API where the sim cannot misbehave)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from airflow.triggers.base import TriggerEvent
from avatar_support import CREATE, DETAIL, RECORD, calls_to, make_context, set_connection, sim_client

from airflow_provider_akool._compat import AirflowException, AirflowFailException, TaskDeferred
from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator, derive_avatar_id
from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

RECORD_KEYS = {"avatar_id", "name", "status", "url", "thumbnail_url", "voice_id", "created_at", "expires_at"}
VIDEO = "https://media.example.com/presenters/anna-intro.mp4"


def operator(**kwargs: Any) -> AkoolCreateAvatarOperator:
    kwargs.setdefault("video_url", VIDEO)
    kwargs.setdefault("poll_interval", 0.02)
    kwargs.setdefault("deferrable", False)
    return AkoolCreateAvatarOperator(task_id="create", **kwargs)


def run_trigger(trigger: AkoolAvatarTrigger) -> dict[str, Any]:
    async def first_event() -> TriggerEvent:
        return await anext(aiter(trigger.run()))

    return dict(asyncio.run(asyncio.wait_for(first_event(), 30)).payload)


@pytest.fixture
def sim(akool_sim: SimServer, akool_sim_conn: str) -> SimServer:
    return akool_sim


def test_create_and_wait_in_the_worker(sim: SimServer) -> None:
    context = make_context()
    record = operator().execute(context)

    assert set(record) == RECORD_KEYS
    assert record["status"] == "ready"
    assert record["name"] == "anna-intro"
    expected_id = derive_avatar_id("avatars_dag", "create", -1, VIDEO)
    assert record["avatar_id"] == expected_id
    created = datetime.fromisoformat(record["created_at"])
    assert datetime.fromisoformat(record["expires_at"]) - created == timedelta(days=7)
    assert record["url"] and record["thumbnail_url"] and record["voice_id"]
    ti = context["ti"]
    assert ti.pushed[0] == ("avatar_id", expected_id), "avatar_id is pushed before waiting"
    assert ti.xcom("avatar_preview_url") == record["url"]
    [create] = calls_to(sim, CREATE)
    assert create["body"]["url_from"] == 1 and create["body"]["type"] == 2
    [avatar] = [a for a in sim.state()["avatars"] if a["source_url"] == VIDEO]
    assert avatar["status"] == 3


def test_deferral_carries_everything_the_trigger_needs(sim: SimServer) -> None:
    context = make_context()
    op = operator(deferrable=True, timeout=600, poll_interval=0.05)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)

    avatar_id = derive_avatar_id("avatars_dag", "create", -1, VIDEO)
    assert context["ti"].pushed[0] == ("avatar_id", avatar_id), "pushed before deferring"
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is None, "the deadline lives in the trigger, not in Airflow's defer timeout"
    trigger = deferred.value.trigger
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_akool.triggers.avatar.AkoolAvatarTrigger"
    assert kwargs["avatar_id"] == avatar_id
    assert kwargs["akool_conn_id"] == "akool_default"
    assert kwargs["poll_interval"] == 0.05
    assert kwargs["create_time"] is not None
    assert abs(kwargs["deadline"] - (datetime.now().timestamp() + 600)) < 30

    # Airflow rebuilds both the trigger and the operator: only the event crosses over.
    event = run_trigger(AkoolAvatarTrigger(**kwargs))
    record = operator(deferrable=True).execute_complete(make_context(), event)
    assert record["status"] == "ready" and record["avatar_id"] == avatar_id
    assert record["created_at"] is not None
    assert len(calls_to(sim, CREATE)) == 1


def test_ready_avatar_does_not_defer(sim: SimServer) -> None:
    sim_client(sim).create_avatar(url=VIDEO, avatar_id="alreadyThere1", name="ready one")
    sim.advance(600)
    record = operator(deferrable=True, avatar_id="alreadyThere1").execute(make_context())
    assert record["status"] == "ready" and record["name"] == "ready one"
    assert len(calls_to(sim, CREATE)) == 1, "only the set-up upload"


def test_retry_adopts_the_avatar_of_the_first_try(sim: SimServer) -> None:
    first = operator(wait_for_completion=False).execute(make_context())
    assert first["status"] == "pending"
    second = operator().execute(make_context())  # a retry: same dag, task, map index and URL
    assert second["avatar_id"] == first["avatar_id"]
    assert second["status"] == "ready"
    assert len(calls_to(sim, CREATE)) == 1
    other_index = operator(wait_for_completion=False).execute(make_context(map_index=3))
    assert other_index["avatar_id"] != first["avatar_id"]


def test_failed_avatar_fails_the_task_and_is_not_recreated(sim: SimServer) -> None:
    op = operator(video_url="https://media.example.com/broken-fail.mp4", avatar_id="willFail1")
    with pytest.raises(AirflowFailException, match=r"willFail1.*status 4"):
        op.execute(make_context())
    with pytest.raises(AirflowFailException, match="status 4"):  # the retry reports it again
        op.execute(make_context())
    assert len(calls_to(sim, CREATE)) == 1


def test_failure_without_status_field_is_found_through_the_upload_record(
    akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = akool_sim_factory(time_scale=1000, include_avatar_status=False)
    set_connection(monkeypatch, "akool_default", sim)
    with pytest.raises(AirflowFailException, match="status 4"):
        operator(video_url="https://media.example.com/broken-fail.mp4").execute(make_context())
    assert calls_to(sim, RECORD), "the v3 record detail supplied the status"
    ready = operator().execute(make_context())
    assert ready["status"] == "ready" and ready["created_at"] is not None


def test_third_party_pages_are_uploaded_with_url_from_2(sim: SimServer) -> None:
    operator(video_url="https://youtu.be/abc123", wait_for_completion=False).execute(make_context())
    assert calls_to(sim, CREATE)[0]["body"]["url_from"] == 2


def test_waiting_in_the_worker_times_out_with_a_retryable_error(
    akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = akool_sim_factory(time_scale=1.0)  # 110 s until ready
    set_connection(monkeypatch, "akool_default", sim)
    context = make_context()
    with pytest.raises(AirflowException, match="not ready") as failed:
        operator(timeout=0.3, poll_interval=0.1).execute(context)
    assert not isinstance(failed.value, AirflowFailException)
    assert context["ti"].xcom("avatar_id")


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (None, "without a trigger event"),
        ({"status": "timeout", "avatar_id": "a1", "message": "not ready by the deadline", "avatar": None}, "deadline"),
        ({"status": "error", "avatar_id": "a1", "message": "boom", "avatar": None}, "boom"),
        ({"status": "failed", "avatar_id": "a1", "message": "status 4: no face", "avatar": None}, "no face"),
    ],
)
def test_execute_complete_raises_unless_success(event: dict[str, Any] | None, match: str) -> None:
    with pytest.raises(AirflowException, match=match):
        operator().execute_complete(make_context(), event)


# -- mocked API: a lost create response and a failure reason ------------------------------------
BASE = "https://akool.mock"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AIRFLOW_CONN_AKOOL_DEFAULT", f'{{"conn_type": "akool", "host": "{BASE}", "password": "k"}}')
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def avatar_body(avatar_id: str, status: int, **extra: Any) -> dict[str, Any]:
    data = {"_id": "rec1", "avatar_id": avatar_id, "name": "n", "status": status, "create_time": 1_700_000_000_000}
    return {"code": 1000, "msg": "ok", "data": {**data, **extra}}


def test_create_answered_1222_is_adopted(api: respx.MockRouter) -> None:
    detail = api.get(DETAIL).mock(
        side_effect=[
            httpx.Response(200, json={"code": 1008, "msg": "not found"}),
            httpx.Response(200, json=avatar_body("lost1", 3)),
        ]
    )
    create = api.post(CREATE).mock(return_value=httpx.Response(200, json={"code": 1222, "msg": "already exists"}))
    record = operator(avatar_id="lost1").execute(make_context())
    assert record["status"] == "ready" and record["created_at"] == "2023-11-14T22:13:20+00:00"
    assert create.call_count == 1 and detail.call_count == 2


def test_failure_reason_from_akool_is_in_the_error(api: respx.MockRouter) -> None:
    api.get(DETAIL).mock(return_value=httpx.Response(200, json=avatar_body("bad1", 4, error_msg="no face found")))
    with pytest.raises(AirflowFailException, match="no face found"):
        operator(avatar_id="bad1").execute(make_context())
    assert [c.request.url.path for c in api.calls] == [DETAIL], "nothing uploaded"
