"""Cost cap: a plan that would pre-charge too much session time is refused before any API call."""

from __future__ import annotations

from typing import Any

import pytest
from session_support import AVATAR, api_calls
from task_support import FakeTI, make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowFailException
from airflow_provider_akool.operators.session import DEFAULT_MAX_TOTAL_SESSION_SECONDS, AkoolRetellingSessionOperator
from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.streaming import planning
from airflow_provider_akool.streaming.planning import (
    RetellingInputError,
    check_session_budget,
    check_session_cap,
    normalise_scripts,
    plan_sessions,
)

pytestmark = pytest.mark.timeout(60)

SENTENCE = "The harbour was busy that morning, and the ships waited for the tide. "
TEN_MB = (SENTENCE * (10_000_000 // len(SENTENCE) + 1))[:10_000_000]


def plans_for(chars: int, **kwargs: Any) -> list[planning.SessionPlan]:
    text = (SENTENCE * (chars // len(SENTENCE) + 1))[:chars]
    return plan_sessions(normalise_scripts([text]), **kwargs)


def test_the_operator_default_is_the_planning_default() -> None:
    assert DEFAULT_MAX_TOTAL_SESSION_SECONDS == planning.DEFAULT_MAX_TOTAL_SESSION_SECONDS == 4 * 3600


def test_a_10_mb_script_is_refused_with_the_numbers_and_how_to_raise_the_cap() -> None:
    plans = plan_sessions(normalise_scripts([TEN_MB]))
    assert len(plans) > 190, "the finding: about 200 one-hour sessions"
    with pytest.raises(RetellingInputError) as caught:
        check_session_budget(plans)
    message = str(caught.value)
    assert message.startswith(f"max_total_session_seconds: planned {len(plans)} session(s) totalling ")
    total = sum(p.duration for p in plans)
    assert f"{total} s" in message and "over the cap of 14400 s (4.0 h)" in message
    assert "raise max_total_session_seconds (None: no cap)" in message


def test_a_plan_within_the_default_cap_passes() -> None:
    plans = plans_for(120_000)  # ~2.2 h of speech, sized with its margin, in 3 sessions
    assert len(plans) == 3 and sum(p.duration for p in plans) <= DEFAULT_MAX_TOTAL_SESSION_SECONDS
    check_session_budget(plans)


def test_the_cap_counts_pre_charged_duration_not_speech() -> None:
    # 20 short scripts with a fixed 3600 s duration: little speech, but every session is charged 3600 s.
    plans = plan_sessions(normalise_scripts(["Hello."] * 5), duration=3600)
    assert len(plans) == 1
    check_session_budget(plans, max_total_session_seconds=3600)
    with pytest.raises(RetellingInputError, match=r"totalling 3600 s .* over the cap of 3599 s"):
        check_session_budget(plans, max_total_session_seconds=3599)


def test_max_sessions_caps_the_number_of_sessions() -> None:
    plans = plans_for(20_000, duration=600)  # 600 s sessions: several of them
    with pytest.raises(RetellingInputError) as caught:
        check_session_budget(plans, max_sessions=2, max_total_session_seconds=None)
    assert str(caught.value).startswith(f"max_sessions: the scripts need {len(plans)} sessions, over the cap of 2")
    check_session_budget(plans, max_sessions=len(plans), max_total_session_seconds=None)


def test_none_disables_both_caps() -> None:
    check_session_budget(plans_for(1_000_000), max_sessions=None, max_total_session_seconds=None)


@pytest.mark.parametrize("value", [0, -5, 1.5, "many", True, [1]])
def test_cap_parameters_are_checked(value: Any) -> None:
    with pytest.raises(RetellingInputError, match="max_sessions: must be a whole number >= 1, or None"):
        check_session_cap("max_sessions", value)


@pytest.mark.parametrize(("value", "expected"), [(None, None), (1, 1), ("7200", 7200), (7200.0, 7200)])
def test_cap_parameters_accept_whole_numbers_and_none(value: Any, expected: int | None) -> None:
    assert check_session_cap("max_total_session_seconds", value) == expected


def test_a_bad_cap_fails_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="max_total_session_seconds: must be a whole number"):
        AkoolRetellingSessionOperator(task_id="t", avatar_id=AVATAR, scripts=["x"], max_total_session_seconds=0)


@pytest.fixture
def sim(akool_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    set_akool_conn(monkeypatch, akool_sim)
    akool_sim.clear_requests()
    return akool_sim


def test_the_operator_refuses_a_huge_batch_before_any_api_call(sim: SimServer) -> None:
    ti = FakeTI()
    op = AkoolRetellingSessionOperator(task_id="retell", avatar_id=AVATAR, scripts=[TEN_MB])
    with pytest.raises(AirflowFailException) as caught:
        op.execute(make_context(ti=ti))
    message = str(caught.value)
    planned = len(plan_sessions(normalise_scripts([TEN_MB])))
    assert f"retell: invalid input: max_total_session_seconds: planned {planned} session(s)" in message
    assert api_calls(sim) == [] and sim.requests() == [], "refused before anything is created or paid for"
    assert ti.pushed == []


def test_the_operator_cap_can_be_raised(sim: SimServer) -> None:
    sim.set_channel(join_delay_seconds=0)
    scripts = ["First line.", "Second line."]
    with pytest.raises(AirflowFailException, match="max_sessions: the scripts need 2 sessions"):
        AkoolRetellingSessionOperator(
            task_id="retell",
            avatar_id=AVATAR,
            scripts=scripts,
            duration=34,
            max_sessions=1,
            max_total_session_seconds=None,
        ).execute(make_context())
    assert api_calls(sim) == []
    # duration 3600 = 3.6 s at time scale 1000: both lines fit one session, within a 3600 s cap.
    manifest = AkoolRetellingSessionOperator(
        task_id="retell",
        avatar_id=AVATAR,
        scripts=scripts,
        duration=3600,
        max_sessions=1,
        max_total_session_seconds=3600,
    ).execute(make_context())
    assert manifest["totals"]["spoken"] == 2
