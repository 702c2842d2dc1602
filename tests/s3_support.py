"""S3 for tests (loaded as a pytest plugin): a fresh bucket per test, an S3 call counter, and an
Airflow AWS connection, on the S3 server that ``s3_server`` names.

``s3_server`` is moto by default (one server per session). A directory whose tests should run on
a real S3 server overrides it in its conftest with ``seaweed_server``: one SeaweedFS per session,
started on first use and stopped by PID at the end (tests/archive and tests/archive_operator).
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from airflow_provider_akool.demo_support import seaweedfs
from airflow_provider_akool.demo_support.seaweedfs import SeaweedS3

AWS_CONN_ID = "aws_archive_test"


@dataclass(frozen=True)
class S3Server:
    """Where an S3 server answers, and the credentials it accepts."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def client(self, **config: Any) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(**{"max_pool_connections": 32, "retries": {"max_attempts": 2}, **config}),
        )


class _WeedFlags:
    """Stands in for ``subprocess`` inside ``seaweedfs.py`` while it starts weed, adding flags.

    Workaround until the launcher passes them: weed derives the S3 gRPC port as S3 port + 10000
    (invalid above 55535) and binds fixed ports for its Iceberg (8181) and Lance (9101)
    listeners, so a second weed on the machine (another test run, the demo) fails to start.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            grpc_port = sock.getsockname()[1]
        flags = [f"-s3.port.grpc={grpc_port}", "-s3.port.iceberg=0", "-s3.port.lance=0"]
        return subprocess.Popen([*command, *flags], **kwargs)


def start_seaweed(workdir: Path) -> SeaweedS3:
    """``SeaweedS3.start`` with the flags of :class:`_WeedFlags`."""
    with mock.patch.object(seaweedfs, "subprocess", _WeedFlags()):
        return SeaweedS3.start(workdir)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with a free port, for the whole session."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server on 127.0.0.1 for the whole session, stopped by PID (SIGKILL)."""
    with start_seaweed(tmp_path_factory.mktemp("seaweedfs")) as weed:
        credentials = weed.boto3_credentials()
        yield S3Server(
            weed.endpoint_url,
            credentials["aws_access_key_id"],
            credentials["aws_secret_access_key"],
            credentials["region_name"],
        )


@pytest.fixture(scope="session")
def s3_server(moto_endpoint: str) -> S3Server:
    """The S3 server of the tests here: moto, unless a conftest overrides it."""
    return S3Server(moto_endpoint, "testing", "testing")


@pytest.fixture
def s3(s3_server: S3Server) -> Any:
    return s3_server.client()


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    """A fresh bucket, emptied and deleted after the test.

    Deleting matters on SeaweedFS: each bucket is a collection with volumes of its own, and the
    server runs out of free volumes after a few dozen buckets.
    """
    name = f"archive-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(s3, name)


def empty_and_delete_bucket(s3: Any, name: str) -> None:
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def aws_conn(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow AWS connection (used through S3Hook) pointing at ``s3_server``."""
    conn = {
        "conn_type": "aws",
        "login": s3_server.access_key,
        "password": s3_server.secret_key,
        "extra": {"endpoint_url": s3_server.endpoint_url, "region_name": s3_server.region},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(conn))
    return AWS_CONN_ID


class S3Calls:
    """Names and parameters of the S3 operations made through one client, in order."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params.s3", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def count(self, name: str) -> int:
        return self.names.count(name)

    def of(self, name: str) -> list[dict[str, Any]]:
        """Parameters of every call of operation ``name``."""
        return [params for op, params in self.calls if op == name]


@pytest.fixture
def s3_calls(s3: Any) -> S3Calls:
    return S3Calls(s3)


def object_keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def pending_uploads(s3: Any, bucket: str) -> list[str]:
    """Keys of the multipart uploads started and neither completed nor aborted."""
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def verified_sha256(s3: Any, bucket: str, key: str) -> str | None:
    """The sha256 a later run would trust for ``key``, read independently of the copier's code.

    ``sha256`` user metadata, else the ``akool-sha256`` tag if the ``akool-etag`` tag names the
    object's current ETag (docs/guides/archive.md); ``None`` for an unverified object.
    """
    head = s3.head_object(Bucket=bucket, Key=key)
    if "sha256" in head.get("Metadata", {}):
        return str(head["Metadata"]["sha256"])
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    if tags.get("akool-etag") == head["ETag"].strip('"') and len(tags.get("akool-sha256", "")) == 64:
        return tags["akool-sha256"]
    return None
