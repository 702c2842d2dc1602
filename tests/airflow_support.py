"""Fixtures and helpers for tests that run DAGs with ``dag.test()`` (loaded as a pytest plugin).

``dag.test()`` needs a migrated metadata DB; ``airflow_db`` creates it once per test session in the
throw-away AIRFLOW_HOME set up by conftest. ``run_dag`` must be called from a sync test: inside a
running event loop ``dag.test()`` returns a failed run instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """A freshly migrated sqlite metadata DB for the whole session."""
    from airflow.utils.db import resetdb

    resetdb()
    yield


def load_dag(dag_id: str) -> Any:
    """Parse ``dags/`` and return one DAG, failing on any import error in the folder."""
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, f"DAG import errors: {bag.import_errors}"
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"no DAG {dag_id!r} in {DAGS}; found {sorted(bag.dag_ids)}"
    return dag


def dag_run(dag_id: str, *, conf: dict[str, Any] | None = None) -> Any:
    """Run one DagRun of ``dag_id`` in-process (deferrals run inline) and return the DagRun.

    Bound the time with ``@pytest.mark.timeout(...)`` on the test: a trigger that never fires would
    otherwise hang the run (the defer timeout is not enforced by dag.test()).
    """
    return load_dag(dag_id).test(run_conf=conf)


def run_dag(dag_id: str, *, conf: dict[str, Any] | None = None) -> str:
    """Run one DagRun of ``dag_id`` and return its final state ("success", "failed", ...)."""
    return str(dag_run(dag_id, conf=conf).state)


def task_states(dag_id: str, run_id: str) -> dict[str, str]:
    """Final state of each task instance (map index appended for mapped tasks)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id).all()
        return {(ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state) for ti in rows}


def xcom_value(dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """Deserialised XCom value pushed by a task of a finished run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, map_index=map_index)
            .one_or_none()
        )
        assert row is not None, f"no XCom {key!r} from {task_id!r}"
        return XComModel.deserialize_value(row)


def map_labels(dag_id: str, run_id: str, task_id: str) -> list[str | None]:
    """The label the UI shows for each mapped instance of ``task_id`` (its map index when no
    ``map_index_template`` was rendered), in map-index order."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id).all()
        return [ti.rendered_map_index for ti in sorted(rows, key=lambda ti: ti.map_index)]
