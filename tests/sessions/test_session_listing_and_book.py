"""The open-session listing reads every page; the session book keeps the ledger in step with the
sessions a task has open. Both Airflow-free, against call-level fakes."""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_akool.client.calls import Call, Reply
from airflow_provider_akool.sessions.book import SessionBook
from airflow_provider_akool.sessions.drive import run_sync
from airflow_provider_akool.sessions.ledger import MemoryLedgerStore, SessionLedger
from airflow_provider_akool.sessions.listing import open_sessions
from airflow_provider_akool.sessions.sweep import sweep_open_sessions


class ListingAkool:
    """Akool's session list over ``sessions`` (id -> status), paged as asked; closes succeed."""

    is_async = False

    def __init__(self, sessions: dict[str, int], max_page: int = 100) -> None:
        self.sessions = dict(sessions)
        self.max_page = max_page  # a server may hand out fewer per page than asked

    def send(self, call: Call) -> Reply:
        params: dict[str, Any] = call.params or {}
        if call.name == "session.list":
            matching = sorted(i for i, s in self.sessions.items() if s == params["status"])
            size = min(int(params["size"]), self.max_page)
            start = (int(params["page"]) - 1) * size
            page = [{"_id": i, "status": params["status"]} for i in matching[start : start + size]]
            return {"code": 1000, "data": {"count": len(matching), "result": page}}
        if call.name == "session.close":
            self.sessions[(call.json or {})["id"]] = 3
            return {"code": 1000}
        if call.name == "session.detail":
            return {"code": 1000, "data": {"_id": params["id"], "status": self.sessions[params["id"]]}}
        raise AssertionError(call.name)


def test_every_page_of_both_statuses_is_read() -> None:
    sessions = {f"q{n:03d}": 1 for n in range(7)} | {f"p{n:03d}": 2 for n in range(230)} | {"done": 3}
    client = ListingAkool(sessions)
    found = run_sync(client, open_sessions(client))  # type: ignore[arg-type]
    assert set(found) == set(sessions) - {"done"}, "230 processing sessions span three pages"


def test_a_server_with_smaller_pages_is_still_read_to_the_end() -> None:
    # Pages shorter than asked end the listing early only when the count says nothing is left.
    sessions = {f"p{n:03d}": 2 for n in range(120)}
    client = ListingAkool(sessions, max_page=50)
    found = run_sync(client, open_sessions(client))  # type: ignore[arg-type]
    assert set(found) == set(sessions)


def test_the_sweeper_closes_sessions_past_the_first_page() -> None:
    sessions = {f"p{n:03d}": 2 for n in range(150)}
    client = ListingAkool(sessions)
    report = sweep_open_sessions(client, backoff=0)  # type: ignore[arg-type]
    assert len(report.closed) == 150 and set(client.sessions.values()) == {3}


def test_the_book_keeps_the_ledger_in_step_with_the_open_sessions() -> None:
    store = MemoryLedgerStore(["left-by-a-killed-try"])
    ledger = SessionLedger(store, logging.getLogger("test"))
    assert ledger.load() == ["left-by-a-killed-try"]
    book = SessionBook()
    book.track(ledger, ["left-by-a-killed-try"])  # its close could not be confirmed
    book.session_opened("s1")
    assert store.value == ["left-by-a-killed-try", "s1"], "recorded before the session is used"
    book.session_opened("s2")
    book.session_closed("s1")
    assert store.value == ["left-by-a-killed-try", "s2"]
    assert book.opened == ["s1", "s2"] and book.open_ids == ["s2"]
    assert book.add_candidates(["x1", "x1"]) == ["x1"] and book.add_candidates(["x1", "x2"]) == ["x2"]
    assert book.orphan_ids == ["left-by-a-killed-try", "x1", "x2"], "for the sweeper"
    book.session_closed("s2")
    book.finish()
    assert store.value is None, "a successful try deletes its entry: the rest is in XCom"


def test_a_book_without_a_ledger_still_knows_what_is_open() -> None:
    book = SessionBook()
    book.session_opened("s1")
    book.save()
    assert book.open_ids == ["s1"] and book.unclosed == ["s1"] and book.orphan_ids == []
