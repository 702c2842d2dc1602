"""Stream one HTTP resource into S3 with bounded memory, a sha256, and no partial objects.

The body is read in chunks, hashed, and cut into parts that upload concurrently while the next
part downloads; memory stays near ``part size x (upload_concurrency + 1)`` whatever the object
size. Bodies smaller than one part are written with a single PUT. Any failure (download, size or
checksum mismatch, S3 error, KeyboardInterrupt, cancel) aborts the multipart upload, so the
destination key only ever holds a complete object. See ``existing.py`` for when a copy is skipped.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import httpx

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
from airflow_provider_akool.archive.keys import check_bucket, check_key
from airflow_provider_akool.archive.parts import DEFAULT_PART_SIZE, PartPlan, validate_part_size
from airflow_provider_akool.archive.progress import ProgressCallback, ProgressThrottle
from airflow_provider_akool.archive.source import (
    RESTART,
    ResumableDownload,
    RetryPolicy,
    SourceInfo,
    head_source,
)
from airflow_provider_akool.archive.upload import ObjectWriter
from airflow_provider_akool.archive.urls import ascii_metadata_value, normalise_hosts, redact_url, validate_source_url

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
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    allowed_hosts: frozenset[str] | None = None
    """If set, only these hosts (``.example.com`` also matches subdomains) are fetched."""
    progress_interval: float = 5.0
    """Minimum seconds between two progress callbacks."""
    skip_existing: bool = True
    """Apply the idempotency rule of ``existing.py``; False always copies."""

    def __post_init__(self) -> None:
        validate_part_size(self.part_size)
        if not 1 <= self.upload_concurrency <= 64:
            raise ValueError("upload_concurrency: must be between 1 and 64")
        if not 1024 <= self.chunk_size <= self.part_size:
            raise ValueError("chunk_size: must be between 1 KiB and part_size")
        if self.progress_interval < 0:
            raise ValueError("progress_interval: must not be negative")
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
    """Bytes read from the source, retries included (about ``size`` when resuming works)."""
    parts: int
    """Multipart parts of the final upload; 0 for a single PUT or a skip."""
    attempts: int
    resumes: int
    restarts: int
    elapsed: float
    skip_reason: str | None = None

    @property
    def s3_uri(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"


def iso_utc(moment: datetime) -> str:
    """``2025-01-02T03:04:05Z`` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _validate_target(bucket: str, key: str, expected_sha256: str | None, expected_size: int | None) -> None:
    check_bucket(bucket, field="bucket")
    check_key(key, field="key")
    if expected_sha256 is not None and not _SHA256_HEX.match(expected_sha256):
        raise ValueError("expected_sha256: must be 64 hexadecimal characters")
    if expected_size is not None and (isinstance(expected_size, bool) or expected_size < 0):
        raise ValueError("expected_size: must be a non-negative integer")


class _PartCutter:
    """Hashes the body and cuts it into parts, holding a full part back until more data exists.

    Holding back means a body of exactly one part still goes out as a single PUT, and the last
    part of a multipart upload is never empty. Each part buffer is allocated once at its final
    size (smaller when the Content-Length says less remains), so memory does not creep with
    reallocations.
    """

    def __init__(self, writer: ObjectWriter, plan: PartPlan) -> None:
        self._writer = writer
        self.restart(plan)

    def restart(self, plan: PartPlan) -> None:
        """Forget everything received (the source starts again from byte 0)."""
        self._plan = plan
        self.hasher = hashlib.sha256()
        self.received = 0
        self._buffer = self._new_buffer()
        self._filled = 0

    def _new_buffer(self) -> bytearray:
        size = self._plan.size_of(self._writer.parts + 1)
        if self._plan.length is not None:
            size = max(0, min(size, self._plan.length - self.received))
        return bytearray(size)

    def feed(self, chunk: bytes) -> None:
        """Hash ``chunk`` and hand every completed part to the writer."""
        self.hasher.update(chunk)
        view = memoryview(chunk)
        while view:
            if self._filled == len(self._buffer):
                if self._filled:
                    self._writer.add_part(self._buffer)
                self._buffer = self._new_buffer()
                self._filled = 0
                if not self._buffer:  # more bytes than announced; the size check reports it
                    self._buffer = bytearray(len(view))
            take = min(len(view), len(self._buffer) - self._filled)
            self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            self.received += take
            view = view[take:]

    def tail(self) -> bytearray:
        """The part not yet handed to the writer (the whole body if it fits in one part)."""
        del self._buffer[self._filled :]
        return self._buffer


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
) -> CopyResult:
    """Copy ``source_url`` to ``s3://bucket/key``, or skip it if the archive is already there.

    Raises :class:`SourceURLError` / ``ValueError`` before any request for bad input,
    :class:`ResourceExpiredError` when the source answers 403/410, and :class:`DownloadError`,
    :class:`IntegrityError`, :class:`UploadError` or :class:`CopyCancelledError` otherwise.
    Object metadata: ``sha256``, ``source-url`` (percent-encoded), ``source-url-sha256``,
    ``archived-at``, and ``source-etag`` / ``created-at`` / ``expires-at`` when known.
    """
    opts = options or CopyOptions()
    url = validate_source_url(source_url, allowed_hosts=opts.allowed_hosts)
    _validate_target(bucket, key, expected_sha256, expected_size)
    expected = expected_sha256.lower() if expected_sha256 else None
    if opts.skip_existing:
        skipped = _skip_if_archived(s3_client, http_client, url, bucket, key, expected, expected_size, opts)
        if skipped is not None:
            return skipped

    started = time.monotonic()
    download = ResumableDownload(
        http_client,
        url,
        policy=opts.retry,
        chunk_size=opts.chunk_size,
        allowed_hosts=opts.allowed_hosts,
        cancel=cancel,
    )
    try:
        info = download.open()
    except BaseException:
        download.close()
        raise
    metadata = _initial_metadata(url, info, created_at, expires_at, expected)
    writer = ObjectWriter(
        s3_client,
        bucket,
        key,
        content_type=info.content_type,
        content_encoding=info.content_encoding,
        metadata=metadata,
        concurrency=opts.upload_concurrency,
    )
    throttle = ProgressThrottle(progress, opts.progress_interval)
    try:
        _check_announced_size(info.total, expected_size)
        cutter = _PartCutter(writer, PartPlan(info.total, opts.part_size))
        for item in download.iter_body():
            if item is RESTART:
                writer.reset()
                info = download.info
                _check_announced_size(info.total, expected_size)
                cutter.restart(PartPlan(info.total, opts.part_size))
                continue
            cutter.feed(item)
            throttle.update(cutter.received, info.total)

        size, digest = cutter.received, cutter.hasher.hexdigest()
        if info.total is not None and size != info.total:
            raise IntegrityError(f"received {size} bytes, Content-Length announced {info.total}")
        if expected_size is not None and size != expected_size:
            raise IntegrityError(f"received {size} bytes, expected_size is {expected_size}")
        if expected is not None and digest != expected:
            raise IntegrityError(f"sha256 of the body is {digest}, expected_sha256 is {expected}")
        final_metadata = {**metadata, META_SHA256: digest}
        if not writer.multipart:
            writer.put_single(cutter.tail(), cutter.hasher.digest(), final_metadata)
        else:
            writer.add_part(cutter.tail())
            writer.complete()
            if expected is None:
                writer.replace_metadata(final_metadata, size)
        throttle.finish(size, info.total)
    except BaseException:
        writer.abort()
        download.close()
        raise
    return CopyResult(
        status="archived",
        bucket=bucket,
        key=key,
        size=size,
        sha256=digest,
        content_type=info.content_type,
        bytes_uploaded=writer.bytes_uploaded,
        bytes_downloaded=download.bytes_received,
        parts=writer.parts,
        attempts=download.attempts,
        resumes=download.resumes,
        restarts=download.restarts,
        elapsed=time.monotonic() - started,
    )


def _check_announced_size(total: int | None, expected_size: int | None) -> None:
    if total is not None and expected_size is not None and total != expected_size:
        raise IntegrityError(f"source announces {total} bytes, expected_size is {expected_size}")
