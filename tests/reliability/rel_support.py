"""Helpers shared by the reliability tests: sim look-ups and the secret scan.

Task contexts and connections to akool-sim come from ``task_support``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_akool.sim.runner import SimServer

AVATAR = "dvp_Tristan_cloth2_1080P"
VOICE = "iP95p4xoKVk53GoZ742B"


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
