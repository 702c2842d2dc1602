"""Stream one HTTP resource into S3 with bounded memory, a sha256, and no object taken as verified that is not.

The body is read in chunks, hashed, and cut into parts that upload concurrently while the next
part downloads; memory stays near ``part size x (upload_concurrency + 1)`` whatever the object
size. Bodies smaller than one part are written with a single PUT, whose metadata (sha256 included)
is known before it is sent. Larger bodies go as one multipart upload straight to the final key,
each part with a SHA-256 checksum that S3 verifies; once the upload is complete, the sha256 of the
whole body is recorded in object tags for that object's ETag (``verify.py``). No server-side copy.
When the caller passes ``expected_sha256`` (or ``CopyOptions(hash_first=True)`` learns it by
reading the source twice, ``hashpass.py``), the sha256 goes into the metadata at creation and the
upload is completed only after the hash matched. Any failure (download, size or checksum
mismatch, S3 error, KeyboardInterrupt, cancel) aborts the upload. See ``existing.py`` for when a
copy is skipped, and ``docs/guides/archive.md`` for what a kill at each step leaves behind.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import httpx

from airflow_provider_akool.archive import hashpass, publish, verify
from airflow_provider_akool.archive.errors import IntegrityError
from airflow_provider_akool.archive.existing import (
    META_ARCHIVED_AT,
    META_CREATED_AT,
    META_EXPIRES_AT,
    META_SHA256,
    META_SOURCE_ETAG,
    META_SOURCE_URL,
    META_SOURCE_URL_SHA256,
    etag_metadata,
    head_destination,
    keep_reason,
    url_fingerprint,
)
from airflow_provider_akool.archive.hashpass import CHANGED, PassCallback, SourceDigest
from airflow_provider_akool.archive.keys import check_bucket, check_key
from airflow_provider_akool.archive.parts import DEFAULT_PART_SIZE, PartPlan, validate_part_size
from airflow_provider_akool.archive.progress import ProgressCallback, ProgressThrottle
from airflow_provider_akool.archive.settings import check_concurrency, check_flag, check_seconds
from airflow_provider_akool.archive.source import (
    DOWNLOAD_RETRY,
    RESTART,
    ResumableDownload,
    SourceInfo,
    head_source,
)
from airflow_provider_akool.archive.upload import ObjectWriter, PartCutter
from airflow_provider_akool.archive.urls import ascii_metadata_value, normalise_hosts, redact_url, validate_source_url
from airflow_provider_akool.client.retry import RetryPolicy

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class CopyOptions:
    """Tuning of :func:`copy_url_to_s3`; the defaults suit Akool videos of a few MB to a few GB."""

    part_size: int = DEFAULT_PART_SIZE
    """Base part size (>= 5 MiB); grown automatically so an object never needs > 10,000 parts."""
    upload_concurrency: int = 4
    """Parts uploaded at the same time; also the number of parts held in memory."""
    chunk_size: int = 256 * 1024
    """Bytes read from the HTTP stream at a time."""
    retry: RetryPolicy = DOWNLOAD_RETRY
    """How the source GETs of one copy are retried (the same policy class as the API clients')."""
    allowed_hosts: frozenset[str] | None = None
    """If set, only these hosts (``.example.com`` also matches subdomains) are fetched."""
    progress_interval: float = 5.0
    """Minimum seconds between two progress callbacks."""
    skip_existing: bool = True
    """Apply the idempotency rule of ``existing.py``; False always copies."""
    staging_prefix: str = publish.STAGING_PREFIX
    """Where earlier versions staged large objects; keys under it are refused. Ends with ``/``."""
    hash_first: bool = False
    """For a body larger than one part (or of unknown size) and no ``expected_sha256``: read the
    source once to hash it, then upload it with the sha256 in its metadata instead of in tags
    (for readers that look at metadata only, or a store without tagging). Costs a second read of
    the source; see ``hashpass.py``."""

    def __post_init__(self) -> None:
        validate_part_size(self.part_size)
        check_concurrency(self.upload_concurrency, field="upload_concurrency")
        if not 1024 <= self.chunk_size <= self.part_size:
            raise ValueError("chunk_size: must be between 1 KiB and part_size")
        check_seconds(self.progress_interval, field="progress_interval")
        publish.check_staging_prefix(self.staging_prefix)
        check_flag(self.hash_first, field="hash_first")
        object.__setattr__(self, "allowed_hosts", normalise_hosts(self.allowed_hosts))


@dataclass(frozen=True)
class CopyResult:
    """Outcome of one successful (or skipped) copy."""

    status: Literal["archived", "skipped"]
    bucket: str
    key: str
    size: int
    sha256: str
    content_type: str
    bytes_uploaded: int
    """Bytes sent to S3, restarts included; 0 when skipped."""
    bytes_downloaded: int
    """Bytes read from the source, retries included (about ``size`` when resuming works; twice
    that with ``hash_first``)."""
    parts: int
    """Multipart parts of the final upload; 0 for a single PUT or a skip."""
    attempts: int
    resumes: int
    restarts: int
    elapsed: float
    skip_reason: str | None = None
    source_passes: int = 1
    """Times the source was read: 2 with ``hash_first`` (hash pass, then upload pass), 0 when skipped."""
    sha256_in: Literal["metadata", "tag"] | None = None
    """Where the sha256 was recorded: ``tag`` for a large body in the default mode, ``metadata``
    otherwise (or when the store refused tagging); ``None`` when skipped."""

    @property
    def s3_uri(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"


def iso_utc(moment: datetime) -> str:
    """``2025-01-02T03:04:05Z`` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _validate_target(
    bucket: str, key: str, expected_sha256: str | None, expected_size: int | None, staging_prefix: str
) -> None:
    check_bucket(bucket, field="bucket")
    check_key(key, field="key")
    if key.startswith(staging_prefix):
        raise ValueError(f"key: must not be under the staging prefix {staging_prefix!r}")
    if expected_sha256 is not None and not _SHA256_HEX.match(expected_sha256):
        raise ValueError("expected_sha256: must be 64 hexadecimal characters")
    if expected_size is not None and (isinstance(expected_size, bool) or expected_size < 0):
        raise ValueError("expected_size: must be a non-negative integer")


def _skip_if_archived(
    s3_client: S3Client,
    http_client: httpx.Client,
    url: str,
    bucket: str,
    key: str,
    expected: str | None,
    expected_size: int | None,
    opts: CopyOptions,
) -> CopyResult | None:
    started = time.monotonic()
    stored = head_destination(s3_client, bucket, key)
    if stored is None or stored.sha256 is None:
        return None
    reason = keep_reason(
        stored,
        source_url=url,
        expected_sha256=expected,
        expected_size=expected_size,
        head_source=lambda: head_source(http_client, url, allowed_hosts=opts.allowed_hosts),
    )
    if reason is None:
        return None
    return CopyResult(
        status="skipped",
        bucket=bucket,
        key=key,
        size=stored.size,
        sha256=stored.sha256,
        content_type=stored.content_type,
        bytes_uploaded=0,
        bytes_downloaded=0,
        parts=0,
        attempts=0,
        resumes=0,
        restarts=0,
        elapsed=time.monotonic() - started,
        skip_reason=reason,
        source_passes=0,
    )


def _initial_metadata(
    url: str, info: SourceInfo, created_at: datetime | None, expires_at: datetime | None, expected: str | None
) -> dict[str, str]:
    metadata = {
        # Signed URLs carry credentials in the query: store them redacted; the fingerprint below
        # still identifies the exact source for the idempotency check.
        META_SOURCE_URL: ascii_metadata_value(redact_url(url)),
        META_SOURCE_URL_SHA256: url_fingerprint(url),
        META_ARCHIVED_AT: iso_utc(datetime.now(UTC)),
    }
    if created_at is not None:
        metadata[META_CREATED_AT] = iso_utc(created_at)
    if expires_at is not None:
        metadata[META_EXPIRES_AT] = iso_utc(expires_at)
    if info.etag:
        metadata[META_SOURCE_ETAG] = etag_metadata(info.etag)
    if expected is not None:  # known up front: set at creation, verified before completing
        metadata[META_SHA256] = expected
    return metadata


def copy_url_to_s3(
    source_url: str,
    *,
    s3_client: S3Client,
    http_client: httpx.Client,
    bucket: str,
    key: str,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    created_at: datetime | None = None,
    expires_at: datetime | None = None,
    options: CopyOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    on_pass: PassCallback | None = None,
) -> CopyResult:
    """Copy ``source_url`` to ``s3://bucket/key``, or skip it if the archive is already there.

    Raises :class:`SourceURLError` / ``ValueError`` before any request for bad input,
    :class:`ResourceExpiredError` when the source answers 403/410, and :class:`DownloadError`,
    :class:`IntegrityError`, :class:`UploadError` or :class:`CopyCancelledError` otherwise.
    Object metadata: ``source-url`` (percent-encoded), ``source-url-sha256``, ``archived-at``,
    ``source-etag`` / ``created-at`` / ``expires-at`` when known, and ``sha256``, except for a body
    larger than one part in the default mode, whose sha256 is in the ``akool-sha256`` tag (with
    ``akool-etag``). ``key`` must not lie under ``options.staging_prefix``. With
    ``options.hash_first`` a large body is read twice: ``progress`` then runs for each pass, and
    ``on_pass(number, description)`` is called as pass 1 (hash) and pass 2 (upload) start.
    """
    opts = options or CopyOptions()
    url = validate_source_url(source_url, allowed_hosts=opts.allowed_hosts)
    _validate_target(bucket, key, expected_sha256, expected_size, opts.staging_prefix)
    expected = expected_sha256.lower() if expected_sha256 else None
    if opts.skip_existing:  # before any download, hash pass included
        skipped = _skip_if_archived(s3_client, http_client, url, bucket, key, expected, expected_size, opts)
        if skipped is not None:
            return skipped

    started = time.monotonic()
    download = _open_download(http_client, url, opts, cancel)
    hashed: SourceDigest | None = None
    if opts.hash_first and expected is None and _needs_multipart(download.info.total, opts.part_size):
        throttle = ProgressThrottle(progress, opts.progress_interval)
        hashed = hashpass.hash_source(download, expected_size=expected_size, progress=throttle, on_pass=on_pass)
        expected, expected_size = hashed.sha256, hashed.size
        download = _open_download(http_client, url, opts, cancel)
        try:
            hashpass.check_unchanged(hashed, download.info)
        except BaseException:
            download.close()
            raise
        if on_pass is not None:
            on_pass(2, hashpass.describe_hash_pass(hashed, f"s3://{bucket}/{key}"))
    info = download.info
    metadata = _initial_metadata(url, info, created_at, expires_at, expected)

    def clear_leftovers() -> None:  # a killed run's upload to the same key may still be open
        publish.abort_stale_uploads(s3_client, bucket, key)

    writer = ObjectWriter(
        s3_client,
        bucket,
        key,
        content_type=info.content_type,
        content_encoding=info.content_encoding,
        metadata=metadata,
        concurrency=opts.upload_concurrency,
        before_create=clear_leftovers,
    )
    throttle = ProgressThrottle(progress, opts.progress_interval)
    if hashed is not None:
        want_size, want_hash = f"{CHANGED}: pass 1 read {hashed.size} bytes", f"{CHANGED}: pass 1 read {hashed.sha256}"
    else:
        want_size, want_hash = f"expected_size is {expected_size}", f"expected_sha256 is {expected}"
    try:
        _check_announced_size(info.total, expected_size)
        cutter = PartCutter(writer, PartPlan(info.total, opts.part_size))
        for item in download.iter_body():
            if item is RESTART:
                writer.reset()
                info = download.info
                _check_announced_size(info.total, expected_size)
                cutter.restart(PartPlan(info.total, opts.part_size))
                continue
            cutter.feed(item)
            if expected_size is not None and cutter.received > expected_size:
                raise IntegrityError(f"source sent more than {expected_size} bytes ({want_size})")
            throttle.update(cutter.received, info.total)

        size, digest = cutter.received, cutter.hasher.hexdigest()
        if info.total is not None and size != info.total:
            raise IntegrityError(f"received {size} bytes, Content-Length announced {info.total}")
        if expected_size is not None and size != expected_size:
            raise IntegrityError(f"received {size} bytes, {want_size}")
        if expected is not None and digest != expected:
            raise IntegrityError(f"sha256 of the body is {digest}, {want_hash}")
        final_metadata = {**metadata, META_SHA256: digest}
        sha256_in: Literal["metadata", "tag"] = "metadata"
        if not writer.multipart:
            writer.put_single(cutter.tail(), cutter.hasher.digest(), final_metadata)
        elif expected is not None:  # sha256 set at creation and verified above: complete in place
            writer.add_part(cutter.tail())
            writer.complete()
        else:
            writer.add_part(cutter.tail())
            etag = writer.complete()
            # From here until the tags are written the key holds an unverified object: a kill
            # leaves it untagged, and the next run uploads it again.
            sha256_in = verify.record_sha256(
                s3_client,
                bucket,
                key,
                sha256=digest,
                etag=etag,
                size=size,
                object_args=writer.object_args(final_metadata),
                concurrency=opts.upload_concurrency,
            )
        throttle.finish(size, info.total)
    except BaseException:
        writer.abort()
        download.close()
        raise
    first = (hashed.bytes_received, hashed.attempts, hashed.resumes, hashed.restarts) if hashed else (0, 0, 0, 0)
    return CopyResult(
        status="archived",
        bucket=bucket,
        key=key,
        size=size,
        sha256=digest,
        content_type=info.content_type,
        bytes_uploaded=writer.bytes_uploaded,
        bytes_downloaded=first[0] + download.bytes_received,
        parts=writer.parts,
        attempts=first[1] + download.attempts,
        resumes=first[2] + download.resumes,
        restarts=first[3] + download.restarts,
        elapsed=time.monotonic() - started,
        source_passes=2 if hashed is not None else 1,
        sha256_in=sha256_in,
    )


def _open_download(
    http_client: httpx.Client, url: str, opts: CopyOptions, cancel: threading.Event | None
) -> ResumableDownload:
    download = ResumableDownload(
        http_client,
        url,
        policy=opts.retry,
        chunk_size=opts.chunk_size,
        allowed_hosts=opts.allowed_hosts,
        cancel=cancel,
    )
    try:
        download.open()
    except BaseException:
        download.close()
        raise
    return download


def _needs_multipart(total: int | None, part_size: int) -> bool:
    """True if a body announced as ``total`` bytes (None: unknown) will not fit one PUT."""
    return total is None or total > PartPlan(total, part_size).size_of(1)


def _check_announced_size(total: int | None, expected_size: int | None) -> None:
    if total is not None and expected_size is not None and total != expected_size:
        raise IntegrityError(f"source announces {total} bytes, expected_size is {expected_size}")
