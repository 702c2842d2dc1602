"""Fixtures for the archive operator tests: akool-sim with the default connection (S3: SeaweedFS, from s3_support)."""

from __future__ import annotations

import pytest

from airflow_provider_akool.sim.runner import SimServer


@pytest.fixture
def sim(akool_sim: SimServer, akool_sim_conn: str) -> SimServer:
    """akool-sim (time scale 1000) with the ``akool_default`` connection pointing at it."""
    return akool_sim
