"""Speech rates reach the plan: the operator's ``speech_rates`` and the connection extra per language."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from session_support import AVATAR, api_calls
from task_support import make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowException, AirflowFailException
from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
from airflow_provider_akool.sim.runner import SimServer

pytestmark = pytest.mark.timeout(60)

MANDARIN = "今天天气很好，我们去公园散步吧。" * 40  # noqa: RUF001 - about 150 s of speech


def connect(monkeypatch: pytest.MonkeyPatch, sim: SimServer, **extra: Any) -> None:
    set_akool_conn(monkeypatch, sim, **extra)


def created_duration(sim: SimServer, **operator_args: Any) -> float:
    """The ``duration`` the operator created its session with (how the run then went is not the point:
    at the sim's time scale of 1000 the session ends before real-time pacing has sent the text, so the
    cut script is not tried again)."""
    sim.clear_requests()
    operator = AkoolRetellingSessionOperator(
        task_id="retell",
        avatar_id=AVATAR,
        scripts=[MANDARIN],
        language="zh-CN",
        retries=0,
        max_segment_attempts=1,
        **operator_args,
    )
    with contextlib.suppress(AirflowException):
        operator.execute(make_context())
    creates = [r for r in api_calls(sim) if r["path"].endswith("/session/create")]
    assert len(creates) == 1
    return float(creates[0]["body"]["duration"])


def test_the_connection_rates_for_the_language_and_the_task_rates_size_the_session(
    akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(monkeypatch, akool_sim)
    default = created_duration(akool_sim)
    connect(monkeypatch, akool_sim, speech_rates={"zh": {"han": 2.25}, "ja": {"han": 9.0}})
    slower = created_duration(akool_sim)
    assert slower > 1.7 * default, "half the Han rate for zh: about twice the session time"
    # The task's own rates win over the connection's.
    # (Not exactly equal: a given rate also lowers the slowest plausible one to 0.65x of it, and the
    # first segment of a session is sized with that bound until the avatar shows audio events.)
    assert created_duration(akool_sim, speech_rates={"han": 4.5}) == pytest.approx(default, rel=0.03)


@pytest.mark.parametrize(
    ("extra", "operator_args", "message"),
    [
        (
            {"speech_rates": {"zh": {"han": "quick"}}},
            {},
            "connection 'akool_default' extra speech_rates.zh.han: must be a number",
        ),
        ({"speech_rates": ["han", 4]}, {}, "connection 'akool_default' extra speech_rates: must map language codes"),
        ({}, {"speech_rates": {"vowel": 4}}, "speech_rates: unknown character class 'vowel'"),
        ({}, {"speech_rates": '{"han": 0}'}, "speech_rates.han: must be a number"),
    ],
)
def test_bad_rates_fail_before_any_api_call(
    akool_sim: SimServer,
    monkeypatch: pytest.MonkeyPatch,
    extra: dict[str, Any],
    operator_args: dict[str, Any],
    message: str,
) -> None:
    connect(monkeypatch, akool_sim, **extra)
    akool_sim.clear_requests()
    with pytest.raises(AirflowFailException, match="invalid input") as caught:
        AkoolRetellingSessionOperator(
            task_id="retell", avatar_id=AVATAR, scripts=["你好"], language="zh", **operator_args
        ).execute(make_context())
    assert message in str(caught.value)
    assert api_calls(akool_sim) == []
