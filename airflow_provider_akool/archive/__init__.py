"""Archive Akool resources (valid for 7 days) to S3: streaming copier, batch runner, manifest.

Entry point: ``run_archive(ArchiveSettings(...), s3_client=...)``; ``store_transcripts`` keeps
retelling transcripts beside the resources. Airflow-free: everything takes a boto3 S3 client and
an ``httpx.Client``, so it also runs from a plain script. Names are imported lazily (PEP 562) so
that light modules such as ``keys`` can be used at DAG-parse time without loading httpx, botocore
and pydantic models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_akool.archive.batch import BatchProgress, archive_resources, expiry_order
    from airflow_provider_akool.archive.copier import CopyOptions, CopyResult, copy_url_to_s3
    from airflow_provider_akool.archive.errors import (
        ArchiveError,
        ArchiveInputError,
        CopyCancelledError,
        DownloadError,
        IntegrityError,
        ResourceExpiredError,
        SourceURLError,
        UploadError,
    )
    from airflow_provider_akool.archive.keys import (
        DEFAULT_KEY_TEMPLATE,
        build_key,
        file_name_from_url,
        run_manifest_key,
        sanitize_file_name,
    )
    from airflow_provider_akool.archive.manifest import Manifest, ManifestTotals, write_manifest
    from airflow_provider_akool.archive.models import ArchiveResult, ArchiveStatus, ResourceSpec
    from airflow_provider_akool.archive.parts import DEFAULT_PART_SIZE, MIN_PART_SIZE
    from airflow_provider_akool.archive.progress import ProgressCallback, format_bytes, format_progress
    from airflow_provider_akool.archive.run import ArchiveOutcome, run_archive
    from airflow_provider_akool.archive.settings import ArchiveSettings, CheckedArchiveSettings
    from airflow_provider_akool.archive.source import DOWNLOAD_RETRY
    from airflow_provider_akool.archive.transcripts import store_transcripts, transcript_documents
    from airflow_provider_akool.archive.urls import validate_source_url
    from airflow_provider_akool.client.retry import RetryPolicy


_EXPORTS: dict[str, str] = {
    "ArchiveError": "errors",
    "ArchiveInputError": "errors",
    "ArchiveOutcome": "run",
    "ArchiveSettings": "settings",
    "CheckedArchiveSettings": "settings",
    "ArchiveResult": "models",
    "ArchiveStatus": "models",
    "BatchProgress": "batch",
    "CopyCancelledError": "errors",
    "CopyOptions": "copier",
    "CopyResult": "copier",
    "DEFAULT_KEY_TEMPLATE": "keys",
    "DEFAULT_PART_SIZE": "parts",
    "DOWNLOAD_RETRY": "source",
    "DownloadError": "errors",
    "IntegrityError": "errors",
    "MIN_PART_SIZE": "parts",
    "Manifest": "manifest",
    "ManifestTotals": "manifest",
    "ProgressCallback": "progress",
    "ResourceExpiredError": "errors",
    "ResourceSpec": "models",
    "RetryPolicy": "source",  # the client's class, re-exported for CopyOptions(retry=...)
    "SourceURLError": "errors",
    "UploadError": "errors",
    "archive_resources": "batch",
    "build_key": "keys",
    "copy_url_to_s3": "copier",
    "expiry_order": "batch",
    "file_name_from_url": "keys",
    "format_bytes": "progress",
    "format_progress": "progress",
    "run_archive": "run",
    "run_manifest_key": "keys",
    "sanitize_file_name": "keys",
    "store_transcripts": "transcripts",
    "transcript_documents": "transcripts",
    "validate_source_url": "urls",
    "write_manifest": "manifest",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_KEY_TEMPLATE",
    "DEFAULT_PART_SIZE",
    "DOWNLOAD_RETRY",
    "MIN_PART_SIZE",
    "ArchiveError",
    "ArchiveInputError",
    "ArchiveOutcome",
    "ArchiveResult",
    "ArchiveSettings",
    "ArchiveStatus",
    "BatchProgress",
    "CheckedArchiveSettings",
    "CopyCancelledError",
    "CopyOptions",
    "CopyResult",
    "DownloadError",
    "IntegrityError",
    "Manifest",
    "ManifestTotals",
    "ProgressCallback",
    "ResourceExpiredError",
    "ResourceSpec",
    "RetryPolicy",
    "SourceURLError",
    "UploadError",
    "archive_resources",
    "build_key",
    "copy_url_to_s3",
    "expiry_order",
    "file_name_from_url",
    "format_bytes",
    "format_progress",
    "run_archive",
    "run_manifest_key",
    "sanitize_file_name",
    "store_transcripts",
    "transcript_documents",
    "validate_source_url",
    "write_manifest",
]
