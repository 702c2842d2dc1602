"""Session ids outlive a try: the next try closes what a killed try left open (finding 2).

The chaos tests in ``tests/reliability/test_rel_kill.py`` do it with a real SIGKILL and Airflow's
own task state store; these run the operator with a stand-in store, against akool-sim.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from session_support import AVATAR, session_of
from task_support import FakeTI, make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowException, AirflowFailException
from airflow_provider_akool.client import AkoolClient, AkoolTransientError, ClientConfig
from airflow_provider_akool.operators import _session_ledger
from airflow_provider_akool.operators._session_ledger import LEDGER_KEY, VARIABLE_PREFIX, ledger_for_context
from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
from airflow_provider_akool.operators.sweeper import AkoolCloseStaleSessionsOperator
from airflow_provider_akool.sessions.ledger import SessionLedger
from airflow_provider_akool.sim.runner import SimServer

pytestmark = pytest.mark.timeout(60)

CLOSE = "/api/open/v4/liveAvatar/session/close"


class FakeStateStore:
    """Stands in for ``context["task_state_store"]`` (Airflow 3.3+), recording every call."""

    def __init__(self, initial: list[str] | None = None, *, broken: bool = False, unreadable: bool = False) -> None:
        self.values: dict[str, Any] = {LEDGER_KEY: initial} if initial else {}
        self.calls: list[tuple[str, Any]] = []
        self.reads = 0
        self.broken = broken
        self.unreadable = unreadable  # reads fail, writes work (a transient fault at the wrong moment)

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        if self.broken or self.unreadable:
            raise RuntimeError("state store unavailable")
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if self.broken:
            raise RuntimeError("state store unavailable")
        json.dumps(value)
        self.calls.append(("set", list(value)))
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.calls.append(("delete", None))
        self.values.pop(key, None)


@pytest.fixture
def sim(akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    server: SimServer = akool_sim_factory(time_scale=10)  # a 600 s session lives 60 s: open during a test
    server.set_channel(join_delay_seconds=0)
    set_akool_conn(monkeypatch, server)
    return server


def sim_client(sim: SimServer) -> AkoolClient:
    return AkoolClient(ClientConfig(base_url=sim.url, api_key=sim.config.api_key))


def open_session(sim: SimServer) -> str:
    with sim_client(sim) as client:
        return client.create_session(avatar_id=AVATAR, duration=600, stream_type="sim").id


def retell(store: FakeStateStore, ti: FakeTI | None = None, *, try_number: int = 2, **kwargs: Any) -> dict[str, Any]:
    """A retry (try 2) of a task with retries, unless told otherwise."""
    kwargs.setdefault("retries", 2)
    op = AkoolRetellingSessionOperator(
        task_id="retell", avatar_id=AVATAR, scripts=["A short line."], duration=600, **kwargs
    )
    context = make_context(ti=ti) if ti is not None else make_context()
    context["ti"].try_number = try_number
    context["task_state_store"] = store
    result: dict[str, Any] = op.execute(context)
    return result


def closes_of(sim: SimServer, session_id: str) -> int:
    return sum(1 for r in sim.requests() if r["path"] == CLOSE and session_id in json.dumps(r.get("body")))


def test_the_next_try_closes_what_a_killed_try_left_before_opening_its_own(sim: SimServer) -> None:
    orphan = open_session(sim)  # what a SIGKILLed try left: open, its id in the store
    ended = open_session(sim)
    with sim_client(sim) as client:
        client.close_session(ended)  # closed already (e.g. by the run's sweeper): only reported
    store = FakeStateStore([orphan, ended])
    ti = FakeTI()

    manifest = retell(store, ti)

    assert manifest["status"] == "completed"
    closed = session_of(sim, orphan)
    assert closed["ended_by"] == "close" and closed["refunded"] > 0
    [new] = manifest["session_ids"]
    assert session_of(sim, new)["opened_at"] >= closed["closed_at"], "closed before the new session opened"
    assert closes_of(sim, ended) == 1, "a session already closed is not closed again"
    assert ti.xcom("orphan_candidates") is None, "everything was confirmed closed"
    # The store followed the sessions: the earlier ids dropped once checked, the new one recorded while
    # open, and the entry deleted once it was closed.
    assert store.calls == [("delete", None), ("set", [new]), ("delete", None)]
    assert LEDGER_KEY not in store.values
    assert sim.state()["open_sessions"] == []


def test_earlier_ids_that_cannot_be_checked_go_to_the_sweeper_and_stay_recorded(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_akool.sessions import ledger as session_ledger

    orphan = open_session(sim)

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise AkoolTransientError("session list unreachable", http_status=503)

    monkeypatch.setattr(session_ledger, "sweep_open_sessions", unreachable)
    store = FakeStateStore([orphan])
    ti = FakeTI()
    manifest = retell(store, ti)

    assert manifest["status"] == "completed", "the new try still does its work"
    assert ti.xcom("orphan_candidates") == [orphan], "handed to the run's sweeper"
    assert session_of(sim, orphan)["closed_at"] is None
    # Kept while the try ran (a later try would need it), deleted once the try succeeded: the id is
    # in XCom, the sweeper's now.
    [new] = manifest["session_ids"]
    assert store.calls == [("set", [orphan, new]), ("set", [orphan]), ("delete", None)]
    assert LEDGER_KEY not in store.values


def test_a_failed_read_never_overwrites_what_earlier_tries_left(sim: SimServer) -> None:
    orphan = open_session(sim)
    store = FakeStateStore([orphan], unreadable=True)
    manifest = retell(store)
    assert manifest["status"] == "completed"
    assert store.calls == [], "read-only for the whole try: no set, no delete"
    assert store.values[LEDGER_KEY] == [orphan], "the earlier try's orphan is still there for the next try"

    log = logging.getLogger("test")
    unreadable = FakeStateStore(["left1"], unreadable=True)
    ledger = SessionLedger(_session_ledger._TaskStateStore(unreadable), log)
    assert ledger.load() == [] and ledger.read_only
    ledger.save(["mine"])
    ledger.save([])
    ledger.finish()
    assert unreadable.calls == [] and unreadable.values[LEDGER_KEY] == ["left1"]


def test_a_failed_write_keeps_the_earlier_ids_and_is_retried_on_the_next_save() -> None:
    store = FakeStateStore(["left1"])
    ledger = SessionLedger(_session_ledger._TaskStateStore(store), logging.getLogger("test"))
    assert ledger.load() == ["left1"]
    store.broken = True
    ledger.save(["left1", "mine"])
    store.broken = False
    assert store.values[LEDGER_KEY] == ["left1"]
    ledger.save(["left1", "mine"])
    assert store.values[LEDGER_KEY] == ["left1", "mine"]


def test_without_retries_a_try_started_by_a_clear_still_closes_the_killed_trys_session(sim: SimServer) -> None:
    # retries=0, but the user clears the SIGKILLed task: the new try (try_number 2) must close what it left.
    left = open_session(sim)
    store = FakeStateStore([left])
    manifest = retell(store, retries=0)
    assert manifest["status"] == "completed"
    assert session_of(sim, left)["status"] == 3, "closed before the new session opened"
    assert store.reads == 1


def test_a_rerun_that_keeps_try_number_1_still_closes_what_was_left(sim: SimServer) -> None:
    # `airflow tasks test` re-runs a killed task instance without counting a new try.
    left = open_session(sim)
    store = FakeStateStore([left])
    manifest = retell(store, try_number=1)
    assert manifest["status"] == "completed"
    [new] = manifest["session_ids"]
    assert session_of(sim, left)["status"] == 3
    assert store.calls[-2:] == [("set", [new]), ("delete", None)], "records its own sessions, deletes on success"


def test_a_successful_try_deletes_the_entry_of_sessions_it_could_not_close() -> None:
    store = FakeStateStore()
    ledger = SessionLedger(_session_ledger._TaskStateStore(store), logging.getLogger("test"))
    assert ledger.load() == [] and store.reads == 1
    ledger.save(["stuck"])  # its close failed: the id is in XCom (session_ids) for the sweeper
    ledger.finish()
    assert store.calls == [("set", ["stuck"]), ("delete", None)] and LEDGER_KEY not in store.values


def test_a_wrong_key_while_closing_earlier_sessions_fails_without_retry(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = open_session(sim)
    set_akool_conn(monkeypatch, sim, "akool_ledger", api_key="wrong-key-ledger-0123456789", max_retry_wait=None)
    with pytest.raises(AirflowFailException) as caught:
        retell(FakeStateStore([orphan]), akool_conn_id="akool_ledger")
    assert "akool_conn_id 'akool_ledger'" in str(caught.value) and "wrong-key" not in str(caught.value)
    assert len(sim.state()["sessions"]) == 1, "no new session"


def test_a_broken_store_does_not_fail_the_task(sim: SimServer) -> None:
    manifest = retell(FakeStateStore(broken=True))
    assert manifest["status"] == "completed"


def test_without_a_store_in_the_context_nothing_is_recorded(sim: SimServer) -> None:
    op = AkoolRetellingSessionOperator(task_id="retell", avatar_id=AVATAR, scripts=["A short line."], duration=600)
    assert op.execute(make_context())["status"] == "completed"


class FakeVariable:
    """Stands in for ``airflow.sdk.Variable`` (the store before Airflow 3.3)."""

    values: dict[str, Any] = {}
    descriptions: dict[str, str | None] = {}

    @classmethod
    def get(cls, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
        raw = cls.values.get(key)
        if raw is None:
            return default
        return json.loads(raw) if deserialize_json else raw

    @classmethod
    def set(cls, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        cls.values[key] = json.dumps(value) if serialize_json else value
        cls.descriptions[key] = description

    @classmethod
    def delete(cls, key: str) -> None:
        cls.values.pop(key, None)


def identity(map_index: int) -> dict[str, Any]:
    """The context of one map index of ``retelling_dag.retell`` in one run."""
    return make_context(
        dag_id="retelling_dag", task_id="retell", run_id="manual__2026-01-01T00:00:00+00:00", map_index=map_index
    )


def test_before_airflow_3_3_the_ids_live_in_a_variable_per_task_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.sdk

    monkeypatch.setattr(_session_ledger, "has_task_state_store", lambda: False)
    monkeypatch.setattr(airflow.sdk, "Variable", FakeVariable)
    monkeypatch.setattr(FakeVariable, "values", {})
    log = logging.getLogger("test")

    first = ledger_for_context(identity(0), log)
    first.save(["s1", "s2"])
    [key] = FakeVariable.values
    assert key.startswith(VARIABLE_PREFIX) and len(key) < 250
    assert "retelling_dag.retell[0]" in str(FakeVariable.descriptions[key]), "readable in the Variables list"

    retry = ledger_for_context(identity(0), log)
    assert retry.load() == ["s1", "s2"], "the same task instance finds them"
    other = ledger_for_context(identity(1), log)
    assert other.load() == [], "another map index has its own entry"
    retry.save([])
    assert FakeVariable.values == {}, "deleted once every id is closed"

    ledger = ledger_for_context(identity(0), log)
    assert ledger.load() == []
    ledger.save(["s4"])
    ledger.finish()
    assert FakeVariable.values == {}, "deleted by the successful try"


def pulling_ti(prior: dict[str, Any], current: dict[str, Any] | None = None) -> FakeTI:
    """A sweeper's task instance reading XCom of ``retell`` over runs: ``prior`` by key for earlier
    runs, ``current`` by key for this one. The sweeps here all succeed, so nothing is pushed."""
    now = current or {}

    def pull(task_ids: Any, key: str, **kwargs: Any) -> Any:
        mine = now.get(key)
        if not kwargs.get("include_prior_dates"):
            return None if mine is None else [mine]
        # what Airflow returns for a mapped task over several runs: one list per map index and run,
        # this run's included
        return [*prior.get(key, []), *([mine] if mine is not None else [])]

    def nothing_failed(key: str, value: Any) -> None:
        raise AssertionError(f"nothing failed, yet {key!r} was pushed")

    return FakeTI(pull=pull, on_push=nothing_failed)


def prior_sweep(ti: FakeTI, run_type: str = "scheduled", **kwargs: Any) -> dict[str, Any]:
    op = AkoolCloseStaleSessionsOperator(
        task_id="close_prior_sessions", from_task_ids=["retell"], include_prior_runs=True, **kwargs
    )
    result: dict[str, Any] = op.execute(make_context(ti=ti, run_type=run_type))
    return result


def test_the_sweeper_reads_earlier_runs_only_when_asked(sim: SimServer) -> None:
    orphan = open_session(sim)
    ti = pulling_ti({"session_ids": [[orphan], ["closedLongAgo1", "closedLongAgo2"]]})
    report = prior_sweep(ti)
    prior_pulls = [p for p in ti.pulls if p["include_prior_dates"]]
    assert {p["key"] for p in prior_pulls} == {"session_ids"}, "orphan candidates are not read from earlier runs"
    assert [e["session_id"] for e in report["closed"]] == [orphan]
    assert report["known"] == 3 and report["not_open"] == 2, "closed ones are only counted"
    assert session_of(sim, orphan)["ended_by"] == "close"

    ti = pulling_ti({"session_ids": [["x"]]})
    report = AkoolCloseStaleSessionsOperator(task_id="close_stale_sessions", from_task_ids=["retell"]).execute(
        make_context(ti=ti)
    )
    assert all(p["include_prior_dates"] is False for p in ti.pulls) and report["known"] == 0
    assert {p["key"] for p in ti.pulls} == {"session_ids", "orphan_candidates"}


def test_earlier_runs_orphan_candidates_are_left_alone_unless_asked(sim: SimServer) -> None:
    candidate = open_session(sim)  # maybe another DAG's live session
    ti = pulling_ti({"orphan_candidates": [[candidate]]})
    assert prior_sweep(ti)["known"] == 0
    assert session_of(sim, candidate)["closed_at"] is None

    report = prior_sweep(ti, xcom_keys=("session_ids", "orphan_candidates"))
    assert [e["session_id"] for e in report["closed"]] == [candidate], "opted in"


def test_the_current_runs_sessions_are_not_closed_by_the_prior_run_sweep(sim: SimServer) -> None:
    live = open_session(sim)  # this run's retell is speaking (close_prior_sessions cleared alone)
    carried = open_session(sim)  # this run's retell handed it to its own sweeper
    earlier = open_session(sim)
    ti = pulling_ti({"session_ids": [[earlier]]}, current={"session_ids": [live], "orphan_candidates": [carried]})
    report = prior_sweep(ti)
    assert [e["session_id"] for e in report["closed"]] == [earlier]
    assert session_of(sim, live)["closed_at"] is None and session_of(sim, carried)["closed_at"] is None
    assert report["known"] == 1


def test_a_backfill_run_does_not_close_earlier_runs_sessions(sim: SimServer) -> None:
    earlier = open_session(sim)
    ti = pulling_ti({"session_ids": [[earlier]]})
    report = prior_sweep(ti, run_type="backfill")
    assert report["known"] == 0 and report["closed"] == [] and ti.pulls == []
    assert session_of(sim, earlier)["closed_at"] is None

    from airflow.utils.types import DagRunType

    assert prior_sweep(ti, run_type=DagRunType.BACKFILL_JOB)["known"] == 0, "the enum as Airflow gives it"


def test_an_account_error_while_closing_fails_the_sweeper_without_retry(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_akool.client import AkoolAuthError
    from airflow_provider_akool.client.calls import Call
    from airflow_provider_akool.sessions.sweep import sweep_open_sessions

    orphan = open_session(sim)
    closes: list[str] = []

    send = AkoolClient.send

    def revoked(self: AkoolClient, call: Call) -> Any:
        if call.name != "session.close":
            return send(self, call)
        closes.append((call.json or {})["id"])
        raise AkoolAuthError("key revoked", code=1101, endpoint=CLOSE)

    monkeypatch.setattr(AkoolClient, "send", revoked)
    with sim_client(sim) as client, pytest.raises(AkoolAuthError):
        sweep_open_sessions(client, only_ids=[orphan])
    assert closes == [orphan], "not retried: the account is the problem"
    with pytest.raises(AirflowException) as caught:
        AkoolCloseStaleSessionsOperator(task_id="sweep", session_ids=[orphan]).execute(make_context())
    assert type(caught.value) is AirflowFailException
    assert "akool_conn_id 'akool_default'" in str(caught.value)


def test_the_sweeper_fails_without_retry_on_a_wrong_key(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_akool_conn(
        monkeypatch, sim, "akool_sweep", api_key="wrong-key-sweeper-0123456789", stream_type=None, max_retry_wait=None
    )
    with pytest.raises(AirflowException) as caught:
        AkoolCloseStaleSessionsOperator(task_id="sweep", akool_conn_id="akool_sweep").execute(make_context())
    assert type(caught.value) is AirflowFailException
    assert "akool_conn_id 'akool_sweep'" in str(caught.value) and "1101" in str(caught.value)
    assert "wrong-key" not in str(caught.value)
