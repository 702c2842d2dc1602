"""Store retelling transcripts in S3: one JSON object per session, with a manifest in the archive's format.

Input: what ``AkoolRetellingSessionOperator`` returns (or pushes under the ``transcript`` XCom key
before failing): its settings, sessions and segments. One object per Akool session,
``<prefix>/transcripts/<avatar_id>/<session_id>.json``, holding the run's settings, the session
record and the segments spoken in it. Objects carry the same ``sha256`` / ``archived-at`` /
``source-url`` metadata as archived resources, and the manifest (:class:`Manifest`) lists each
with size and sha256, so one reader handles both. Airflow-free: it takes a boto3 S3 client (a
DAG gets one from ``S3Hook``). See ``docs/guides/archive.md`` (Transcripts).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_akool.archive.existing import META_ARCHIVED_AT, META_SHA256, META_SOURCE_URL
from airflow_provider_akool.archive.keys import build_key, check_bucket, check_key
from airflow_provider_akool.archive.manifest import Manifest, write_manifest
from airflow_provider_akool.archive.models import ArchiveResult, ArchiveStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from mypy_boto3_s3.client import S3Client

TRANSCRIPT_KEY_TEMPLATE = "{prefix}/transcripts/{owner_id}/{file_name}"
CONTENT_TYPE = "application/json"


def transcript_documents(manifest: Mapping[str, Any], *, origin: str) -> list[dict[str, Any]]:
    """Split one retelling manifest (``AkoolRetellingSessionOperator``'s return value) per session.

    ``origin`` names where the manifest came from (e.g. ``xcom://dag/run/task/map_index``).
    """
    settings = dict(manifest.get("settings") or {})
    documents = []
    for session in manifest.get("sessions") or []:
        session_id = session.get("session_id")
        if not session_id:
            continue  # never created: nothing was said, nothing to keep
        segments = [s for s in manifest.get("segments") or [] if s.get("session_id") == session_id]
        documents.append(
            {
                "version": 1,
                "kind": "akool-retelling-transcript",
                "origin": origin,
                "avatar_id": settings.get("avatar_id"),
                "session_id": session_id,
                "settings": settings,
                "session": dict(session),
                "segments": segments,
                "spoken": sum(1 for s in segments if s.get("status") == "spoken"),
            }
        )
    return documents


def encode(document: Mapping[str, Any]) -> bytes:
    """Stable JSON bytes (sorted keys), so the same transcript always has the same sha256."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")


def store_transcripts(
    s3: S3Client,
    *,
    bucket: str,
    prefix: str,
    manifests: Iterable[tuple[str, Mapping[str, Any] | None]],
    manifest_key: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """PUT one JSON object per session of each ``(origin, manifest)``; write and return a summary.

    ``origin`` says where the manifest came from (e.g. ``xcom://dag/run/task/map_index``); it is
    the objects' ``source-url``. A ``None`` manifest (the retelling task failed before returning
    one) is recorded as a failed entry; a session never created is skipped (nothing was said).
    The same transcript always gives the same bytes, so a re-run rewrites identical objects.
    ``manifest_key``: e.g. :func:`run_manifest_key`, beside the archive operator's manifests. A bad
    ``bucket`` or ``manifest_key`` raises ``ValueError`` naming it before anything is written.
    Returns the manifest summary (``Manifest.summary``) plus ``bucket`` and ``objects``: one
    ``{"key", "size", "sha256", "session_id", "avatar_id", "spoken"}`` per stored transcript.
    """
    check_bucket(bucket, field="bucket")  # ValueError naming the field, before any PUT
    check_key(manifest_key, field="manifest_key")
    entries: list[ArchiveResult] = []
    objects: list[dict[str, Any]] = []
    for origin, manifest in manifests:
        if not isinstance(manifest, dict):
            entries.append(
                ArchiveResult(
                    name=f"transcript {origin}",
                    source_url=origin,
                    status=ArchiveStatus.FAILED,
                    reason="the retelling task returned no transcript",
                )
            )
            continue
        for document in transcript_documents(manifest, origin=origin):
            body = encode(document)
            digest = hashlib.sha256(body).hexdigest()
            key = build_key(
                TRANSCRIPT_KEY_TEMPLATE,
                prefix=prefix,
                owner_id=str(document["avatar_id"] or "unknown"),
                file_name=f"{document['session_id']}.json",
            )
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType=CONTENT_TYPE,
                Metadata={
                    META_SHA256: digest,
                    META_ARCHIVED_AT: now().isoformat(timespec="seconds"),
                    META_SOURCE_URL: origin,
                },
            )
            entries.append(
                ArchiveResult(
                    name=f"transcript {document['session_id']}",
                    source_url=origin,
                    status=ArchiveStatus.ARCHIVED,
                    s3_uri=f"s3://{bucket}/{key}",
                    key=key,
                    size=len(body),
                    sha256=digest,
                    content_type=CONTENT_TYPE,
                    bytes_uploaded=len(body),
                )
            )
            objects.append(
                {
                    "key": key,
                    "size": len(body),
                    "sha256": digest,
                    "session_id": document["session_id"],
                    "avatar_id": document["avatar_id"],
                    "spoken": document["spoken"],
                }
            )
    report = Manifest.from_results(entries, bucket=bucket, prefix=prefix)
    uri = write_manifest(report, s3, key=manifest_key)
    return {**report.summary(manifest_uri=uri), "bucket": bucket, "objects": objects}
