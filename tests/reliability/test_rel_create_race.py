"""A session create that lands after the client gave up on it must not leave a paid session open.

Found by the fault matrix (rate 0.20, seed 7): a ``stall`` fault delays a session create past the
client's read timeout; the client lists the open sessions at once, finds no new one (the create is
still queued at the server), retries and gets a second session; the first create then lands and
that session stays open, unknown to anyone, until its ``duration`` ends (pre-charge not refunded).
Requests that a server handles after the client timed out are ordinary (queues, proxies), and Akool
answers nothing that would let the client match them later.

Fixed in ``sessions/reconcile.py``: an ambiguous attempt stays pending after the retry
succeeds; a bounded poll (``timeout + lost_create_grace`` after it was sent) and a last look when
the runner closes its session find the late session. Seconds after the attempt a lone new session
may as well be a sibling task's, so it is reported as an orphan candidate (XCom), and the DAG's
``all_done`` sweeper closes it once the run's own sessions are done.

Deterministic here: faults only on the create path, seed 1 at rate 0.5 stalls the first create and
not the second (akool-sim's fault RNG is seeded).
"""

from __future__ import annotations

import pytest
from rel_support import AVATAR
from task_support import set_akool_conn

from airflow_provider_akool.client import AkoolClient, ClientConfig
from airflow_provider_akool.sessions import reconcile
from airflow_provider_akool.sessions.drive import run_sync
from airflow_provider_akool.sessions.opening import open_session
from airflow_provider_akool.sessions.reconcile import PendingCreates
from airflow_provider_akool.sim.runner import SimServer

CREATE = "/api/open/v4/liveAvatar/session/create"
STALL = 1.5
CLIENT_TIMEOUT = 0.5
GRACE = 3.0  # the stalled create lands ~1 s after the client's timeout: well inside timeout + grace


def test_a_create_that_lands_after_the_timeout_is_found_and_reported() -> None:
    with SimServer(
        time_scale=1.0, seed=1, fault_rate=0.5, fault_kinds=["stall"], fault_paths=[CREATE], stall_seconds=STALL
    ) as sim:
        config = ClientConfig(
            base_url=sim.url,
            api_key=sim.config.api_key,
            timeout=CLIENT_TIMEOUT,
            lost_create_grace=GRACE,
            backoff_base=0.0,
            max_retry_wait=0.0,
        )
        pending = PendingCreates()
        with AkoolClient(config) as client:
            session = open_session(
                client, avatar_id=AVATAR, duration=600, stream_type="sim", mode_type=1, pending=pending
            )
            creates = [r for r in sim.requests() if r["path"] == CREATE]
            assert [r["fault"] for r in creates] == ["stall", None], "the scenario: first create stalled"
            assert pending.unresolved == 1, "the stalled create had not landed when the client re-listed"
            run_sync(client, reconcile.settle(client, pending))  # the bounded poll
            client.close_session(session.id)
        state = sim.state()
    late = sorted(set(state["open_sessions"]) - {session.id})
    assert pending.leftovers == late and len(late) == 1, (
        f"the create that timed out landed later ({late}); the poll must report it for the sweeper"
    )
    assert pending.unresolved == 1, "a later look cannot tell it from another caller's session: still pending"


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("airflow_db")
def test_a_late_create_in_a_dag_is_closed_by_the_runs_sweeper(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_support import dag_run, task_states, xcom_value

    with SimServer(
        time_scale=20.0, seed=1, fault_rate=0.5, fault_kinds=["stall"], fault_paths=[CREATE], stall_seconds=STALL
    ) as sim:
        set_akool_conn(monkeypatch, sim, timeout=CLIENT_TIMEOUT)
        run = dag_run("akool_retelling_batch", conf={"batches": 1})
        states = task_states("akool_retelling_batch", run.run_id)
        state = sim.state()
        creates = [r for r in sim.requests() if r["path"] == CREATE]
    assert [r["fault"] for r in creates] == ["stall", None], "the scenario: first create stalled"
    assert str(run.state) == "success", states
    assert len(state["sessions"]) == 2, "the stalled create landed: two sessions for one task"
    assert state["open_sessions"] == [], "nothing left open"
    manifest = xcom_value("akool_retelling_batch", run.run_id, "retell", map_index=0)
    (ours,) = manifest["session_ids"]
    (late,) = {s["_id"] for s in state["sessions"]} - {ours}
    pushed = xcom_value("akool_retelling_batch", run.run_id, "retell", key="orphan_candidates", map_index=0)
    assert pushed == [late], "the retelling task reported the late session for the sweeper"
    sweep = xcom_value("akool_retelling_batch", run.run_id, "close_stale_sessions")
    assert [entry["session_id"] for entry in sweep["closed"]] == [late]
    late_session = next(s for s in state["sessions"] if s["_id"] == late)
    assert late_session["ended_by"] == "close" and late_session["refunded"] > 0, late_session
    refunds = [e for e in state["credits"]["entries"] if e["kind"] == "refund" and e["session_id"] == late]
    assert refunds and refunds[0]["amount"] == late_session["refunded"]
