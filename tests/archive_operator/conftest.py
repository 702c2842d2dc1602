"""Fixtures for the archive operator tests: a moto S3 server behind an Airflow AWS connection, akool-sim."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from airflow_provider_akool.sim.runner import SimServer

AWS_CONN_ID = "aws_archive_test"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"akool-op-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def aws_conn(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow AWS connection (used through S3Hook) pointing at the moto server."""
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(conn))
    return AWS_CONN_ID


@pytest.fixture
def sim(akool_sim: SimServer, akool_sim_conn: str) -> SimServer:
    """akool-sim (time scale 1000) with the ``akool_default`` connection pointing at it."""
    return akool_sim
