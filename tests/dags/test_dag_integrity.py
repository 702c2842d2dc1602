"""Every example DAG imports cleanly and touches neither connections nor the API while parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_akool.sim.runner import SimServer

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_dags_parse_without_errors_or_api_calls(akool_sim: SimServer, akool_sim_conn: str) -> None:
    from airflow.models import DagBag

    akool_sim.clear_requests()
    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors
    assert bag.dag_ids, "no DAGs found"
    assert akool_sim.requests() == [], "a DAG file called the API while being parsed"


@pytest.mark.parametrize("path", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_dag_files_do_not_import_heavy_modules_at_top(path: Path) -> None:
    """Parse-time imports stay light: client/streaming/archive load inside tasks only."""
    import ast

    heavy = ("airflow_provider_akool.client", "airflow_provider_akool.streaming", "airflow_provider_akool.archive")
    tree = ast.parse(path.read_text())
    for node in tree.body:  # module level only
        if isinstance(node, ast.ImportFrom) and node.module:
            assert not node.module.startswith(heavy), f"{path.name} imports {node.module} at module level"
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith(heavy), f"{path.name} imports {alias.name} at module level"
