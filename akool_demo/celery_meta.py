"""What ``make e2e-celery`` reads while the components run: the PostgreSQL metadata DB and the sim's
open sessions over time. Read-only; nothing here changes what Airflow or the sim does."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

DAG_ID = "akool_end_to_end"


class PgMeta:
    """Read-only look at Airflow's metadata DB in PostgreSQL (a new connection per query)."""

    def __init__(self, sqlalchemy_url: str) -> None:
        # postgresql+psycopg2://user@host:port/db -> a libpq URI psycopg2 takes as is
        self.dsn = "postgresql://" + sqlalchemy_url.split("://", 1)[1]

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg2  # type: ignore[import-untyped]  # no stubs in the lock

        try:
            with psycopg2.connect(self.dsn, connect_timeout=5) as db, db.cursor() as cursor:
                cursor.execute(sql, args)
                return list(cursor.fetchall())
        except psycopg2.Error:  # tables not created yet, or a passing fault: ask again on the next poll
            return []

    def dag_parsed(self) -> bool:
        return bool(self.rows("SELECT 1 FROM serialized_dag WHERE dag_id = %s", DAG_ID))

    def run_state(self, run_id: str) -> str | None:
        found = self.rows("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)
        return str(found[0][0]) if found else None

    def task_states(self, run_id: str) -> dict[str, str]:
        found = self.rows(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id
        )
        return {(t if m < 0 else f"{t}[{m}]"): str(s) for t, m, s in found}

    def tries(self, run_id: str) -> list[tuple[str, int, int, str, str]]:
        """(task, map index, try number, hostname, state) of every try: earlier ones from the history table."""
        sql = "SELECT task_id, map_index, try_number, hostname, state FROM {table} WHERE dag_id = %s AND run_id = %s"
        found = self.rows(sql.format(table="task_instance"), DAG_ID, run_id)
        found += self.rows(sql.format(table="task_instance_history"), DAG_ID, run_id)
        return sorted({(str(t), int(m), int(n), str(h or ""), str(s)) for t, m, n, h, s in found})

    def running(self, run_id: str, task_id: str) -> dict[int, str]:
        """map index -> hostname of the running instances of ``task_id``."""
        found = self.rows(
            "SELECT map_index, hostname FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = %s "
            "AND state = 'running'",
            DAG_ID,
            run_id,
            task_id,
        )
        return {int(m): str(h or "") for m, h in found}

    def xcom(self, run_id: str, task_id: str) -> Any:
        found = self.rows(
            "SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s AND key = 'return_value' "
            "AND map_index = -1",
            DAG_ID,
            run_id,
            task_id,
        )
        if not found:
            return None
        value = found[0][0]
        if isinstance(value, (bytes, memoryview)):
            value = bytes(value).decode()
        if isinstance(value, str):
            import json

            value = json.loads(value)
        return value


@dataclass
class OpenSessionSampler:
    """Samples the sim's open sessions (``/_sim/state``) every ``every`` seconds in a thread.

    Keeps the maximum count and, for each session, when it was first and last seen open
    (monotonic seconds), so a caller can tell when a given session was closed.
    """

    sim_url: str
    every: float = 0.2
    samples: int = 0
    peak: int = 0
    first_seen: dict[str, float] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)
    current: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> OpenSessionSampler:
        self._thread = threading.Thread(target=self._loop, name="open-sessions", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        import httpx

        with httpx.Client(timeout=5.0) as http:
            while not self._stop.is_set():
                try:
                    open_now = list(http.get(f"{self.sim_url}/_sim/state").json()["open_sessions"])
                except (httpx.HTTPError, ValueError, KeyError):
                    open_now = None
                if open_now is not None:
                    now = time.monotonic()
                    self.samples += 1
                    self.peak = max(self.peak, len(open_now))
                    for session_id in open_now:
                        self.first_seen.setdefault(session_id, now)
                        self.last_seen[session_id] = now
                    self.current = open_now
                self._stop.wait(self.every)
