"""S3 for tests (loaded as a pytest plugin): a fresh bucket per test, an S3 call counter, and an
Airflow AWS connection, on the S3 server that ``s3_server`` names.

``s3_server`` is a real S3 server, SeaweedFS: one per session, started on first use and stopped
by PID at the end. Faults a real server does not produce on demand are injected with botocore
event hooks on the client, so no test needs moto.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from akool_demo.seaweedfs import SeaweedS3

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


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server on 127.0.0.1 for the whole session, stopped by PID (SIGKILL)."""
    with SeaweedS3.start(tmp_path_factory.mktemp("seaweedfs")) as weed:
        credentials = weed.boto3_credentials()
        yield S3Server(
            weed.endpoint_url,
            credentials["aws_access_key_id"],
            credentials["aws_secret_access_key"],
            credentials["region_name"],
        )


@pytest.fixture(scope="session")
def s3_server(seaweed_server: S3Server) -> S3Server:
    """The S3 server of the tests: SeaweedFS, a real S3, one for the session."""
    return seaweed_server


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


def aws_connection(server: S3Server) -> dict[str, Any]:
    """An Airflow AWS connection (the dict behind ``AIRFLOW_CONN_*`` JSON) pointing at ``server``."""
    return {
        "conn_type": "aws",
        "login": server.access_key,
        "password": server.secret_key,
        "extra": {"endpoint_url": server.endpoint_url, "region_name": server.region},
    }


@pytest.fixture
def aws_conn(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow AWS connection (used through S3Hook) pointing at ``s3_server``."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(aws_connection(s3_server)))
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
