"""AkoolCreateAvatarOperator against akool-sim (and a mocked API where the sim cannot misbehave).

Waits run on a fake clock tied to akool-sim (avatar_support.FakeClock): no real waiting.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from airflow.triggers.base import TriggerEvent
from avatar_support import CREATE, DETAIL, RECORD, FakeClock, calls_to, sim_client
from task_support import make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowException, AirflowFailException, TaskDeferred
from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator, derive_avatar_id
from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

RECORD_KEYS = {"avatar_id", "name", "status", "url", "thumbnail_url", "voice_id", "created_at", "expires_at"}
VIDEO = "https://media.example.com/presenters/anna-intro.mp4"


def operator(clock: FakeClock | None = None, **kwargs: Any) -> AkoolCreateAvatarOperator:
    kwargs.setdefault("video_url", VIDEO)
    kwargs.setdefault("poll_interval", 30.0)
    kwargs.setdefault("deferrable", False)
    op = AkoolCreateAvatarOperator(task_id="create", **kwargs)
    if clock is not None:
        op.clock = clock.sync()
    return op


def run_trigger(trigger: AkoolAvatarTrigger) -> dict[str, Any]:
    async def first_event() -> TriggerEvent:
        return await anext(aiter(trigger.run()))

    return dict(asyncio.run(asyncio.wait_for(first_event(), 30)).payload)


@pytest.fixture
def sim(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    """akool-sim nearly frozen (a real minute is 0.06 simulated seconds): avatars progress only as far
    as a FakeClock tied to it advances it, however long the test itself takes."""
    server: SimServer = akool_sim_factory(time_scale=0.001)
    set_akool_conn(monkeypatch, server, max_attempts=2)
    return server


def test_create_and_wait_in_the_worker(sim: SimServer) -> None:
    context = make_context(dag_id="avatars_dag", task_id="create")
    clock = FakeClock(sim)
    expected_id = derive_avatar_id("avatars_dag", "create", -1, VIDEO)
    pushed_while_waiting: list[Any] = []
    clock.on_sleep = lambda: pushed_while_waiting.append(context["ti"].xcom("avatar_id"))

    record = operator(clock).execute(context)

    assert set(record) == RECORD_KEYS
    assert record["status"] == "ready"
    assert record["name"] == "anna-intro"
    assert record["avatar_id"] == expected_id
    created = datetime.fromisoformat(record["created_at"])
    assert datetime.fromisoformat(record["expires_at"]) - created == timedelta(days=7)
    assert record["url"] and record["thumbnail_url"] and record["voice_id"]
    assert pushed_while_waiting and set(pushed_while_waiting) == {expected_id}, "avatar_id is pushed before waiting"
    assert set(clock.slept) == {30.0}, "polls at the poll interval"
    assert context["ti"].xcom("avatar_preview_url") == record["url"]
    [create] = calls_to(sim, CREATE)
    assert create["body"]["url_from"] == 1 and create["body"]["type"] == 2
    [avatar] = [a for a in sim.state()["avatars"] if a["source_url"] == VIDEO]
    assert avatar["status"] == 3


def test_deferral_carries_everything_the_trigger_needs(sim: SimServer) -> None:
    context = make_context(dag_id="avatars_dag", task_id="create")
    clock = FakeClock(sim)
    op = operator(clock, deferrable=True, timeout=600, poll_interval=5)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)

    avatar_id = derive_avatar_id("avatars_dag", "create", -1, VIDEO)
    assert context["ti"].xcom("avatar_id") == avatar_id, "pushed before deferring"
    assert context["ti"].xcom("avatar_preview_url") is None, "no preview link before the avatar is ready"
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is None, "the deadline lives in the trigger, not in Airflow's defer timeout"
    trigger = deferred.value.trigger
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_akool.triggers.avatar.AkoolAvatarTrigger"
    assert kwargs["avatar_id"] == avatar_id
    assert kwargs["akool_conn_id"] == "akool_default"
    assert kwargs["poll_interval"] == 5
    assert kwargs["create_time"] is not None
    assert kwargs["deadline"] == clock.now() + 600

    # Airflow rebuilds both the trigger and the operator: only the event crosses over.
    event = run_trigger(AkoolAvatarTrigger(**kwargs, clock=clock.aio()))
    resumed = make_context()
    record = operator(deferrable=True).execute_complete(resumed, event)
    assert record["status"] == "ready" and record["avatar_id"] == avatar_id
    assert record["created_at"] is not None
    assert resumed["ti"].xcom("avatar_preview_url") == record["url"]
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
    second = operator(FakeClock(sim)).execute(make_context())  # a retry: same dag, task, map index and URL
    assert second["avatar_id"] == first["avatar_id"]
    assert second["status"] == "ready"
    assert len(calls_to(sim, CREATE)) == 1
    other_index = operator(wait_for_completion=False).execute(make_context(map_index=3))
    assert other_index["avatar_id"] != first["avatar_id"]


def test_failed_avatar_fails_the_task_and_is_not_recreated(sim: SimServer) -> None:
    op = operator(FakeClock(sim), video_url="https://media.example.com/broken-fail.mp4", avatar_id="willFail1")
    context = make_context()
    with pytest.raises(AirflowFailException, match=r"willFail1.*status 4"):
        op.execute(context)
    with pytest.raises(AirflowFailException, match="status 4"):  # the retry reports it again
        op.execute(make_context())
    assert len(calls_to(sim, CREATE)) == 1
    assert context["ti"].xcom("avatar_preview_url") is None, "a failed avatar gets no preview link"


def test_failure_without_status_field_is_found_through_the_upload_record(
    akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = akool_sim_factory(time_scale=1.0, include_avatar_status=False)
    set_akool_conn(monkeypatch, sim, max_attempts=2)
    with pytest.raises(AirflowFailException, match="status 4"):
        operator(FakeClock(sim), video_url="https://media.example.com/broken-fail.mp4").execute(make_context())
    assert calls_to(sim, RECORD), "the v3 record detail supplied the status"
    ready = operator(FakeClock(sim)).execute(make_context())
    assert ready["status"] == "ready" and ready["created_at"] is not None


def test_third_party_pages_are_uploaded_with_url_from_2(sim: SimServer) -> None:
    operator(video_url="https://youtu.be/abc123", wait_for_completion=False).execute(make_context())
    assert calls_to(sim, CREATE)[0]["body"]["url_from"] == 2


def test_waiting_in_the_worker_times_out_with_a_retryable_error(sim: SimServer) -> None:
    context = make_context()
    clock = FakeClock(sim)
    deadline = clock.now() + 60
    with pytest.raises(AirflowException, match="not ready") as failed:
        operator(clock, timeout=60, poll_interval=25).execute(context)
    assert not isinstance(failed.value, AirflowFailException)
    assert clock.now() == deadline, "gave up at the deadline, not an interval later"
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


# -- mocked API: a lost create response, failure reasons and wording, transient failures -----------
BASE = "https://akool.mock"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Any:
    set_akool_conn(monkeypatch, BASE, api_key="k", max_attempts=1)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def avatar_body(avatar_id: str, status: int, **extra: Any) -> dict[str, Any]:
    data = {"_id": "rec1", "avatar_id": avatar_id, "name": "n", "status": status, "create_time": 1_700_000_000_000}
    return {"code": 1000, "msg": "ok", "data": {**data, **extra}}


def reply(avatar_id: str, status: int, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json=avatar_body(avatar_id, status, **extra))


def test_create_answered_1222_is_adopted(api: respx.MockRouter) -> None:
    api.get(DETAIL).mock(side_effect=[httpx.Response(200, json={"code": 1008, "msg": "not found"}), reply("lost1", 3)])
    create = api.post(CREATE).mock(return_value=httpx.Response(200, json={"code": 1222, "msg": "already exists"}))
    record = operator(avatar_id="lost1").execute(make_context())
    assert record["status"] == "ready" and record["created_at"] == "2023-11-14T22:13:20+00:00"
    assert create.call_count == 1, "no second upload"


def test_failure_reason_from_akool_is_in_the_error(api: respx.MockRouter) -> None:
    api.get(DETAIL).mock(return_value=reply("bad1", 4, error_msg="no face found", url="https://cdn/bad1.mp4"))
    create = api.post(CREATE)
    context = make_context()
    with pytest.raises(AirflowFailException, match="no face found"):
        operator(avatar_id="bad1").execute(context)
    assert not create.called, "nothing uploaded"
    assert context["ti"].xcom("avatar_preview_url") is None, "a failed avatar gets no preview link"


def test_an_avatar_that_fails_while_waited_for_gets_no_preview_link(api: respx.MockRouter) -> None:
    preview = "https://cdn/bad2.mp4"
    api.get(DETAIL).mock(side_effect=[reply("bad2", 2, url=preview), reply("bad2", 4, url=preview)])
    context = make_context()
    with pytest.raises(AirflowFailException, match="status 4"):
        operator(FakeClock(), avatar_id="bad2").execute(context)
    assert context["ti"].xcom("avatar_id") == "bad2"
    assert context["ti"].xcom("avatar_preview_url") is None


@pytest.mark.parametrize("given_id", ["myAvatar1", None], ids=["given", "derived"])
def test_the_failure_says_how_to_get_a_new_avatar(api: respx.MockRouter, given_id: str | None) -> None:
    """A given avatar_id can be changed; a derived one changes only with the video URL (or by giving one)."""
    api.get(DETAIL).mock(return_value=reply(given_id or "anyId", 4))
    failed_event = {"status": "failed", "avatar_id": "x", "message": "m", "avatar": {"avatar_id": "x", "reason": None}}
    with pytest.raises(AirflowFailException) as in_worker:
        operator(avatar_id=given_id).execute(make_context())
    with pytest.raises(AirflowFailException) as after_deferral:
        operator(avatar_id=given_id, deferrable=True).execute_complete(make_context(), failed_event)
    for message in (str(in_worker.value), str(after_deferral.value)):
        assert "status 4" in message
        if given_id:
            assert "new avatar_id" in message and "derives" not in message
        else:
            assert "derives the same avatar_id" in message and "new URL" in message


def test_a_failed_event_gives_no_preview_link() -> None:
    snapshot = {"avatar_id": "x", "state": "failed", "status": 4, "url": "https://cdn/x.mp4", "reason": "no face"}
    context = make_context()
    with pytest.raises(AirflowFailException, match="no face"):
        operator(deferrable=True).execute_complete(
            context, {"status": "failed", "avatar_id": "x", "message": "m", "avatar": snapshot}
        )
    assert context["ti"].xcom("avatar_preview_url") is None


def test_the_worker_wait_rides_out_two_transient_failures_in_a_row(api: respx.MockRouter) -> None:
    """The same tolerance as the trigger: the poll step is shared (client/readiness.py)."""
    outage = [httpx.Response(502), httpx.Response(503)]
    api.get(DETAIL).mock(side_effect=[reply("flaky1", 2), *outage, reply("flaky1", 2), *outage, reply("flaky1", 3)])
    record = operator(FakeClock(), avatar_id="flaky1").execute(make_context())
    assert record["status"] == "ready"


def test_the_worker_wait_ends_retryably_at_the_third_transient_failure(api: respx.MockRouter) -> None:
    api.get(DETAIL).mock(side_effect=[reply("flaky2", 2), *[httpx.Response(502)] * 3])
    context = make_context()
    with pytest.raises(AirflowException, match="kept failing") as failed:
        operator(FakeClock(), avatar_id="flaky2").execute(context)
    assert type(failed.value) is AirflowException, "a retry resumes the wait"
    assert context["ti"].xcom("avatar_id") == "flaky2"
