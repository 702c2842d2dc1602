"""The manifest of an archive run: a JSON record in S3 plus a small summary for XCom.

The manifest lists every resource with its outcome, so what was archived (and what expired
before it could be) is discoverable next to the archived objects. The summary keeps XCom small:
counts, bytes and the names of failures, never the full entry list.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_akool.archive.errors import UploadError
from airflow_provider_akool.archive.models import ArchiveResult, ArchiveStatus

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

MAX_SUMMARY_NAMES = 20
MAX_SUMMARY_REASON = 200


class ManifestTotals(BaseModel):
    """Aggregates over all entries."""

    model_config = ConfigDict(frozen=True)

    resources: int
    counts: dict[ArchiveStatus, int]
    """Number of entries per status; every status is present, 0 included."""
    bytes_uploaded: int
    """Bytes sent to S3 in this run (0 for a re-run where everything was skipped)."""
    bytes_stored: int
    """Total size of the archived and skipped objects, i.e. what the archive now holds."""


class Manifest(BaseModel):
    """One archive run: where it wrote, what it found, what happened to each resource."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = 1
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    bucket: str
    prefix: str
    totals: ManifestTotals
    entries: list[ArchiveResult]

    @classmethod
    def from_results(
        cls,
        results: Iterable[ArchiveResult],
        *,
        bucket: str,
        prefix: str,
        generated_at: datetime | None = None,
    ) -> Manifest:
        """Build a manifest (totals computed) from batch results."""
        entries = list(results)
        counts = dict.fromkeys(ArchiveStatus, 0)
        for entry in entries:
            counts[entry.status] += 1
        kept = (ArchiveStatus.ARCHIVED, ArchiveStatus.SKIPPED)
        totals = ManifestTotals(
            resources=len(entries),
            counts=counts,
            bytes_uploaded=sum(entry.bytes_uploaded for entry in entries),
            bytes_stored=sum(entry.size or 0 for entry in entries if entry.status in kept),
        )
        return cls(
            generated_at=generated_at or datetime.now(UTC),
            bucket=bucket,
            prefix=prefix,
            totals=totals,
            entries=entries,
        )

    def to_json(self, *, indent: int | None = 2) -> str:
        """The manifest as JSON (ISO 8601 datetimes, statuses as strings)."""
        return self.model_dump_json(indent=indent)

    def default_key(self) -> str:
        """``<prefix>/manifests/manifest-<UTC timestamp>.json``."""
        stamp = self.generated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        head = self.prefix.strip("/")
        return f"{head}/manifests/manifest-{stamp}.json" if head else f"manifests/manifest-{stamp}.json"

    def summary(self, *, manifest_uri: str | None = None) -> dict[str, Any]:
        """Small JSON-serialisable dict for XCom: counts, bytes, failed and expired names."""

        def names(status: ArchiveStatus) -> list[ArchiveResult]:
            return [entry for entry in self.entries if entry.status is status]

        failed = names(ArchiveStatus.FAILED)
        expired = names(ArchiveStatus.EXPIRED)
        summary: dict[str, Any] = {
            "resources": self.totals.resources,
            "counts": {status.value: count for status, count in self.totals.counts.items()},
            "bytes_uploaded": self.totals.bytes_uploaded,
            "bytes_stored": self.totals.bytes_stored,
            "failed": [
                {"name": entry.name, "reason": (entry.reason or "")[:MAX_SUMMARY_REASON]}
                for entry in failed[:MAX_SUMMARY_NAMES]
            ],
            "expired": [entry.name for entry in expired[:MAX_SUMMARY_NAMES]],
        }
        if len(failed) > MAX_SUMMARY_NAMES or len(expired) > MAX_SUMMARY_NAMES:
            summary["truncated"] = True
        if manifest_uri is not None:
            summary["manifest_uri"] = manifest_uri
        return summary


def write_manifest(manifest: Manifest, s3_client: S3Client, *, key: str | None = None) -> str:
    """PUT the manifest as JSON to ``manifest.bucket`` and return its ``s3://`` URI."""
    target = key or manifest.default_key()
    body = manifest.to_json().encode("utf-8")
    try:
        s3_client.put_object(Bucket=manifest.bucket, Key=target, Body=body, ContentType="application/json")
    except Exception as exc:
        raise UploadError(f"S3 PutObject failed for manifest s3://{manifest.bucket}/{target}: {exc}") from exc
    return f"s3://{manifest.bucket}/{target}"
