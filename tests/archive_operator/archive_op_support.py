"""Helpers for the archive operator tests: Asset events, S3 and source readers.

The task context comes from ``task_support``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from airflow_provider_akool.client import AkoolClient, ClientConfig
from airflow_provider_akool.sim.runner import SimServer


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
