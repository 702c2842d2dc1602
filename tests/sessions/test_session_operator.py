"""AkoolRetellingSessionOperator: input checks before any call, XCom at once, on_kill closes."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from polling import wait_until
from session_support import AVATAR, api_calls, session_of
from task_support import FakeTI, make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowException, AirflowFailException
from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
from airflow_provider_akool.sim.runner import SimServer

pytestmark = pytest.mark.timeout(60)


def operator(**overrides: Any) -> AkoolRetellingSessionOperator:
    values: dict[str, Any] = {
        "task_id": "retell",
        "avatar_id": AVATAR,
        "scripts": ["Hello from the operator.", {"id": "second", "text": "And a second line."}],
        "language": "en",
        "duration": 3600,
    }
    return AkoolRetellingSessionOperator(**{**values, **overrides})


@pytest.fixture
def sim(akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    set_akool_conn(monkeypatch, akool_sim)
    akool_sim.clear_requests()
    return akool_sim


BAD_INPUTS = [
    ({"scripts": []}, "scripts: must not be empty"),
    ({"scripts": "just a string"}, "scripts: must be a list"),
    ({"scripts": ["fine", "   "]}, "scripts[1].text: must be a non-empty string"),
    ({"scripts": [{"text": ""}]}, "scripts[0].text"),
    ({"scripts": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}, "scripts[1].id: duplicate id"),
    ({"speed": 1.5}, "speed: must be between 0.8 and 1.2"),
    ({"speed": "fast"}, "speed: must be a number"),
    ({"stream_type": "webrtc"}, "unknown stream_type 'webrtc'"),
    ({"stream_type": "trtc"}, "stream_type 'trtc' is not supported"),
    ({"duration": 3601}, "duration: must be 'auto' or whole seconds between 1 and 3600"),
    ({"duration": "soon"}, "duration: must be 'auto'"),
    ({"avatar_id": " "}, "avatar_id: must be a non-empty string"),
    ({"background_url": "ftp://example.org/bg.png"}, "background_url: must be an http"),
    ({"pron_map": {"akool": 3}}, "pron_map: must map words"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUTS, ids=[m.split(":")[0] for _, m in BAD_INPUTS])
def test_bad_input_fails_before_any_api_call(sim: SimServer, overrides: dict[str, Any], message: str) -> None:
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="invalid input") as caught:
        operator(**overrides).execute(make_context(ti=ti))
    assert message in str(caught.value)
    assert api_calls(sim) == [], "nothing may be called (or paid for) with bad input"
    assert ti.pushed == []


def test_runs_pushes_session_id_at_once_and_returns_manifest(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    import airflow_provider_akool.streaming.runner as runner_module

    tokens: list[str] = []
    real_create_transport = runner_module.create_transport

    def spy(stream_type: str, credentials: dict[str, Any], **options: Any) -> Any:
        tokens.append(credentials["sim_token"])
        return real_create_transport(stream_type, credentials, **options)

    monkeypatch.setattr(runner_module, "create_transport", spy)
    caplog.set_level("DEBUG")
    seen_at_push: list[dict[str, Any]] = []

    def on_push(key: str, value: Any) -> None:
        if key == "session_ids":
            seen_at_push.append(session_of(sim, value[-1]))

    ti = FakeTI(on_push=on_push)
    op = operator(stream_type=None, speed="1.1", pron_map={"akool": "ai ku er"})  # stream_type from the connection
    manifest = op.execute(make_context(ti=ti))

    json.dumps(manifest)
    assert manifest["status"] == "completed"
    assert manifest["settings"]["stream_type"] == "sim" and manifest["settings"]["speed"] == 1.1
    session_id = manifest["session_ids"][0]
    assert ti.xcom("session_ids") == [session_id] and ti.xcom("session_id") == session_id
    # The id was pushed the moment the session existed: open, avatar not yet spoken to.
    assert seen_at_push[0]["closed_at"] is None and seen_at_push[0]["segments"] == []
    session = session_of(sim, session_id)
    assert session["spoken"] == ["Hello from the operator.", "And a second line."]
    assert sim.state()["open_sessions"] == []
    assert tokens and tokens[0] not in json.dumps(manifest), "no RTC token in the manifest"
    task_log = caplog.text + "".join(capfd.readouterr())  # the operator logs through structlog
    assert tokens[0] not in task_log and tokens[0] not in json.dumps(ti.pushed), "nor in logs or XCom"
    assert "Spoken 2/2" in task_log, "progress per segment in the task log"


def test_akool_refusing_the_request_fails_without_retry(sim: SimServer) -> None:
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="does not exist"):
        operator(avatar_id="no_such_avatar").execute(make_context(ti=ti))
    assert ti.xcom("transcript")["status"] == "failed" and sim.state()["sessions"] == []


def test_set_params_rejected_fails_without_retry_and_closes(sim: SimServer) -> None:
    sim.set_channel(ack_code=1003)
    with pytest.raises(AirflowFailException, match="code 1003"):
        operator().execute(make_context())
    assert sim.state()["open_sessions"] == []


def test_templated_values_render_as_text(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = akool_sim_factory(time_scale=20, join_delay_seconds=0)  # a 60 s session lasts 3 real seconds
    set_akool_conn(monkeypatch, sim)
    op = operator(scripts=json.dumps(["Rendered from a template."]), speed="0.9", duration="auto", voice_id="")
    manifest = op.execute(make_context())
    assert manifest["settings"]["voice_id"] is None and manifest["settings"]["duration"] == "auto"
    assert manifest["sessions"][0]["duration"] == 60


def test_on_kill_closes_the_open_session(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = akool_sim_factory(time_scale=10)  # the long script below takes ~20 s: it will be killed first
    set_akool_conn(monkeypatch, sim)
    op = operator(scripts=["A long script the avatar will not finish. " * 100])
    ti = FakeTI()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            op.execute(make_context(ti=ti))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    assert ti.pushed_event.wait(10), "no session id pushed"
    session_id = ti.xcom("session_id")
    assert wait_until(lambda: session_of(sim, session_id)["segments"], 10), "the avatar is speaking"

    op.on_kill()
    assert session_of(sim, session_id)["closed_at"] is not None, "on_kill itself closed the session"
    worker.join(10)
    assert not worker.is_alive(), "the run stopped once killed"
    assert len(errors) == 1 and isinstance(errors[0], AirflowException)
    assert "killed" in str(errors[0])
    assert sim.state()["open_sessions"] == []
    transcript = ti.xcom("transcript")
    assert transcript["status"] == "failed"
    assert transcript["sessions"][0]["close"]["closed"] is True


def test_execution_timeout_closes_the_session(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time.timeout import timeout

    from airflow_provider_akool._compat import AirflowTaskTimeout

    sim = akool_sim_factory(time_scale=10)
    set_akool_conn(monkeypatch, sim)
    op = operator(scripts=["A script far too long for the task's time limit. " * 100])
    with pytest.raises(AirflowTaskTimeout), timeout(2):  # what Airflow wraps execute in (SIGALRM)
        op.execute(make_context())
    state = sim.state()
    assert len(state["sessions"]) == 1 and state["open_sessions"] == []
    assert state["sessions"][0]["ended_by"] == "close"
