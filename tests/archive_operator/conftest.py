"""Fixtures for the archive operator tests: akool-sim with the default connection (S3: SeaweedFS, from s3_support)."""

from __future__ import annotations

import pytest
from s3_support import S3Server

from airflow_provider_akool.sim.runner import SimServer


@pytest.fixture
def sim(akool_sim: SimServer, akool_sim_conn: str) -> SimServer:
    """akool-sim (time scale 1000) with the ``akool_default`` connection pointing at it."""
    return akool_sim


@pytest.fixture(scope="session")
def s3_server(seaweed_server: S3Server) -> S3Server:
    """These tests run against a real S3 server (SeaweedFS), one for the session."""
    return seaweed_server
