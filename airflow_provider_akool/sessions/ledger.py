"""The ids of sessions a task instance opened (in any try) and has not confirmed closed.

A try killed with SIGKILL runs no handler: the ids of the sessions it had open must outlive it, so
that the next try closes them first. Where they are kept is a :class:`LedgerStore` (in Airflow: the
task state store, or a Variable before 3.3, ``operators/_session_ledger.py``; in a plain script a
:class:`MemoryLedgerStore` or a file of your own). :class:`SessionLedger` is the logic around it:
best effort (a failed write is logged, the task goes on), and a failed READ makes it read-only for
the rest of the try - what earlier tries left is unknown, and writing would overwrite it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_akool.client.errors import ACCOUNT_ERRORS, AkoolError
from airflow_provider_akool.sessions.sweep import sweep_open_sessions

if TYPE_CHECKING:
    from airflow_provider_akool.client import AkoolClient

__all__ = ["LedgerStore", "Logger", "MemoryLedgerStore", "SessionLedger", "close_left_by_earlier_tries"]


class Logger(Protocol):
    """What is used of a logger (Airflow's structlog task logger or a stdlib one)."""

    def info(self, msg: str, /, *args: Any) -> Any: ...

    def warning(self, msg: str, /, *args: Any) -> Any: ...

    def error(self, msg: str, /, *args: Any) -> Any: ...


class LedgerStore(Protocol):
    """One task instance's entry: a list of session ids that every try of it reads and writes."""

    def get(self) -> Any:
        """The stored value (a list of ids), None when there is no entry."""

    def set(self, ids: list[str]) -> None:
        """Replace the entry with ``ids``."""

    def delete(self) -> None:
        """Remove the entry."""


class MemoryLedgerStore:
    """A store in memory: for plain scripts that run the tries themselves, and for tests."""

    def __init__(self, ids: list[str] | None = None) -> None:
        self.value: list[str] | None = ids

    def get(self) -> Any:
        return None if self.value is None else list(self.value)

    def set(self, ids: list[str]) -> None:
        self.value = list(ids)

    def delete(self) -> None:
        self.value = None


class SessionLedger:
    """The unclosed session ids of one task instance, kept in ``store`` (None: not kept)."""

    def __init__(self, store: LedgerStore | None, log: Logger) -> None:
        self._store = store
        self._log = log
        self._read_only = False  # the store could not be read: never overwrite what it holds
        self._saved: list[str] = []

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
                type(exc).__name__,
                exc,
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
        """The try succeeded: delete the entry (what it still holds was handed on, e.g. to the sweeper)."""
        if self._store is None or self._read_only or not self._saved:
            return
        self._log.info("Leaving session(s) %s to the run's sweeper (in XCom); store entry deleted", self._saved)
        self.save([])


def close_left_by_earlier_tries(ledger: SessionLedger, client: AkoolClient, log: Logger) -> list[str]:
    """Close the sessions earlier tries of this task instance left open; return the ids still unconfirmed.

    Akool's list of open sessions (status 1/2) is read first: ids not in it were closed already (or
    ended by their duration) and are only reported. An account-level error propagates (a retry
    cannot fix it); any other Akool error leaves every id unconfirmed, for the caller to hand on.
    """
    previous = ledger.load()
    if not previous:
        return []
    log.warning("An earlier try of this task left %d session(s) not confirmed closed: %s", len(previous), previous)
    try:
        report = sweep_open_sessions(client, only_ids=previous)
    except ACCOUNT_ERRORS:
        raise
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
