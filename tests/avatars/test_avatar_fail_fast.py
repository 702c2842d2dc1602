"""A wrong key fails the avatar operator and sensor at once (AirflowFailException: no retry), in the
worker and after a deferral alike, with a message that names the connection and holds no secret."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent
from avatar_support import CREATE, sim_client
from task_support import make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowException, AirflowFailException, AirflowSkipException, TaskDeferred
from airflow_provider_akool.fail_fast import account_failure_from_event
from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator
from airflow_provider_akool.sensors.avatar import AkoolAvatarSensor
from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

pytestmark = pytest.mark.timeout(60)

CONN_ID = "akool_failfast"
WRONG_KEY = "wrong-key-failfast-0123456789abcdef"
VIDEO = "https://media.example.com/presenters/fail-fast.mp4"


def set_wrong_key(monkeypatch: pytest.MonkeyPatch, sim: SimServer) -> None:
    set_akool_conn(monkeypatch, sim, CONN_ID, api_key=WRONG_KEY)


def run_trigger(trigger: AkoolAvatarTrigger) -> dict[str, Any]:
    async def first_event() -> TriggerEvent:
        return await anext(aiter(trigger.run()))

    return dict(asyncio.run(asyncio.wait_for(first_event(), 30)).payload)


def assert_fail_fast(exc: BaseException) -> None:
    """Not retried (the exact class Airflow's task runner fails without retry), says why, no secret."""
    assert type(exc) is AirflowFailException, type(exc)
    message = str(exc)
    assert f"akool_conn_id {CONN_ID!r}" in message, message
    assert "credentials" in message and "1101" in message, message
    assert "not retried" in message, message
    assert WRONG_KEY not in message and WRONG_KEY[:16] not in message


def create_operator(**kwargs: Any) -> AkoolCreateAvatarOperator:
    return AkoolCreateAvatarOperator(
        task_id="create", video_url=VIDEO, akool_conn_id=CONN_ID, poll_interval=0.05, **kwargs
    )


def test_create_with_a_wrong_key_fails_without_retry(akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_wrong_key(monkeypatch, akool_sim)
    with pytest.raises(AirflowException) as caught:
        create_operator(deferrable=False).execute(make_context())
    assert_fail_fast(caught.value)
    assert not any(a["source_url"] == VIDEO for a in akool_sim.state()["avatars"]), "nothing was created"


@pytest.fixture
def slow_sim(akool_sim_factory: Any) -> SimServer:
    """Real time: an uploaded avatar stays processing for the whole test, so the tasks defer."""
    server: SimServer = akool_sim_factory(time_scale=1)
    return server


def test_key_revoked_while_deferred_fails_in_execute_complete(
    slow_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_akool_conn(monkeypatch, slow_sim, CONN_ID, max_attempts=2)
    with pytest.raises(TaskDeferred) as deferred:
        create_operator(deferrable=True, avatar_id="failFastDeferred1").execute(make_context())
    _, kwargs = deferred.value.trigger.serialize()
    set_wrong_key(monkeypatch, slow_sim)  # the key is rotated while the task waits in the triggerer
    event = run_trigger(AkoolAvatarTrigger(**json.loads(json.dumps(kwargs))))
    assert event["status"] == "error" and event["error_type"] == "AkoolAuthError", event
    with pytest.raises(AirflowException) as caught:
        create_operator(deferrable=True).execute_complete(make_context(), event)
    assert_fail_fast(caught.value)


@pytest.mark.parametrize(
    ("event", "retried"),
    [
        ({"status": "error", "message": "kept failing", "error_type": "AkoolTransientError"}, True),
        ({"status": "error", "message": "old trigger, no error_type"}, True),
        ({"status": "error", "message": "no credit (code=1104)", "error_type": "AkoolQuotaError"}, False),
        ({"status": "error", "message": "banned (code=1200)", "error_type": "AkoolPermissionError"}, False),
    ],
)
def test_execute_complete_retries_only_what_a_retry_can_fix(event: dict[str, Any], retried: bool) -> None:
    with pytest.raises(AirflowException) as caught:
        create_operator().execute_complete(make_context(), {"avatar_id": "a1", "avatar": None, **event})
    assert (type(caught.value) is AirflowException) is retried, caught.value
    if not retried:
        assert f"akool_conn_id {CONN_ID!r}" in str(caught.value)
        assert account_failure_from_event(event, CONN_ID) == str(caught.value)


def sensor(**kwargs: Any) -> AkoolAvatarSensor:
    kwargs.setdefault("avatar_id", "dvp_Tristan_cloth2_1080P")
    return AkoolAvatarSensor(task_id="wait", akool_conn_id=CONN_ID, poke_interval=0.05, timeout=5, **kwargs)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_sensor_with_a_wrong_key_fails_without_retry(
    akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    set_wrong_key(monkeypatch, akool_sim)
    with pytest.raises(AirflowException) as caught:
        sensor(deferrable=deferrable).execute(make_context())
    assert_fail_fast(caught.value)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_sensor_soft_fail_still_fails_on_a_wrong_key(
    akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    """A wrong key is not a condition to skip past: a skip would end the run green."""
    set_wrong_key(monkeypatch, akool_sim)
    with pytest.raises(AirflowException) as caught:
        sensor(soft_fail=True, deferrable=deferrable).execute(make_context())
    assert_fail_fast(caught.value)


def test_sensor_soft_fail_still_fails_on_a_wrong_key_after_a_deferral() -> None:
    event = {
        "status": "error",
        "avatar_id": "a1",
        "error_type": "AkoolAuthError",
        "message": "Invalid API key (code 1101, endpoint /api/open/v3/avatar/detail)",
    }
    with pytest.raises(AirflowException) as caught:
        sensor(soft_fail=True, deferrable=True).resume_execution("execute_complete", {"event": event}, make_context())
    assert_fail_fast(caught.value)
    # Other failures still skip with soft_fail.
    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True, deferrable=True).resume_execution(
            "execute_complete", {"event": {"status": "timeout", "avatar_id": "a1"}}, make_context()
        )


def test_sensor_key_revoked_while_deferred_fails_in_execute_complete(
    slow_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_akool_conn(monkeypatch, slow_sim, CONN_ID, max_attempts=2)
    sim_client(slow_sim).create_avatar(url=VIDEO, avatar_id="failFastSensor1", name="slow")
    with pytest.raises(TaskDeferred) as deferred:
        sensor(avatar_id="failFastSensor1", deferrable=True).execute(make_context())
    _, kwargs = deferred.value.trigger.serialize()
    set_wrong_key(monkeypatch, slow_sim)
    event = run_trigger(AkoolAvatarTrigger(**json.loads(json.dumps(kwargs))))
    assert event["error_type"] == "AkoolAuthError", event
    with pytest.raises(AirflowException) as caught:
        sensor(avatar_id="failFastSensor1", deferrable=True).execute_complete(make_context(), event)
    assert_fail_fast(caught.value)
    assert len([r for r in slow_sim.requests() if r["path"] == CREATE]) == 1, "only the set-up upload"
