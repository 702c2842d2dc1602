"""Closing a session: confirmed by the close reply (1000, 1216, 1219), never by a status alone.

Both drivers of the shared close-and-confirm steps are exercised with the same scripts: the async
one the runner uses (``lifecycle.close_session``) and the blocking one of the stale-session sweeper
(``sweep.sweep_open_sessions``). A script lists what Akool answers to each close and detail call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_akool.client.errors import AkoolAuthError, AkoolError, AkoolTransientError, error_for_code
from airflow_provider_akool.client.models import CloseResult, Page, Session
from airflow_provider_akool.streaming.lifecycle import CloseOutcome, close_session
from airflow_provider_akool.streaming.sweep import sweep_open_sessions

SID = "sess-1"
CLOSED = CloseResult(session_id=SID)  # code 1000
ALREADY = CloseResult(session_id=SID, already_closed=True)  # 1216 / 1219, as the client reports them


def status(value: int) -> Session:
    return Session.model_validate({"_id": SID, "status": value})


def failing(code: int | None = None) -> AkoolError:
    if code is None:
        return AkoolTransientError("HTTP 502 after retries", endpoint="session.close")
    return error_for_code(code, "refused", endpoint="session.close")


class Script:
    """Answers close/detail calls from two lists; records the calls made."""

    def __init__(self, closes: list[Any], details: list[Any] | None = None) -> None:
        self.closes = list(closes)
        self.details = list(details or [])
        self.calls: list[str] = []

    def answer(self, kind: str) -> Any:
        self.calls.append(kind)
        queue = self.closes if kind == "close" else self.details
        reply = queue.pop(0) if len(queue) > 1 else queue[0]  # the last answer repeats
        if isinstance(reply, BaseException):
            raise reply
        return reply


class AsyncScripted:
    def __init__(self, script: Script) -> None:
        self.script = script

    async def close_session(self, session_id: str) -> CloseResult:
        return self.script.answer("close")  # type: ignore[no-any-return]

    async def get_session(self, session_id: str) -> Session:
        return self.script.answer("detail")  # type: ignore[no-any-return]


class SyncScripted:
    """Enough of AkoolClient for the sweeper: one open session, then the scripted close."""

    def __init__(self, script: Script) -> None:
        self.script = script

    def list_sessions(self, page: int = 1, size: int = 100, status: int | None = None) -> Page[Session]:
        found = [Session.model_validate({"_id": SID, "status": 2})] if status == 2 else []
        return Page[Session](count=len(found), result=found)

    def paginate(self, list_page: Callable[..., Page[Session]], /, **filters: Any) -> list[Session]:
        return list(list_page(**filters).result)

    def close_session(self, session_id: str) -> CloseResult:
        return self.script.answer("close")  # type: ignore[no-any-return]

    def get_session(self, session_id: str) -> Session:
        return self.script.answer("detail")  # type: ignore[no-any-return]


def run_async(script: Script, attempts: int = 3) -> CloseOutcome:
    client = AsyncScripted(script)
    return asyncio.run(close_session(client, SID, attempts=attempts, backoff=0))  # type: ignore[arg-type]


def run_sweep(script: Script, attempts: int = 3) -> dict[str, Any]:
    report = sweep_open_sessions(SyncScripted(script), attempts=attempts, backoff=0)  # type: ignore[arg-type]
    return report.to_dict()


DRIVERS = ["runner", "sweeper"]


def closed_by(driver: str, script: Script, attempts: int = 3) -> bool:
    if driver == "runner":
        return run_async(script, attempts).closed
    report = run_sweep(script, attempts)
    return bool(report["closed"])


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_failed_close_is_not_confirmed_by_status_3(driver: str) -> None:
    script = Script([failing()], [status(3)])
    assert not closed_by(driver, script)
    assert script.calls == ["close", "close", "close"], "retried; the detail alone proves nothing"


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_failed_close_then_a_1000_reply_is_confirmed(driver: str) -> None:
    script = Script([failing(1218), CLOSED], [status(3)])
    assert closed_by(driver, script)
    assert script.calls == ["close", "close", "detail"]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("open_status", [1, 2])
def test_a_session_still_open_after_a_1000_reply_is_closed_again(driver: str, open_status: int) -> None:
    script = Script([CLOSED], [status(open_status), status(3)])
    assert closed_by(driver, script)
    assert script.calls == ["close", "detail", "close", "detail"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_still_open_after_every_attempt_is_a_failure(driver: str) -> None:
    script = Script([CLOSED], [status(2)])
    assert not closed_by(driver, script, attempts=2)
    assert script.calls == ["close", "detail", "close", "detail"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_1216_or_1219_is_confirmation_without_a_detail(driver: str) -> None:
    script = Script([ALREADY], [status(2)])  # the detail would contradict it; it is not read
    assert closed_by(driver, script)
    assert script.calls == ["close"]


def test_the_runner_outcome_says_how_the_close_was_confirmed() -> None:
    already = run_async(Script([ALREADY]))
    assert (already.closed, already.already_closed, already.attempts, already.confirmed_status) == (True, True, 1, None)
    retried = run_async(Script([CLOSED], [status(1), status(3)]))
    assert (retried.closed, retried.attempts, retried.confirmed_status, retried.error) == (True, 2, 3, None)
    failed = run_async(Script([failing()], [status(3)]), attempts=2)
    assert (failed.closed, failed.attempts, failed.confirmed_status) == (False, 2, None)
    assert failed.error is not None and "close failed" in failed.error
    assert failed.to_dict().keys() == {"closed", "already_closed", "attempts", "confirmed_status", "error"}


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("code", [1216, 1219])
def test_a_1000_reply_is_confirmed_when_the_detail_says_gone_or_closed(driver: str, code: int) -> None:
    script = Script([CLOSED], [failing(code)])
    assert closed_by(driver, script)
    assert script.calls == ["close", "detail"]


def test_a_1000_reply_whose_detail_fails_is_closed_with_a_note() -> None:
    outcome = run_async(Script([CLOSED], [failing()]))
    assert outcome.closed and outcome.attempts == 1
    assert outcome.error is not None and "detail not read" in outcome.error


def test_the_sweeper_stops_at_an_account_error() -> None:
    script = Script([failing(1101)])
    with pytest.raises(AkoolAuthError):
        run_sweep(script)
    assert script.calls == ["close"]


def test_a_failed_sweep_close_reports_the_reason() -> None:
    report = run_sweep(Script([failing()], [status(3)]), attempts=2)
    assert report["closed"] == [] and [e["session_id"] for e in report["failed"]] == [SID]
    assert "close failed" in report["failed"][0]["reason"]


async def test_a_cancellation_does_not_stop_the_runner_close() -> None:
    gate = asyncio.Event()
    script = Script([CLOSED], [status(3)])

    class Slow(AsyncScripted):
        async def close_session(self, session_id: str) -> CloseResult:
            if not gate.is_set():
                gate.set()
                await asyncio.sleep(10)  # cancelled here: this attempt counts as failed
            return await super().close_session(session_id)

    task = asyncio.ensure_future(close_session(Slow(script), SID, attempts=3, backoff=0))  # type: ignore[arg-type]
    await gate.wait()
    task.cancel()
    outcome = await task
    assert outcome.closed and outcome.cancelled and outcome.attempts == 2
    assert script.calls == ["close", "detail"]
