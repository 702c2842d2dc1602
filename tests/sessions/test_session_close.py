"""Closing a session: confirmed by the close reply (1000, 1216, 1219), never by a status alone.

The close-and-confirm steps are written once (``sessions/close.py``); both of their drivers run
the same scripts here: the async one the runner uses (``aclose_session``, which finishes despite a
cancellation) and the blocking one of the stale-session sweeper (``sweep_open_sessions``). A script
lists what Akool answers to each close and detail call; the tests assert the outcome.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_clock import FakeClock

from airflow_provider_akool.client.calls import Call, Reply
from airflow_provider_akool.client.errors import AkoolAuthError, AkoolError, AkoolTransientError, error_for_code
from airflow_provider_akool.sessions.close import CloseOutcome, aclose_session
from airflow_provider_akool.sessions.sweep import sweep_open_sessions

SID = "sess-1"
CLOSED: Reply = {"code": 1000, "msg": "OK"}
ALREADY: Reply = {"code": 1216, "msg": "session not found"}  # or 1219: both mean closed already


def status(value: int) -> Reply:
    return {"code": 1000, "msg": "OK", "data": {"_id": SID, "status": value}}


def failing(code: int | None = None) -> AkoolError:
    if code is None:
        return AkoolTransientError("HTTP 502 after retries", endpoint="session.close")
    return error_for_code(code, "refused", endpoint="session.close")


class Script:
    """Akool's answers to close and detail calls, in order (the last one repeats)."""

    def __init__(self, closes: list[Any], details: list[Any] | None = None) -> None:
        self.closes = list(closes)
        self.details = list(details or [])
        self.detail_reads = 0

    def reply(self, call: Call) -> Reply:
        if call.name == "session.list":  # one open session, listed under status 2
            found = [{"_id": SID, "status": 2}] if call.params and call.params.get("status") == 2 else []
            return {"code": 1000, "msg": "OK", "data": {"count": len(found), "result": found}}
        if call.name == "session.detail":
            self.detail_reads += 1
        queue = self.closes if call.name == "session.close" else self.details
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return dict(answer)


class SyncAkool:
    is_async = False

    def __init__(self, script: Script) -> None:
        self.script = script

    def send(self, call: Call) -> Reply:
        return self.script.reply(call)


class AsyncAkool:
    is_async = True

    def __init__(self, script: Script) -> None:
        self.script = script

    async def send(self, call: Call) -> Reply:
        return self.script.reply(call)


def run_async(script: Script, attempts: int = 3) -> CloseOutcome:
    client = AsyncAkool(script)
    return asyncio.run(aclose_session(client, SID, attempts=attempts, backoff=0))  # type: ignore[arg-type]


def run_sweep(script: Script, attempts: int = 3) -> dict[str, Any]:
    report = sweep_open_sessions(SyncAkool(script), attempts=attempts, backoff=0)  # type: ignore[arg-type]
    return report.to_dict()


DRIVERS = ["runner", "sweeper"]


def closed_by(driver: str, script: Script, attempts: int = 3) -> bool:
    if driver == "runner":
        return run_async(script, attempts).closed
    report = run_sweep(script, attempts)
    assert report["considered"] == 1
    return bool(report["closed"])


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_failed_close_is_not_confirmed_by_status_3(driver: str) -> None:
    script = Script([failing()], [status(3)])
    assert not closed_by(driver, script)
    assert script.detail_reads == 0, "after a failed close the detail proves nothing; it is not read"


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_failed_close_then_a_1000_reply_is_confirmed(driver: str) -> None:
    assert closed_by(driver, Script([failing(1218), CLOSED], [status(3)]))


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("open_status", [1, 2])
def test_a_session_still_open_after_a_1000_reply_is_closed_again(driver: str, open_status: int) -> None:
    assert closed_by(driver, Script([CLOSED], [status(open_status), status(3)]))


@pytest.mark.parametrize("driver", DRIVERS)
def test_still_open_after_every_attempt_is_a_failure(driver: str) -> None:
    assert not closed_by(driver, Script([CLOSED], [status(2)]), attempts=2)


@pytest.mark.parametrize("driver", DRIVERS)
def test_1216_or_1219_is_confirmation_without_a_detail(driver: str) -> None:
    script = Script([ALREADY], [status(2)])  # the detail would contradict it; it is not read
    assert closed_by(driver, script)
    assert script.detail_reads == 0


def test_the_runner_outcome_says_how_the_close_was_confirmed() -> None:
    already = run_async(Script([ALREADY]))
    assert (already.closed, already.already_closed, already.attempts, already.confirmed_status) == (True, True, 1, None)
    retried = run_async(Script([CLOSED], [status(1), status(3)]))
    assert (retried.closed, retried.attempts, retried.confirmed_status, retried.error) == (True, 2, 3, None)
    failed = run_async(Script([failing()], [status(3)]), attempts=2)
    assert (failed.closed, failed.attempts, failed.confirmed_status) == (False, 2, None)
    assert failed.error is not None and "close failed" in failed.error
    still_open = run_async(Script([CLOSED], [status(2)]), attempts=2)
    assert (still_open.closed, still_open.attempts) == (False, 2)
    assert still_open.error is not None and "still reported open (status 2)" in still_open.error
    assert failed.to_dict().keys() == {"closed", "already_closed", "attempts", "confirmed_status", "error"}


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("code", [1216, 1219])
def test_a_1000_reply_is_confirmed_when_the_detail_says_gone_or_closed(driver: str, code: int) -> None:
    assert closed_by(driver, Script([CLOSED], [failing(code)]))


def test_a_1000_reply_whose_detail_fails_is_closed_with_a_note() -> None:
    outcome = run_async(Script([CLOSED], [failing()]))
    assert outcome.closed and outcome.attempts == 1
    assert outcome.error is not None and "detail not read" in outcome.error


def test_the_sweeper_stops_at_an_account_error() -> None:
    script = Script([failing(1101), CLOSED])  # a second attempt would succeed: it is not made
    with pytest.raises(AkoolAuthError):
        run_sweep(script)
    assert len(script.closes) == 1, "no second close after an account error"


def test_a_failed_sweep_close_reports_the_reason() -> None:
    report = run_sweep(Script([failing()], [status(3)]), attempts=2)
    assert report["closed"] == [] and [e["session_id"] for e in report["failed"]] == [SID]
    assert "close failed" in report["failed"][0]["reason"]


def test_the_sweeper_backs_off_between_attempts_doubling() -> None:
    clock = FakeClock()
    client = SyncAkool(Script([failing()], [status(3)]))
    report = sweep_open_sessions(client, attempts=3, backoff=0.5, clock=clock.clock)  # type: ignore[arg-type]
    assert report.failed and clock.slept == [0.5, 1.0]


async def test_a_cancellation_does_not_stop_the_runner_close() -> None:
    gate = asyncio.Event()
    script = Script([CLOSED], [status(3)])

    class Slow(AsyncAkool):
        async def send(self, call: Call) -> Reply:
            if call.name == "session.close" and not gate.is_set():
                gate.set()
                await asyncio.sleep(10)  # cancelled here: this attempt counts as failed
            return await super().send(call)

    clock = FakeClock()
    task = asyncio.ensure_future(
        aclose_session(Slow(script), SID, attempts=3, backoff=1.0, clock=clock.clock)  # type: ignore[arg-type]
    )
    await gate.wait()
    task.cancel()
    outcome = await task
    assert outcome.closed and outcome.cancelled and outcome.attempts == 2
    assert clock.slept == [1.0], "the backoff after the interrupted attempt is slept through, not skipped"
