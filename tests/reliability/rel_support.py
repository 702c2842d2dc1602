"""Helpers shared by the reliability tests: task contexts, connections to akool-sim, sim look-ups."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_akool.sim.runner import SimServer

AVATAR = "dvp_Tristan_cloth2_1080P"
VOICE = "iP95p4xoKVk53GoZ742B"


class FakeTI:
    """Just enough of a RuntimeTaskInstance for ``execute()``: identity and recorded XCom pushes."""

    def __init__(self, *, dag_id: str = "rel_dag", task_id: str = "t", try_number: int = 1) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = dag_id, task_id, "manual__2026-01-01", -1
        self.try_number = try_number
        self.pushed: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serialisable
        self.pushed.append((key, value))

    def xcom_pull(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def get_first_reschedule_date(self, context: Any) -> None:
        return None


def make_context(params: dict[str, Any] | None = None, **ti_fields: Any) -> Any:
    """A task context with what the provider's operators read (ti, params, outlet events, dag_run)."""
    from airflow.sdk.execution_time.context import OutletEventAccessors

    return {
        "ti": FakeTI(**ti_fields),
        "params": dict(params or {}),
        "outlet_events": OutletEventAccessors(),
        "dag_run": SimpleNamespace(start_date=datetime.now(UTC)),
    }


def akool_conn(sim: SimServer, *, api_key: str | None = None, token_mode: bool = False, **extra: Any) -> str:
    """JSON of an ``akool`` connection pointing at ``sim`` (x-api-key, or clientId/secret)."""
    fields: dict[str, Any]
    if token_mode:
        fields = {"login": sim.config.client_id, "password": api_key or sim.config.client_secret}
    else:
        fields = {"password": api_key if api_key is not None else sim.config.api_key}
    extras = {"stream_type": "sim", "max_retry_wait": 0.05, **extra}
    return json.dumps({"conn_type": "akool", "host": sim.url, "extra": extras, **fields})


def set_akool_conn(
    monkeypatch: pytest.MonkeyPatch, sim: SimServer, conn_id: str = "akool_default", **kwargs: Any
) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", akool_conn(sim, **kwargs))
    return conn_id


def write_calls(sim: SimServer) -> list[dict[str, Any]]:
    """Logged requests that change something at Akool (create/close/upload/delete)."""
    return [r for r in sim.requests() if r["method"] in ("POST", "PUT", "DELETE") and r["path"].startswith("/api/")]


# -- secret scan ---------------------------------------------------------------------------------
@dataclass
class SecretSet:
    """Distinctive credentials, and every token the sim issued while a test ran (see conftest)."""

    api_key: str = field(default_factory=lambda: "AKOOLKEY" + secrets.token_hex(16))
    client_id: str = "relclientid"
    client_secret: str = field(default_factory=lambda: "AKOOLCLIENTSECRET" + secrets.token_hex(16))
    wrong_key: str = field(default_factory=lambda: "AKOOLWRONGKEY" + secrets.token_hex(16))
    wrong_secret: str = field(default_factory=lambda: "AKOOLWRONGSECRET" + secrets.token_hex(16))
    wrong_rtc: str = field(default_factory=lambda: "AKOOLWRONGRTC" + secrets.token_hex(16))
    issued: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [self.api_key, self.client_secret, self.wrong_key, self.wrong_secret, self.wrong_rtc, *self.issued]

    def leaks(self, texts: dict[str, str]) -> list[str]:
        """``where: contains <value>… (kind)`` for each value (or its first 16 characters) found."""
        found = []
        for where, text in texts.items():
            for value in self.all():
                if value in text or value[:16] in text:
                    found.append(f"{where}: contains {value[:12]}… ({secret_kind(value)})")
        return found


def secret_kind(value: str) -> str:
    for prefix, kind in (
        ("AKOOLBEARER", "bearer token"),
        ("AKOOLRTC", "RTC token"),
        ("AKOOLKEY", "API key"),
        ("AKOOLCLIENTSECRET", "client secret"),
        ("AKOOLWRONG", "wrong credential"),
    ):
        if value.startswith(prefix):
            return kind
    return "secret"


def bucket_objects(s3: Any, bucket: str) -> Iterator[tuple[str, Any]]:
    """(key, {metadata, body as text}) of every object in ``bucket``."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            response = s3.get_object(Bucket=bucket, Key=item["Key"])
            body = response["Body"].read()
            yield (
                item["Key"],
                {
                    "metadata": response.get("Metadata", {}),
                    "body": body.decode("utf-8", errors="replace") if len(body) < 2_000_000 else "",
                },
            )
