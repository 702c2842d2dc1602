"""Idempotency: decide whether the object already at the destination key can be kept.

Rule (first match wins):

1. No object at the key -> copy.
2. The object is not verified -> copy. Verified means: a ``sha256`` in its metadata (a single PUT,
   a known ``expected_sha256``, ``hash_first``, and every large object of earlier versions), or
   ``akool-sha256`` / ``akool-etag`` tags written for its current ETag (the default mode for a
   large object, ``verify.py``). An object uploaded but not yet tagged is not verified.
3. The caller passed ``expected_sha256``: keep iff the stored sha256 equals it (and the stored
   size equals ``expected_size`` when given). The URL is not compared: Akool may hand out a new
   signed URL for the same bytes.
4. Otherwise the stored ``source-url-sha256`` must equal the hash of the current URL, and the
   stored size must equal ``expected_size`` when given; then the source is HEADed:
   - 403/410: keep (the source has expired; the archive made from this same URL is all that is left);
   - no usable answer or no Content-Length: copy (nothing proves the source is unchanged);
   - Content-Length differs from the stored size: copy;
   - both the source and the stored object carry an ETag and they differ: copy;
   - otherwise keep.

So re-running a batch uploads nothing, while a source whose size or ETag changed is archived
again. A same-size change behind a server without ETags is only caught with ``expected_sha256``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_akool.archive.errors import ResourceExpiredError, UploadError
from airflow_provider_akool.archive.source import SourceInfo
from airflow_provider_akool.archive.urls import ascii_metadata_value
from airflow_provider_akool.archive.verify import read_tags, tag_sha256

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

META_SHA256 = "sha256"
META_SOURCE_URL = "source-url"
META_SOURCE_URL_SHA256 = "source-url-sha256"
META_SOURCE_ETAG = "source-etag"
META_ARCHIVED_AT = "archived-at"
META_CREATED_AT = "created-at"
META_EXPIRES_AT = "expires-at"


def url_fingerprint(url: str) -> str:
    """sha256 hex of the URL, stored because the readable ``source-url`` may be shortened."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def etag_metadata(etag: str) -> str:
    """The source ETag as stored in metadata (ASCII, bounded)."""
    return ascii_metadata_value(etag, max_length=256)


@dataclass(frozen=True)
class StoredObject:
    """What HEAD says about the object already at the destination key."""

    size: int
    content_type: str
    metadata: dict[str, str]
    etag: str | None = None
    tags: dict[str, str] | None = None
    """Read only for an object without ``sha256`` metadata; ``None`` when not read."""

    @property
    def sha256(self) -> str | None:
        """The verified sha256: ``sha256`` metadata, else tags written for this very ETag."""
        if META_SHA256 in self.metadata:
            return self.metadata[META_SHA256].lower()
        return tag_sha256(self.tags or {}, self.etag)


def head_destination(s3: S3Client, bucket: str, key: str) -> StoredObject | None:
    """HEAD the destination (and read its tags if its metadata has no sha256); ``None`` if absent."""
    try:
        response = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            return None
        raise UploadError(f"S3 HeadObject failed for s3://{bucket}/{key}: {code}") from exc
    except BotoCoreError as exc:
        raise UploadError(f"S3 HeadObject failed for s3://{bucket}/{key}: {exc}") from exc
    metadata = {k.lower(): v for k, v in response.get("Metadata", {}).items()}
    return StoredObject(
        size=response["ContentLength"],
        content_type=response.get("ContentType", "application/octet-stream"),
        metadata=metadata,
        etag=response.get("ETag"),
        tags=None if META_SHA256 in metadata else read_tags(s3, bucket, key),
    )


def keep_reason(
    stored: StoredObject,
    *,
    source_url: str,
    expected_sha256: str | None,
    expected_size: int | None,
    head_source: Callable[[], SourceInfo | None],
) -> str | None:
    """Why ``stored`` can be kept as the archive of ``source_url``, or ``None`` to copy again.

    ``head_source`` is called only when rule 4 needs it and may raise
    :class:`ResourceExpiredError`.
    """
    if stored.sha256 is None:
        return None
    if expected_size is not None and stored.size != expected_size:
        return None
    if expected_sha256 is not None:
        return "sha256 matches the expected sha256" if stored.sha256 == expected_sha256.lower() else None
    if stored.metadata.get(META_SOURCE_URL_SHA256) != url_fingerprint(source_url):
        return None
    try:
        info = head_source()
    except ResourceExpiredError:
        return "source has expired; keeping the archive made from the same URL"
    if info is None or info.total is None or info.total != stored.size:
        return None
    stored_etag = stored.metadata.get(META_SOURCE_ETAG)
    if info.etag is not None and stored_etag is not None and stored_etag != etag_metadata(info.etag):
        return None
    return "same source URL and size" + (" and ETag" if info.etag and stored_etag else "")
