"""Helpers for the archive operator tests: a minimal task context and S3/source readers."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_akool.client import AkoolClient, ClientConfig
from airflow_provider_akool.sim.runner import SimServer


class FakeTI:
    """Just enough of a RuntimeTaskInstance for execute(): identity, try number, XCom pushes."""

    def __init__(self, *, try_number: int = 1, task_id: str = "archive") -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = "archive_dag", task_id, "manual__2026-01-01", -1
        self.try_number = try_number
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serialisable
        self.pushed[key] = value


def make_context(*, try_number: int = 1, run_started: datetime | None = None) -> dict[str, Any]:
    return {
        "ti": FakeTI(try_number=try_number),
        "outlet_events": OutletEventAccessors(),
        "dag_run": SimpleNamespace(start_date=run_started or datetime.now(UTC)),
    }


def alias_events(context: dict[str, Any]) -> list[Any]:
    """Asset events the task attached to its AssetAlias outlets."""
    events: list[Any] = []
    for accessor in context["outlet_events"]._dict.values():
        events.extend(accessor.asset_alias_events)
    return events


def sim_client(sim: SimServer) -> AkoolClient:
    return AkoolClient(ClientConfig(base_url=sim.url, api_key=sim.config.api_key))


def source_sha256(url: str) -> str:
    with httpx.Client(timeout=10.0) as http:
        response = http.get(url)
        response.raise_for_status()
        return hashlib.sha256(response.content).hexdigest()


def object_sha256(s3: Any, bucket: str, key: str) -> str:
    return hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def read_manifest(s3: Any, uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    manifest: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return manifest


def keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
