"""Input and output records of a batch: what to archive, and what happened to it.

``ArchiveResult`` is also the manifest entry type, so what the batch returns is exactly what the
manifest and the operator's XCom summary are built from.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Akool: generated resources are valid for 7 days (docs/reference/akool-api.md §5.4).
DEFAULT_RETENTION = timedelta(days=7)


class ArchiveStatus(StrEnum):
    """Outcome of one resource."""

    ARCHIVED = "archived"
    """Copied to S3 in this run."""
    SKIPPED = "skipped"
    """Already archived (see the idempotency rule in ``existing.py``); nothing uploaded."""
    EXPIRED = "expired"
    """The source answered 403/410: too late to archive."""
    FAILED = "failed"
    """Anything else; ``reason`` says what."""


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class ResourceSpec(BaseModel):
    """One Akool resource URL to archive, with what is known about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1)
    kind: str = "resource"
    """Key segment grouping resources, e.g. ``video``, ``audio``, ``avatar``."""
    owner_id: str = "unknown"
    """Key segment naming what the resource belongs to (task, avatar or voice id)."""
    file_name: str | None = None
    """File name in the key; derived from the URL path when missing."""
    name: str | None = None
    """Label in results and summaries; defaults to the key's file name."""
    key: str | None = None
    """Explicit S3 key, bypassing the key template."""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    """Defaults to ``created_at`` + 7 days."""
    expected_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    expected_size: int | None = Field(default=None, ge=0)

    @field_validator("created_at", "expires_at")
    @classmethod
    def _utc_if_naive(cls, value: datetime | None) -> datetime | None:
        return _aware(value)

    @property
    def effective_expires_at(self) -> datetime | None:
        """``expires_at``, else ``created_at`` + 7 days, else unknown."""
        if self.expires_at is not None:
            return self.expires_at
        if self.created_at is not None:
            return self.created_at + DEFAULT_RETENTION
        return None


class ArchiveResult(BaseModel):
    """What happened to one resource; also one manifest entry."""

    model_config = ConfigDict(frozen=True)

    name: str
    source_url: str
    status: ArchiveStatus
    reason: str | None = None
    s3_uri: str | None = None
    key: str | None = None
    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    bytes_uploaded: int = 0
    bytes_downloaded: int = 0
    elapsed_s: float = 0.0
