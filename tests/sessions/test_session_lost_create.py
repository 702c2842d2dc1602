"""A session create given up on may still open a paid session later: ``sessions`` finds and closes it.

Scripted over HTTP mocks: a fake session service whose sessions "land" at a chosen time, as a
create a server still held when the client timed out would (reliability finding 1). Time is a
:class:`FakeClock`: it moves only while the poll waits, so the window is exact and nothing sleeps.
The same steps drive the sync and the async client, so the main case runs on both.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from fake_clock import FakeClock

from airflow_provider_akool.client import (
    AkoolAmbiguousCreateError,
    AkoolClient,
    AkoolTransientError,
    AsyncAkoolClient,
    ClientConfig,
)
from airflow_provider_akool.sessions import reconcile
from airflow_provider_akool.sessions.drive import run_async, run_sync
from airflow_provider_akool.sessions.opening import aopen_session, open_session
from airflow_provider_akool.sessions.reconcile import PendingCreates

BASE = "https://akool.test"
LIVE = "/api/open/v4/liveAvatar/session"
API_KEY = "key-lost-create-0123456789"
TIMEOUT, GRACE = 2.0, 4.0  # poll window: 6 s (of the fake clock) after the ambiguous attempt was sent
pytestmark = pytest.mark.timeout(30)


def ok(data: Any = None) -> httpx.Response:
    return httpx.Response(200, json={"code": 1000, "msg": "OK", **({"data": data} if data is not None else {})})


class FakeSessions:
    """Akool's session endpoints: creates answer (or time out) as scripted, late sessions land on time."""

    def __init__(self, creates: list[str], clock: FakeClock) -> None:
        self.creates = iter(creates)  # per attempt: "ok", "timeout", or "lost" (applied, answer lost)
        self.clock = clock
        self.open: list[str] = []
        self.late: list[tuple[float, str]] = []
        self.closed: list[str] = []
        self.requests: list[str] = []  # "list" / "create" / "close", in order

    def land(self, session_id: str, after: float) -> None:
        self.late.append((self.clock.now + after, session_id))

    def _landed(self) -> None:
        now = self.clock.now
        self.open += [i for at, i in self.late if at <= now]
        self.late = [(at, i) for at, i in self.late if at > now]

    def list(self, request: httpx.Request) -> httpx.Response:
        self._landed()
        self.requests.append("list")
        ids = self.open if request.url.params["status"] == "2" else []
        return ok({"count": len(ids), "result": [{"_id": i, "status": 2} for i in ids]})

    def create(self, request: httpx.Request) -> httpx.Response:
        self.requests.append("create")
        outcome = next(self.creates)
        if outcome == "lost":
            self.open.append("lost")
        if outcome in ("timeout", "lost"):
            raise httpx.ReadTimeout("timed out", request=request)
        session_id = f"ours-{self.requests.count('create')}"
        self.open.append(session_id)
        return ok({"_id": session_id, "status": 1, "stream_type": "agora", "credentials": {}})

    def close(self, request: httpx.Request) -> httpx.Response:
        session_id = json.loads(request.content)["id"]
        self.requests.append("close")
        self.closed.append(session_id)
        self.open = [i for i in self.open if i != session_id]
        return ok()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeSessions]:
    service = FakeSessions(["timeout", "ok"], clock)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get(f"{LIVE}/list").mock(side_effect=lambda r: service.list(r))
        router.post(f"{LIVE}/create").mock(side_effect=lambda r: service.create(r))
        router.post(f"{LIVE}/close").mock(side_effect=lambda r: service.close(r))
        yield service


def config(**overrides: Any) -> ClientConfig:
    values: dict[str, Any] = {"timeout": TIMEOUT, "lost_create_grace": GRACE, "backoff_base": 0.0, **overrides}
    return ClientConfig(base_url=BASE, api_key=API_KEY, max_retry_wait=0.0, **values)


BODY: dict[str, Any] = {"avatar_id": "a", "duration": 60, "stream_type": "agora"}


def create_and_settle(is_async: bool, pending: PendingCreates, clock: FakeClock, **overrides: Any) -> str:
    if not is_async:
        with AkoolClient(config(**overrides)) as client:
            session = open_session(client, BODY, pending=pending, clock=clock.clock)
            run_sync(client, reconcile.settle(client, pending), clock.clock)
            return session.id

    async def main() -> str:
        async with AsyncAkoolClient(config(**overrides)) as client:
            session = await aopen_session(client, BODY, pending, clock.clock)
            await run_async(client, reconcile.settle(client, pending), clock.clock)
            return session.id

    return asyncio.run(main())


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_late_landing_create_is_found_by_the_bounded_poll_and_left_to_the_sweeper(
    fake: FakeSessions, clock: FakeClock, is_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # After the retry succeeded, before the window ends: it may as well be a sibling task's session,
    # so it is reported for the sweeper (which runs once the DAG's sessions are done), not closed.
    fake.land("lost", after=3.0)
    pending = PendingCreates(clock=clock.monotonic)
    caplog.set_level(logging.INFO, logger="airflow_provider_akool")
    sent = clock.now
    ours = create_and_settle(is_async, pending, clock)
    assert ours == "ours-2"
    assert fake.closed == [], "a session found after the immediate look is never closed"
    assert pending.candidates == ["lost"] and pending.leftovers == ["lost"]
    assert pending.unresolved == 1, "a later look cannot attribute a session: the attempt stays pending"
    assert clock.now - sent == pytest.approx(TIMEOUT + GRACE), "the poll runs until its window ends, no longer"
    assert sorted(fake.open) == ["lost", "ours-2"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("attempt 1/5 failed" in m and "retrying" in m for m in messages), messages
    assert any("Session(s) lost opened while a session create was unaccounted for" in m for m in messages)
    assert not any(API_KEY in m for m in messages)


def test_a_lone_new_session_at_the_immediate_look_is_closed(fake: FakeSessions, clock: FakeClock) -> None:
    fake.creates = iter(["lost", "ok"])  # applied, answer lost: listed when the client re-lists at once
    pending = PendingCreates(clock=clock.monotonic)
    ours = create_and_settle(False, pending, clock)
    assert fake.closed == ["lost"] and pending.closed == ["lost"]
    assert pending.unresolved == 0 and pending.leftovers == [] and fake.open == [ours]


def test_several_new_sessions_at_the_immediate_look_are_not_guessed(fake: FakeSessions, clock: FakeClock) -> None:
    fake.creates = iter(["timeout"])
    create = fake.create

    def crowded_create(request: httpx.Request) -> httpx.Response:
        fake.open += ["x1", "x2"]  # two other callers opened sessions while ours was in flight
        return create(request)

    fake.create = crowded_create  # type: ignore[method-assign]
    with AkoolClient(config()) as client, pytest.raises(AkoolAmbiguousCreateError) as caught:
        open_session(client, BODY, clock=clock.clock)
    assert caught.value.candidates == ["x1", "x2"]
    assert fake.closed == [] and sorted(fake.open) == ["x1", "x2"], "other callers' sessions are left open"


def test_two_unknown_new_sessions_are_candidates_and_not_closed(fake: FakeSessions, clock: FakeClock) -> None:
    fake.land("x1", after=2.5)
    fake.land("x2", after=2.5)
    pending = PendingCreates(clock=clock.monotonic)
    sent = clock.now
    ours = create_and_settle(False, pending, clock)
    assert fake.closed == []
    assert pending.candidates == ["x1", "x2"] and pending.leftovers == ["x1", "x2"]
    assert pending.unresolved == 1
    assert clock.now - sent == pytest.approx(TIMEOUT + GRACE), "the poll runs until its window ends"
    assert sorted(fake.open) == sorted([ours, "x1", "x2"])


def test_a_sibling_session_found_early_does_not_hide_our_late_one(fake: FakeSessions, clock: FakeClock) -> None:
    # The bug this guards against: a sibling task's session seen early in the window was taken for
    # the pending attempt's, the poll stopped and the recheck did nothing, so ours went unreported.
    fake.land("sibling", after=3.0)
    fake.land("lost", after=9.0)  # ours, later in the window (timeout + grace = 12 s here)
    pending = PendingCreates(clock=clock.monotonic)
    with AkoolClient(config(lost_create_grace=10.0)) as client:
        open_session(client, BODY, pending=pending, clock=clock.clock)
        run_sync(client, reconcile.settle(client, pending), clock.clock)
        assert pending.candidates == ["sibling", "lost"], "both are candidates, each once"
        assert pending.unresolved == 1
        fake.land("another", after=0.0)  # after the window: the recheck at close still looks
        run_sync(client, reconcile.recheck(client, pending), clock.clock)
    assert pending.leftovers == ["sibling", "lost", "another"]
    assert fake.closed == [], "none of them is closed"


def test_happy_path_makes_no_list_call_besides_the_snapshot_before_the_create(clock: FakeClock) -> None:
    service = FakeSessions(["ok"], clock)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get(f"{LIVE}/list").mock(side_effect=service.list)
        router.post(f"{LIVE}/create").mock(side_effect=service.create)
        pending = PendingCreates(clock=clock.monotonic)
        with AkoolClient(config()) as client:
            open_session(client, BODY, pending=pending, clock=clock.clock)
            run_sync(client, reconcile.settle(client, pending), clock.clock)
            run_sync(client, reconcile.recheck(client, pending), clock.clock)
    assert service.requests.count("list") == 2, "open sessions listed once (status 1 and 2), nothing after"
    assert clock.slept == [], "nothing to wait for"
    assert pending.unresolved == 0 and pending.leftovers == []


def test_a_failed_create_still_accounts_for_its_attempts(fake: FakeSessions, clock: FakeClock) -> None:
    fake.creates = iter(["timeout", "timeout"])
    fake.land("lost-1", after=3.0)
    pending = PendingCreates(clock=clock.monotonic)
    with AkoolClient(config(max_attempts=2)) as client:
        with pytest.raises(AkoolTransientError):
            open_session(client, BODY, pending=pending, clock=clock.clock)
        assert pending.unresolved == 2
        run_sync(client, reconcile.settle(client, pending), clock.clock)
        assert pending.candidates == ["lost-1"] and pending.unresolved == 2
        fake.land("lost-2", after=0.0)  # the other attempt lands after the window: found by the re-check
        run_sync(client, reconcile.recheck(client, pending), clock.clock)
    assert fake.closed == []
    assert pending.unresolved == 2 and pending.leftovers == ["lost-1", "lost-2"]
    assert sorted(fake.open) == ["lost-1", "lost-2"]


def test_a_session_landing_after_the_window_is_left_for_the_recheck(fake: FakeSessions, clock: FakeClock) -> None:
    fake.land("lost", after=TIMEOUT + GRACE + 3.0)
    pending = PendingCreates(clock=clock.monotonic)
    with AkoolClient(config()) as client:
        open_session(client, BODY, pending=pending, clock=clock.clock)
        run_sync(client, reconcile.settle(client, pending), clock.clock)
        assert fake.closed == [] and pending.leftovers == [] and pending.unresolved == 1
        clock.advance(4.0)
        run_sync(client, reconcile.recheck(client, pending), clock.clock)
    assert fake.closed == [] and pending.leftovers == ["lost"] and pending.unresolved == 1


def test_a_pending_record_serves_one_create(fake: FakeSessions, clock: FakeClock) -> None:
    fake.creates = iter(["ok", "ok"])
    pending = PendingCreates(clock=clock.monotonic)
    with AkoolClient(config()) as client:
        open_session(client, BODY, pending=pending, clock=clock.clock)
        with pytest.raises(ValueError, match="one session create"):
            open_session(client, BODY, pending=pending, clock=clock.clock)
    assert fake.requests.count("create") == 1, "refused before any call"
