"""The example DAGs as a user meets them in the UI: triggerable with their defaults, documented on
their page (``doc_md``), mapped instances labelled, progress in the visible part of the task log."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from airflow_support import DAGS, dag_run, map_labels, task_states, xcom_value
from task_support import set_akool_conn

from airflow_provider_akool.sim.runner import SimServer


@pytest.fixture(scope="module")
def example_dags() -> dict[str, Any]:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors
    return dict(bag.dags)


def blocked_by_trigger_form(param: Any) -> bool:
    """The trigger form's own check: a field whose schema type does not allow null is required, and
    a required field holding null or "" greys out the Trigger button (with no message)."""
    declared = param.schema.get("type")
    types = declared if isinstance(declared, list) else [declared] if declared else []
    return bool(types) and "null" not in types and param.value in (None, "")


def test_every_example_dag_is_triggerable_with_its_defaults(example_dags: dict[str, Any]) -> None:
    for dag_id, dag in example_dags.items():
        dag.params.validate()  # the schema validation the API runs on a trigger
        blocked = [name for name, param in dag.params.items() if blocked_by_trigger_form(param)]
        assert not blocked, f"{dag_id}: the trigger form refuses the defaults of {blocked}"


def test_the_trigger_form_check_catches_an_empty_required_string() -> None:
    from airflow.sdk import Param

    assert blocked_by_trigger_form(Param("", type="string"))
    assert not blocked_by_trigger_form(Param(None, type=["null", "string"]))


def test_every_example_dag_page_says_what_it_needs_and_how_to_trigger_it(example_dags: dict[str, Any]) -> None:
    for dag_id, dag in example_dags.items():
        doc = dag.doc_md or ""
        assert "**Needs**" in doc and "**Does**" in doc and "**Trigger**" in doc, dag_id
        assert "akool_default" in doc, f"{dag_id}: does not name its Akool connection"
        if "aws_conn_id" in dag.params:
            assert "aws_default" in doc and "bucket" in doc, f"{dag_id}: does not say it needs S3"
        for pool in {t.pool for t in dag.tasks if t.pool != "default_pool"}:
            assert f"airflow pools set {pool}" in doc, f"{dag_id}: does not say how to create the pool {pool}"
        if any(getattr(t, "deferrable", False) for t in dag.tasks):
            assert "triggerer" in doc, f"{dag_id}: does not say it needs a triggerer"


@pytest.mark.timeout(240)
def test_batch_dag_runs_with_its_defaults_labels_batches_and_logs_progress(
    airflow_db: None, akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What the UI's Trigger button does with the defaults: no voice_id, the sample scripts."""
    sim: SimServer = akool_sim_factory(time_scale=20)
    set_akool_conn(monkeypatch, sim, sim_time_scale=sim.config.time_scale, max_retry_wait=None)
    caplog.set_level(logging.INFO, logger="airflow.task")  # the example DAGs log to its children

    run = dag_run("akool_retelling_batch")
    assert str(run.state) == "success", task_states("akool_retelling_batch", run.run_id)

    batches = xcom_value("akool_retelling_batch", run.run_id, "plan_batches")
    assert map_labels("akool_retelling_batch", run.run_id, "retell") == [
        ", ".join(script["id"] for script in batch) for batch in batches
    ]
    assert all(s["voice_id"] in (None, "") for s in sim.state()["sessions"]), "a voice was sent though none was set"
    progress = [r.getMessage() for r in caplog.records if r.name.startswith("airflow.task.")]
    total = sum(len(b) for b in batches)
    assert f"{total}/{total} script(s) spoken" in progress
