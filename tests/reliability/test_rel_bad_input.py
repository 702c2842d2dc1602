"""Bad input table: every operator refuses bad values before any API call, naming the field.

Each case builds the operator with templated fields inside a DAG, renders the bad value through
Airflow's real template rendering (as a DAG param would arrive at run time), runs ``execute``
against a live akool-sim, and checks three things: the task fails, the message names the field,
and akool-sim's request log (every API call and file download) is still empty. Cases marked
``parse`` are refused earlier, when the DAG file is parsed (constructor ``ValueError``).

A few control tests prove the harness can see calls (a valid input does reach the sim), so an
empty request log means "refused before any call", not "nothing was looked at".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG
from rel_support import AVATAR
from task_support import make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowFailException
from airflow_provider_akool.operators.archive import AkoolArchiveToS3Operator
from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator
from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
from airflow_provider_akool.operators.sweeper import AkoolCloseStaleSessionsOperator
from airflow_provider_akool.sensors.avatar import AkoolAvatarSensor
from airflow_provider_akool.sim.runner import SimServer

GOOD_VIDEO = "https://media.example.com/presenters/clip.mp4"
GOOD_SOURCE = "https://cdn.example.com/a.mp4"
# 1 MB of script: ~18.5 h of speech, 20 sessions; the default cap is 4 h.
LONG_SCRIPT = ("The harbour was busy that morning, and the ships waited for the tide. " * 15000)[:1_000_000]


@dataclass(frozen=True)
class Op:
    """How to build one operator with templated fields, and the valid params it starts from."""

    cls: type[Any]
    kwargs: dict[str, Any]
    params: dict[str, Any]
    native: bool = False


OPS: dict[str, Op] = {
    "avatar": Op(
        AkoolCreateAvatarOperator,
        {
            "video_url": "{{ params.video_url }}",
            "avatar_id": "{{ params.avatar_id }}",
            "name": "{{ params.name }}",
            "wait_for_completion": False,
        },
        {"video_url": GOOD_VIDEO, "avatar_id": "relAvatar1", "name": "clip"},
    ),
    "sensor": Op(
        AkoolAvatarSensor,
        {"avatar_id": "{{ params.avatar_id }}", "deferrable": True, "poke_interval": 0.1, "timeout": 5},
        {"avatar_id": AVATAR},
    ),
    "session": Op(
        AkoolRetellingSessionOperator,
        {
            "avatar_id": "{{ params.avatar_id }}",
            "scripts": "{{ params.scripts }}",
            "speed": "{{ params.speed }}",
            "duration": "{{ params.duration }}",
            "stream_type": "{{ params.stream_type }}",
            "background_url": "{{ params.background_url }}",
            "pron_map": "{{ params.pron_map }}",
            "voice_id": "{{ params.voice_id }}",
            "language": "{{ params.language }}",
            "speech_rates": "{{ params.speech_rates }}",
        },
        {
            "avatar_id": AVATAR,
            "scripts": ["Hello there."],
            "speed": 1.0,
            "duration": "auto",
            "stream_type": None,
            "background_url": None,
            "pron_map": None,
            "voice_id": None,
            "language": None,
            "speech_rates": None,
        },
        native=True,
    ),
    "sweeper": Op(
        AkoolCloseStaleSessionsOperator,
        {"session_ids": "{{ params.session_ids }}"},
        {"session_ids": ["abc"]},
        native=True,
    ),
    "archive": Op(
        AkoolArchiveToS3Operator,
        {
            "s3_bucket": "{{ params.bucket }}",
            "sources": "{{ params.sources }}",
            "avatar_ids": "{{ params.avatar_ids }}",
            "manifest_key": "{{ params.manifest_key }}",
            "key_template": "{{ params.key_template }}",
            "allowed_hosts": "{{ params.allowed_hosts }}",
            "aws_conn_id": "aws_rel_unused",
        },
        {
            "bucket": "rel-bucket",
            "sources": [GOOD_SOURCE],
            "avatar_ids": None,
            "manifest_key": None,
            "key_template": None,
            "allowed_hosts": None,
        },
        native=True,
    ),
}


@dataclass(frozen=True)
class Case:
    op: str
    params: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)
    expect: str = ""
    parse: bool = False  # refused when the DAG is parsed (constructor), not at run time


CASES: dict[str, Case] = {
    # -- AkoolCreateAvatarOperator: URLs, schemes, ids, names ------------------------------------
    "avatar-url-empty": Case("avatar", {"video_url": ""}, expect="video_url"),
    "avatar-url-ftp": Case("avatar", {"video_url": "ftp://media.example.com/a.mp4"}, expect="video_url"),
    "avatar-url-file": Case("avatar", {"video_url": "file:///etc/passwd"}, expect="video_url"),
    "avatar-url-javascript": Case("avatar", {"video_url": "javascript:alert(1)"}, expect="video_url"),
    "avatar-url-no-host": Case("avatar", {"video_url": "https://"}, expect="video_url"),
    "avatar-url-no-scheme": Case("avatar", {"video_url": "media.example.com/clip.mp4"}, expect="video_url"),
    "avatar-url-control-char": Case(
        "avatar", {"video_url": "https://media.example.com/a\x00b.mp4"}, expect="video_url"
    ),
    "avatar-url-bad-ipv6": Case("avatar", {"video_url": "https://[::1/clip.mp4"}, expect="video_url"),
    "avatar-url-space-in-host": Case("avatar", {"video_url": "https://media example.com/clip.mp4"}, expect="video_url"),
    "avatar-id-dash": Case("avatar", {"avatar_id": "has-dash"}, expect="avatar_id"),
    "avatar-id-accents": Case("avatar", {"avatar_id": "ünïcode"}, expect="avatar_id"),
    "avatar-id-arabic-digits": Case("avatar", {"avatar_id": "abc\u0661\u0662"}, expect="avatar_id"),
    "avatar-id-zero-width": Case("avatar", {"avatar_id": "abc\u200bdef"}, expect="avatar_id"),
    "avatar-id-too-long": Case("avatar", {"avatar_id": "x" * 129}, expect="avatar_id"),
    "avatar-name-too-long": Case("avatar", {"name": "n" * 201}, expect="name"),
    "avatar-url-from-3": Case("avatar", kwargs={"url_from": 3}, expect="url_from", parse=True),
    "avatar-poll-zero": Case("avatar", kwargs={"poll_interval": 0}, expect="poll_interval", parse=True),
    "avatar-timeout-negative": Case("avatar", kwargs={"timeout": -1}, expect="timeout", parse=True),
    # -- AkoolAvatarSensor -------------------------------------------------------------------------
    "sensor-id-empty": Case("sensor", {"avatar_id": ""}, expect="avatar_id"),
    "sensor-id-blank": Case("sensor", {"avatar_id": " \t "}, expect="avatar_id"),
    "sensor-id-control-char": Case("sensor", {"avatar_id": "dvp\x00Tristan"}, expect="avatar_id"),
    # -- AkoolRetellingSessionOperator: scripts, speeds, durations, transports --------------------
    "session-avatar-empty": Case("session", {"avatar_id": ""}, expect="avatar_id"),
    "session-avatar-control-char": Case("session", {"avatar_id": "dvp_Tristan\n_cloth2"}, expect="avatar_id"),
    "session-scripts-empty-list": Case("session", {"scripts": []}, expect="scripts"),
    "session-scripts-none": Case("session", {"scripts": None}, expect="scripts"),
    "session-scripts-plain-string": Case("session", {"scripts": "just one string"}, expect="scripts"),
    "session-scripts-blank-text": Case("session", {"scripts": ["   \n\t"]}, expect="scripts[0].text"),
    "session-scripts-number": Case("session", {"scripts": ["ok", 42]}, expect="scripts[1]"),
    "session-scripts-unknown-field": Case("session", {"scripts": [{"text": "hi", "voice": "x"}]}, expect="scripts[0]"),
    "session-scripts-duplicate-id": Case(
        "session", {"scripts": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}, expect="scripts[1].id"
    ),
    "session-scripts-empty-id": Case("session", {"scripts": [{"id": " ", "text": "x"}]}, expect="scripts[0].id"),
    "session-scripts-broken-json": Case("session", {"scripts": '["unterminated'}, expect="scripts"),
    "session-scripts-lone-surrogate": Case(
        "session", {"scripts": ["fine", "bad \ud800 text"]}, expect="scripts[1].text"
    ),
    "session-scripts-invisible-only": Case("session", {"scripts": ["\u200b\u2060\ufeff"]}, expect="scripts[0].text"),
    "session-speed-too-fast": Case("session", {"speed": "1.5"}, expect="speed"),
    "session-speed-too-slow": Case("session", {"speed": 0.5}, expect="speed"),
    "session-speed-word": Case("session", {"speed": "fast"}, expect="speed"),
    "session-speed-nan": Case("session", {"speed": "nan"}, expect="speed"),
    "session-speed-bool": Case("session", {"speed": True}, expect="speed"),
    "session-duration-zero": Case("session", {"duration": 0}, expect="duration"),
    "session-duration-over-3600": Case("session", {"duration": 3601}, expect="duration"),
    "session-duration-fraction": Case("session", {"duration": 90.5}, expect="duration"),
    "session-duration-negative": Case("session", {"duration": -60}, expect="duration"),
    "session-duration-word": Case("session", {"duration": "forever"}, expect="duration"),
    "session-stream-unknown": Case("session", {"stream_type": "webrtc"}, expect="stream_type"),
    "session-stream-trtc": Case("session", {"stream_type": "trtc"}, expect="stream_type"),
    "session-stream-wrong-case": Case("session", {"stream_type": "SIM"}, expect="stream_type"),
    "session-background-ftp": Case(
        "session", {"background_url": "ftp://media.example.com/bg.png"}, expect="background_url"
    ),
    "session-background-not-url": Case("session", {"background_url": "not a url"}, expect="background_url"),
    "session-pron-map-values": Case("session", {"pron_map": {"Akool": 5}}, expect="pron_map"),
    "session-pron-map-list": Case("session", {"pron_map": ["a", "b"]}, expect="pron_map"),
    "session-segment-timeout-zero": Case("session", kwargs={"segment_timeout": 0}, expect="segment_timeout"),
    "session-ready-timeout-negative": Case("session", kwargs={"ready_timeout": -1}, expect="ready_timeout"),
    # Cost cap: an accidentally huge batch is refused before any session is paid for.
    "session-scripts-over-cost-cap": Case(
        "session", {"scripts": [LONG_SCRIPT]}, expect="max_total_session_seconds: planned "
    ),
    "session-speech-rates-class": Case("session", {"speech_rates": {"latin": 12}}, expect="speech_rates: unknown"),
    "session-speech-rates-value": Case("session", {"speech_rates": {"han": -2}}, expect="speech_rates.han"),
    "session-scripts-over-max-sessions": Case(
        "session",
        {"scripts": ["First line.", "Second line."], "duration": 34},
        kwargs={"max_sessions": 1},
        expect="max_sessions: the scripts need 2 sessions",
    ),
    "session-cost-cap-zero": Case(
        "session", kwargs={"max_total_session_seconds": 0}, expect="max_total_session_seconds", parse=True
    ),
    "session-max-sessions-word": Case("session", kwargs={"max_sessions": "lots"}, expect="max_sessions", parse=True),
    # -- AkoolCloseStaleSessionsOperator -----------------------------------------------------------
    "sweeper-ids-broken-json": Case("sweeper", {"session_ids": '["unterminated'}, expect="session_ids"),
    "sweeper-ids-number": Case("sweeper", {"session_ids": 42}, expect="session_ids"),
    "sweeper-older-negative": Case(
        "sweeper", kwargs={"older_than_minutes": -1}, expect="older_than_minutes", parse=True
    ),
    # -- AkoolArchiveToS3Operator ------------------------------------------------------------------
    "archive-bucket-uppercase": Case("archive", {"bucket": "Bad_Bucket"}, expect="s3_bucket"),
    "archive-bucket-short": Case("archive", {"bucket": "ab"}, expect="s3_bucket"),
    "archive-source-file-scheme": Case("archive", {"sources": ["file:///etc/passwd"]}, expect="sources[0]"),
    "archive-source-second-ftp": Case(
        "archive", {"sources": [GOOD_SOURCE, "ftp://x.example/y.mp4"]}, expect="sources[1]"
    ),
    "archive-source-control-char": Case(
        "archive", {"sources": ["https://cdn.example.com/a\x00.mp4"]}, expect="sources[0]"
    ),
    "archive-record-javascript-thumb": Case(
        "archive",
        {"sources": [{"avatar_id": "a1", "url": GOOD_SOURCE, "thumbnail_url": "javascript:alert(1)"}]},
        expect="sources[0].thumbnail_url",
    ),
    "archive-record-bad-date": Case(
        "archive",
        {"sources": [{"avatar_id": "a1", "url": GOOD_SOURCE, "created_at": "yesterday"}]},
        expect="sources[0].created_at",
    ),
    "archive-host-not-allowed": Case(
        "archive",
        {"sources": ["https://evil.example.net/a.mp4"], "allowed_hosts": ["cdn.example.com"]},
        expect="sources[0]",
    ),
    "archive-manifest-dotdot": Case("archive", {"manifest_key": "../escape.json"}, expect="manifest_key"),
    "archive-manifest-absolute": Case("archive", {"manifest_key": "/abs.json"}, expect="manifest_key"),
    "archive-key-template-unknown": Case("archive", {"key_template": "{prefix}/{nope}"}, expect="key_template"),
    "archive-avatar-id-slash": Case("archive", {"avatar_ids": ["a/b"]}, expect="avatar_ids"),
    "archive-avatar-id-blank": Case("archive", {"avatar_ids": ["ok1", " "]}, expect="avatar_ids"),
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer(time_scale=1000) as server:
        yield server


@pytest.fixture
def conn(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    set_akool_conn(monkeypatch, sim)
    sim.clear_requests()
    return sim


def build(op_name: str, kwargs: dict[str, Any] | None = None, task_id: str = "t") -> Any:
    """The operator with templated fields, inside a DAG (rendering uses the DAG's Jinja settings)."""
    op = OPS[op_name]
    with DAG(
        dag_id=f"rel_bad_input_{op_name}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        render_template_as_native_obj=op.native,
        default_args={"retry_delay": timedelta(seconds=1)},
    ):
        return op.cls(task_id=task_id, **{**op.kwargs, **(kwargs or {})})


def run(op_name: str, params: dict[str, Any] | None = None, kwargs: dict[str, Any] | None = None) -> Any:
    """Build, render with ``params`` over the valid defaults, execute; return the result."""
    operator = build(op_name, kwargs)
    context = make_context({**OPS[op_name].params, **(params or {})})
    operator.render_template_fields(context)
    return operator.execute(context)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_before_any_call_naming_the_field(conn: SimServer, name: str) -> None:
    case = CASES[name]
    expected: type[Exception] = ValueError if case.parse else AirflowFailException
    with pytest.raises(expected) as caught:
        run(case.op, case.params, case.kwargs)
    message = str(caught.value)
    assert case.expect in message, f"message does not name {case.expect!r}: {message}"
    assert conn.requests() == [], f"{name}: API calls were made before the input was refused"


def test_the_table_has_at_least_40_cases_over_every_operator() -> None:
    assert len(CASES) >= 40
    assert {c.op for c in CASES.values()} == set(OPS)


# -- controls: a valid input does reach the sim, so "no request" above is meaningful ---------------
def test_control_valid_avatar_input_reaches_the_api(conn: SimServer) -> None:
    record = run("avatar", {"avatar_id": "relControl1"})
    assert record["avatar_id"] == "relControl1"
    assert any(r["path"] == "/api/open/v3/avatar/create" for r in conn.requests())


def test_control_valid_session_input_reaches_the_api(conn: SimServer) -> None:
    conn.set_channel(join_delay_seconds=0)
    # 3600 simulated seconds = 3.6 s at time scale 1000: the session cannot end by itself meanwhile.
    manifest = run("session", {"scripts": ["Hello there."], "duration": 3600})
    assert manifest["totals"]["spoken"] == 1
    assert any(r["path"].endswith("/session/create") for r in conn.requests())
    assert conn.state()["open_sessions"] == []


def test_control_valid_sweeper_input_reaches_the_api(conn: SimServer) -> None:
    report = run("sweeper", {"session_ids": ["unknownSession1"]})
    assert report["closed"] == []
    assert any(r["path"].endswith("/session/list") for r in conn.requests())


# -- missing connection --------------------------------------------------------------------------
@pytest.mark.parametrize("op_name", ["avatar", "sensor", "session", "sweeper"])
def test_missing_connection_fails_naming_the_connection(conn: SimServer, op_name: str) -> None:
    with pytest.raises(Exception) as caught:  # Airflow's AirflowNotFoundException (a subclass of it)
        run(op_name, kwargs={"akool_conn_id": "akool_missing_rel"})
    assert "akool_missing_rel" in str(caught.value), f"{type(caught.value).__name__}: {caught.value}"
    assert conn.requests() == []


def test_archive_missing_akool_connection_fails_naming_it(conn: SimServer, aws_conn: str, bucket: str) -> None:
    with pytest.raises(Exception) as caught:
        run(
            "archive",
            {"bucket": bucket, "sources": None, "avatar_ids": ["relAvatar1"]},
            {"akool_conn_id": "akool_missing_rel", "aws_conn_id": aws_conn},
        )
    assert "akool_missing_rel" in str(caught.value), f"{type(caught.value).__name__}: {caught.value}"
    assert conn.requests() == []


# -- wrong key -----------------------------------------------------------------------------------
WRONG_KEY = "rel-wrong-api-key-0123456789"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


@pytest.mark.parametrize(
    ("op_name", "params", "token_mode"),
    [
        ("avatar", {"avatar_id": "relWrongKey1"}, False),
        ("avatar", {"avatar_id": "relWrongKey2"}, True),
        ("sensor", {}, False),
        ("session", {"duration": 3600}, False),
        ("session", {"duration": 3600}, True),
        ("sweeper", {}, False),
    ],
    ids=["avatar-key", "avatar-token", "sensor-key", "session-key", "session-token", "sweeper-key"],
)
def test_wrong_key_is_a_clear_auth_error_and_creates_nothing(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch, op_name: str, params: dict[str, Any], token_mode: bool
) -> None:
    from airflow_provider_akool.client import AkoolAuthError

    set_akool_conn(monkeypatch, sim, api_key=WRONG_KEY, token_mode=token_mode)
    before = sim.state()
    with pytest.raises(Exception) as caught:
        run(op_name, params)
    message = str(caught.value)
    chain = _chain(caught.value)
    auth = [e for e in chain if isinstance(e, AkoolAuthError)]
    assert auth or "1101" in message, f"not an auth error: {type(caught.value).__name__}: {message}"
    assert any(word in message.lower() for word in ("authorization", "clientsecret", "credentials", "1101")), message
    assert WRONG_KEY not in message and all(WRONG_KEY not in str(e) for e in chain)
    # Not retried: the exact class Airflow's task runner fails without a retry, naming the connection.
    assert type(caught.value) is AirflowFailException, f"retried: {type(caught.value).__name__}: {message}"
    assert "akool_conn_id 'akool_default'" in message, message
    after = sim.state()
    assert len(after["avatars"]) == len(before["avatars"]), "an avatar was created with a wrong key"
    assert len(after["sessions"]) == len(before["sessions"]), "a session was created with a wrong key"
    assert after["credits"]["balance"] == before["credits"]["balance"]
    assert all(r["code"] in (1101, None) for r in sim.requests() if r["path"].startswith("/api/")), "only 1101s"


def test_wrong_key_on_archive_discovery_fails_as_an_auth_error(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch, aws_conn: str, bucket: str
) -> None:
    """A wrong key is the account's problem, not one resource's: it must fail the task as an auth error
    (no retry can help), not be recorded as "1 of 1 resource(s) failed" and retried."""
    from airflow_provider_akool.client import AkoolAuthError

    set_akool_conn(monkeypatch, sim, api_key=WRONG_KEY)
    with pytest.raises(Exception) as caught:
        run("archive", {"bucket": bucket, "sources": None, "avatar_ids": [AVATAR]}, {"aws_conn_id": aws_conn})
    message = str(caught.value)
    assert isinstance(caught.value, AkoolAuthError | AirflowFailException), f"{type(caught.value).__name__}: {message}"
    assert "1101" in message or "authorization" in message.lower(), message
    assert WRONG_KEY not in message
