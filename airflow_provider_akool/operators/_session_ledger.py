"""Session ids that outlive a task try, so the next try closes what a SIGKILLed try left open.

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
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_akool._compat import has_task_state_store

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_akool.client.config import ClientConfig

__all__ = ["LEDGER_KEY", "SessionLedger", "close_left_by_earlier_tries"]

LEDGER_KEY = "akool_unclosed_session_ids"
# A session lives at most 3600 s; a retry later than this finds nothing open to close anyway.
RETENTION = timedelta(days=2)
VARIABLE_PREFIX = "akool_unclosed_sessions__"


class Logger(Protocol):
    """What is used of a task's logger (Airflow's structlog logger or a stdlib one)."""

    def info(self, msg: str, /, *args: Any) -> Any: ...

    def warning(self, msg: str, /, *args: Any) -> Any: ...

    def error(self, msg: str, /, *args: Any) -> Any: ...


class _Store(Protocol):
    def get(self) -> Any: ...

    def set(self, ids: list[str]) -> None: ...

    def delete(self) -> None: ...


class _TaskStateStore:
    """``context["task_state_store"]`` (Airflow 3.3+)."""

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


class SessionLedger:
    """The ids of sessions this task instance opened (in any try) and has not confirmed closed."""

    def __init__(self, store: _Store | None, log: Logger) -> None:
        self._store = store
        self._log = log
        self._read_only = False  # the store could not be read: never overwrite what it holds
        self._saved: list[str] = []

    @classmethod
    def for_context(cls, context: Context, log: Logger) -> SessionLedger:
        """The store of this task instance: the task state store, else (Airflow < 3.3) a Variable."""
        ti = context["ti"]
        accessor = context.get("task_state_store")
        if accessor is not None:
            return cls(_TaskStateStore(accessor), log)
        if has_task_state_store():  # 3.3+ but no store in this context (a hand-built one): nothing to use
            return cls(None, log)
        dag_id, run_id, task_id = (getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id"))
        if not (isinstance(dag_id, str) and isinstance(run_id, str) and isinstance(task_id, str)):
            log.warning("No task instance identity in the context: session ids are not kept across tries")
            return cls(None, log)
        map_index = getattr(ti, "map_index", None)
        store = _VariableStore(dag_id, run_id, task_id, map_index if isinstance(map_index, int) else -1)
        return cls(store, log)

    @property
    def read_only(self) -> bool:
        """True once a read failed: this try writes nothing to the store."""
        return self._read_only

    def load(self) -> list[str]:
        """Ids earlier tries left (empty when there were none, or when unreadable)."""
        if self._store is None:
            return []
        try:
            value = self._store.get()
        except Exception as exc:
            self._read_only = True
            self._log.warning(
                "Could not read the session ids of earlier tries (%s): %s; not recording this try's session ids "
                "either, so as not to overwrite theirs (its ids are in XCom for the run's sweeper)",
                type(exc).__name__, exc,
            )
            return []
        ids = [str(v) for v in value if isinstance(v, str) and v] if isinstance(value, list) else []
        self._saved = ids
        return list(ids)

    def save(self, ids: Iterable[str]) -> None:
        """Record ``ids`` as the unclosed sessions of this task instance (an empty list deletes the entry)."""
        wanted = list(dict.fromkeys(ids))
        if self._store is None or self._read_only or wanted == self._saved:
            return
        try:
            if wanted:
                self._store.set(wanted)
            else:
                self._store.delete()
        except Exception as exc:
            self._log.warning("Could not record the open session ids %s (%s): %s", wanted, type(exc).__name__, exc)
            return
        self._saved = wanted

    def finish(self) -> None:
        """The try succeeded: delete the entry (what it still holds is in XCom, the sweeper's now)."""
        if self._store is None or self._read_only or not self._saved:
            return
        self._log.info("Leaving session(s) %s to the run's sweeper (in XCom); store entry deleted", self._saved)
        self.save([])


def close_left_by_earlier_tries(ledger: SessionLedger, config: ClientConfig, conn_id: str, log: Logger) -> list[str]:
    """Close the sessions earlier tries of this task instance left open; return the ids still unconfirmed.

    Akool's list of open sessions (status 1/2) is read first: ids not in it were closed already (or
    ended by their duration) and are only reported. An account-level error fails the task (no retry);
    any other Akool error leaves every id unconfirmed, for the caller to hand to the sweeper.
    """
    previous = ledger.load()
    if not previous:
        return []
    from airflow_provider_akool.client import AkoolClient, AkoolError
    from airflow_provider_akool.fail_fast import fail_fast_on_account_errors
    from airflow_provider_akool.streaming.sweep import sweep_open_sessions

    log.warning("An earlier try of this task left %d session(s) not confirmed closed: %s", len(previous), previous)
    try:
        with fail_fast_on_account_errors(conn_id), AkoolClient(config) as client:
            report = sweep_open_sessions(client, only_ids=previous)
    except AkoolError as exc:
        log.error("Could not check the sessions of earlier tries (%s); leaving them to the sweeper", exc)
        return previous
    for entry in report.closed:
        log.warning("Closed session %s left open by an earlier try (status %s)", entry["session_id"], entry["status"])
    left = [entry["session_id"] for entry in report.failed]
    for entry in report.failed:
        log.error("Could not close session %s left by an earlier try: %s", entry["session_id"], entry.get("reason"))
    done = len(previous) - report.considered
    if done:
        log.info("%d session(s) of earlier tries were closed already (or ended)", done)
    ledger.save(left)
    return left
