"""The Airflow stores of the session ledger: ids that outlive a task try, so the next try closes
what a SIGKILLed try left open. The ledger's interface and logic are in ``sessions/ledger.py``.

Why a separate store: the retelling task pushes each session id to XCom the moment the session
exists, but when a new try of the task instance starts, Airflow deletes every XCom of that task
instance before ``execute`` runs (the execution API's ``ti_run`` answers with ``xcom_keys_to_clear``
and the task runner deletes them, Airflow 3.0-3.3). A try killed with SIGKILL runs no handler, so
its open session's id would exist only in that XCom and be gone before the retry - or the
``all_done`` sweeper after it - could read it.

Why not ``on_retry_callback``: after a SIGKILL Airflow 3 runs failure/retry callbacks only when the
scheduler notices the missing heartbeat (or the executor reports the failure) and sends a callback
request to the DAG processor. That races with the retry's start, does not happen when only the task
process dies (its supervisor reports the failure without callbacks), and never happens under
``airflow dags test`` / ``airflow tasks test``.

So every try writes the ids it has opened and not yet seen closed to a per-task-instance store that
every try of it shares, and each try first closes what earlier tries left there:

- Airflow 3.3+: ``context["task_state_store"]`` (rows keyed by DAG run, task and map index; a retry
  reads the same rows; deleted with the DAG run, or by ``airflow db clean`` after ``RETENTION``);
- Airflow 3.1/3.2: an Airflow Variable named after the task instance (a digest of dag, run, task and
  map index), deleted as soon as every id in it is confirmed closed.

The store is used by every task, with or without ``retries``: a task is also re-run by hand (a
clear starts a new try, which deletes the killed try's XCom just the same). Every try reads it,
whatever its ``try_number``: ``airflow tasks test`` re-runs a task instance without counting a new
try. A try that succeeds deletes the entry: by
then every id in it is closed or in XCom (``session_ids``; earlier tries' unconfirmed ids as
``orphan_candidates``), which is the run's sweeper's job from there.

Only Akool session ids are stored (no credential). The store is best effort: a failed write is logged
and the task goes on, the XCom being still there for the run's sweeper. A failed READ makes the
ledger read-only for the rest of the try (logged): what earlier tries left there is unknown, and
writing this try's ids would overwrite it. An id leaves the store only once confirmed closed (or,
on success, handed to the sweeper through XCom).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_akool._compat import has_task_state_store
from airflow_provider_akool.sessions.ledger import Logger, SessionLedger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_akool.client.config import ClientConfig

__all__ = ["LEDGER_KEY", "close_left_by_earlier_tries", "ledger_for_context"]

LEDGER_KEY = "akool_unclosed_session_ids"
# A session lives at most 3600 s; a retry later than this finds nothing open to close anyway.
RETENTION = timedelta(days=2)
VARIABLE_PREFIX = "akool_unclosed_sessions__"


class _TaskStateStore:
    """``context["task_state_store"]`` (Airflow 3.3+), as a ``sessions.ledger.LedgerStore``."""

    def __init__(self, accessor: Any) -> None:
        self._accessor = accessor

    def get(self) -> Any:
        return self._accessor.get(LEDGER_KEY)

    def set(self, ids: list[str]) -> None:
        self._accessor.set(LEDGER_KEY, ids, retention=RETENTION)

    def delete(self) -> None:
        self._accessor.delete(LEDGER_KEY)


class _VariableStore:
    """One Airflow Variable per task instance (Airflow 3.1/3.2, which have no task state store)."""

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        identity = json.dumps([dag_id, run_id, task_id, map_index])
        self.key = VARIABLE_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:32]
        self._description = (
            f"Akool session ids opened by {dag_id}.{task_id}[{map_index}] in run {run_id} and not yet confirmed "
            "closed (AkoolRetellingSessionOperator; the next try closes them; deleted once all are closed)"
        )

    def get(self) -> Any:
        from airflow.sdk import Variable

        return Variable.get(self.key, default=None, deserialize_json=True)

    def set(self, ids: list[str]) -> None:
        from airflow.sdk import Variable

        Variable.set(self.key, ids, description=self._description, serialize_json=True)

    def delete(self) -> None:
        from airflow.sdk import Variable

        Variable.delete(self.key)


def ledger_for_context(context: Context, log: Logger) -> SessionLedger:
    """The ledger of this task instance: the task state store, else (Airflow < 3.3) a Variable."""
    ti = context["ti"]
    accessor = context.get("task_state_store")
    if accessor is not None:
        return SessionLedger(_TaskStateStore(accessor), log)
    if has_task_state_store():  # 3.3+ but no store in this context (a hand-built one): nothing to use
        return SessionLedger(None, log)
    dag_id, run_id, task_id = (getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id"))
    if not (isinstance(dag_id, str) and isinstance(run_id, str) and isinstance(task_id, str)):
        log.warning("No task instance identity in the context: session ids are not kept across tries")
        return SessionLedger(None, log)
    map_index = getattr(ti, "map_index", None)
    store = _VariableStore(dag_id, run_id, task_id, map_index if isinstance(map_index, int) else -1)
    return SessionLedger(store, log)


def close_left_by_earlier_tries(ledger: SessionLedger, config: ClientConfig, conn_id: str, log: Logger) -> list[str]:
    """``sessions.ledger.close_left_by_earlier_tries`` with the connection's client; an account-level
    error fails the task without retry, naming ``conn_id``."""
    from airflow_provider_akool.client import AkoolClient
    from airflow_provider_akool.fail_fast import fail_fast_on_account_errors
    from airflow_provider_akool.sessions import ledger as session_ledger

    with fail_fast_on_account_errors(conn_id), AkoolClient(config) as client:
        return session_ledger.close_left_by_earlier_tries(ledger, client, log)
