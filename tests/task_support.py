"""What Airflow hands a task, faked once for every test: a task instance, a task context, and an
``akool`` connection pointing at akool-sim (or at a mocked base URL).

Kept free of Airflow imports at module level so subprocess helpers (the chaos harness) can use the
connection builder cheaply.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from airflow_provider_akool.sim.runner import SimServer


class FakeTI:
    """Just enough of a RuntimeTaskInstance for ``execute()``.

    Identity (dag_id, task_id, run_id, map_index, try_number); XCom pushes are checked to be
    JSON-serialisable, as real XCom requires, and recorded in order in ``pushed``. ``on_push`` runs
    after each push (e.g. to act while the task is still running) and ``pushed_event`` is set by it.
    ``xcom_pull`` answers through ``pull`` (None without one) and records each call in ``pulls``.
    """

    def __init__(
        self,
        *,
        dag_id: str = "test_dag",
        task_id: str = "task",
        run_id: str = "manual__2026-01-01",
        map_index: int = -1,
        try_number: int = 1,
        on_push: Callable[[str, Any], None] | None = None,
        pull: Callable[..., Any] | None = None,
    ) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = dag_id, task_id, run_id, map_index
        self.try_number = try_number
        self.pushed: list[tuple[str, Any]] = []
        self.pushed_event = threading.Event()
        self.pulls: list[dict[str, Any]] = []
        self._on_push = on_push
        self._pull = pull

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serialisable
        self.pushed.append((key, value))
        if self._on_push is not None:
            self._on_push(key, value)
        self.pushed_event.set()

    def xcom(self, key: str) -> Any:
        """The last value pushed under ``key`` (None if none was)."""
        values = [v for k, v in self.pushed if k == key]
        return values[-1] if values else None

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", **kwargs: Any) -> Any:
        self.pulls.append({"task_ids": task_ids, "key": key, **kwargs})
        return None if self._pull is None else self._pull(task_ids=task_ids, key=key, **kwargs)

    def get_first_reschedule_date(self, context: Any) -> None:
        return None


def make_context(
    params: dict[str, Any] | None = None,
    *,
    ti: FakeTI | None = None,
    run_started: datetime | None = None,
    run_type: str | None = None,
    **ti_fields: Any,
) -> dict[str, Any]:
    """A task context with what the provider's tasks read: ti, params, outlet events and dag_run.

    ``ti_fields`` build a new FakeTI; pass ``ti`` instead to keep a handle on one made beforehand.
    """
    from airflow.sdk.execution_time.context import OutletEventAccessors

    if ti is not None and ti_fields:
        raise TypeError("give either ti or FakeTI fields, not both")
    return {
        "ti": ti if ti is not None else FakeTI(**ti_fields),
        "params": dict(params or {}),
        "outlet_events": OutletEventAccessors(),
        "dag_run": SimpleNamespace(start_date=run_started or datetime.now(UTC), run_type=run_type),
    }


def akool_conn(
    target: SimServer | str,
    *,
    api_key: str | None = None,
    token_mode: bool = False,
    stream_type: str | None = "sim",
    max_retry_wait: float | None = 0.05,
    **extra: Any,
) -> dict[str, Any]:
    """An ``akool`` connection (the dict behind ``AIRFLOW_CONN_*`` JSON) at akool-sim or a base URL.

    x-api-key by default (the sim's key unless ``api_key`` is given); with ``token_mode`` the sim's
    clientId and secret (or ``api_key`` as the secret) for getToken. ``max_retry_wait`` keeps retry
    waits short so tests stay fast; ``None`` for it or ``stream_type`` leaves that extra out.
    Further ``extra`` keyword arguments become connection extras.
    """
    fields: dict[str, Any]
    if isinstance(target, str):
        if api_key is None or token_mode:
            raise ValueError("a connection to a base URL needs api_key and no token_mode")
        host, fields = target, {"password": api_key}
    elif token_mode:
        host = target.url
        fields = {"login": target.config.client_id, "password": api_key or target.config.client_secret}
    else:
        host = target.url
        fields = {"password": api_key if api_key is not None else target.config.api_key}
    defaults = {"stream_type": stream_type, "max_retry_wait": max_retry_wait}
    extras = {**{k: v for k, v in defaults.items() if v is not None}, **extra}
    conn: dict[str, Any] = {"conn_type": "akool", "host": host, **fields}
    if extras:
        conn["extra"] = extras
    return conn


def akool_conn_json(target: SimServer | str, **kwargs: Any) -> str:
    """``akool_conn`` as the JSON an ``AIRFLOW_CONN_*`` variable holds (e.g. for a subprocess)."""
    return json.dumps(akool_conn(target, **kwargs))


def set_akool_conn(
    monkeypatch: pytest.MonkeyPatch, target: SimServer | str, conn_id: str = "akool_default", **kwargs: Any
) -> str:
    """Point ``conn_id`` at ``target`` for this test (see ``akool_conn``); returns ``conn_id``."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", akool_conn_json(target, **kwargs))
    return conn_id
