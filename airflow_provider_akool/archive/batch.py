"""Archive many resources concurrently, soonest-to-expire first, each failure isolated.

Keys are built and URLs checked before any request; a resource whose key or URL is bad is
recorded as failed without touching the network. A 403/410 from the source is recorded as
``expired``. KeyboardInterrupt (or the caller's cancel event) stops queued copies and aborts the
running ones before the interrupt propagates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from airflow_provider_akool.archive.copier import CopyOptions, CopyResult, copy_url_to_s3
from airflow_provider_akool.archive.errors import CopyCancelledError, ResourceExpiredError
from airflow_provider_akool.archive.keys import DEFAULT_KEY_TEMPLATE, build_key
from airflow_provider_akool.archive.models import ArchiveResult, ArchiveStatus, ResourceSpec
from airflow_provider_akool.archive.settings import check_concurrency
from airflow_provider_akool.archive.urls import validate_source_url

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

log = logging.getLogger(__name__)

BatchProgress = Callable[[str, int, int | None, float], None]
"""``(resource name, bytes_done, total or None, elapsed_seconds) -> None``."""
BatchPass = Callable[[str, int, str], None]
"""``(resource name, pass_number, description) -> None``: a hash-first copy starts a pass."""


def expiry_order(resources: Iterable[ResourceSpec]) -> list[ResourceSpec]:
    """Soonest ``effective_expires_at`` first; unknown expiry last; ties keep input order."""
    never = datetime.max.replace(tzinfo=UTC)
    indexed = list(enumerate(resources))
    indexed.sort(key=lambda item: (item[1].effective_expires_at or never, item[0]))
    return [spec for _, spec in indexed]


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _result(spec: ResourceSpec, name: str, status: ArchiveStatus, **fields: object) -> ArchiveResult:
    return ArchiveResult.model_validate(
        {
            "name": name,
            "source_url": spec.url,
            "status": status,
            "created_at": spec.created_at,
            "expires_at": spec.effective_expires_at,
            **fields,
        }
    )


def _from_copy(spec: ResourceSpec, name: str, copied: CopyResult) -> ArchiveResult:
    status = ArchiveStatus.SKIPPED if copied.status == "skipped" else ArchiveStatus.ARCHIVED
    return _result(
        spec,
        name,
        status,
        reason=copied.skip_reason,
        s3_uri=copied.s3_uri,
        key=copied.key,
        size=copied.size,
        sha256=copied.sha256 or None,
        content_type=copied.content_type,
        bytes_uploaded=copied.bytes_uploaded,
        bytes_downloaded=copied.bytes_downloaded,
        elapsed_s=round(copied.elapsed, 3),
    )


def archive_resources(
    resources: Iterable[ResourceSpec],
    *,
    s3_client: S3Client,
    http_client: httpx.Client,
    bucket: str,
    prefix: str = "akool",
    key_template: str = DEFAULT_KEY_TEMPLATE,
    max_concurrency: int = 4,
    options: CopyOptions | None = None,
    progress: BatchProgress | None = None,
    on_result: Callable[[ArchiveResult], None] | None = None,
    cancel: threading.Event | None = None,
    on_pass: BatchPass | None = None,
) -> list[ArchiveResult]:
    """Copy every resource to S3; return one result per resource, in the order they were started.

    Clients are shared by the worker threads: give the boto3 client a connection pool of at
    least ``max_concurrency x options.upload_concurrency`` (``Config(max_pool_connections=...)``).
    ``progress``, ``on_pass`` (the passes of a ``hash_first`` copy) and ``on_result`` are called
    from worker threads (bad entries: from the caller's).
    Peak memory is about ``max_concurrency x (upload_concurrency + 1) x part_size``.
    """
    check_concurrency(max_concurrency, field="max_concurrency")
    opts = options or CopyOptions()
    stop = cancel or threading.Event()
    ordered = expiry_order(resources)

    planned: list[ArchiveResult | tuple[ResourceSpec, str, str]] = []
    used_keys: dict[str, str] = {}
    for spec in ordered:
        name = spec.name or spec.file_name or spec.url
        try:
            validate_source_url(spec.url, field="url", allowed_hosts=opts.allowed_hosts)
            key = spec.key or build_key(
                key_template,
                source_url=spec.url,
                prefix=prefix,
                kind=spec.kind,
                owner_id=spec.owner_id,
                file_name=spec.file_name,
            )
        except ValueError as exc:
            planned.append(_result(spec, name, ArchiveStatus.FAILED, reason=_reason(exc)))
            continue
        name = spec.name or key.rsplit("/", 1)[-1]
        earlier = used_keys.get(key)
        if earlier is not None:
            status = ArchiveStatus.SKIPPED if earlier == spec.url else ArchiveStatus.FAILED
            why = "duplicate of an earlier entry" if earlier == spec.url else "key already used by another URL"
            planned.append(_result(spec, name, status, reason=why, key=key))
            continue
        used_keys[key] = spec.url
        planned.append((spec, name, key))

    def run(spec: ResourceSpec, name: str, key: str) -> ArchiveResult:
        def report(done: int, total: int | None, elapsed: float) -> None:
            if progress is not None:
                progress(name, done, total, elapsed)

        def passed(number: int, description: str) -> None:
            if on_pass is not None:
                on_pass(name, number, description)

        started = time.monotonic()
        try:
            copied = copy_url_to_s3(
                spec.url,
                s3_client=s3_client,
                http_client=http_client,
                bucket=bucket,
                key=key,
                expected_sha256=spec.expected_sha256,
                expected_size=spec.expected_size,
                created_at=spec.created_at,
                expires_at=spec.effective_expires_at,
                options=opts,
                progress=report,
                cancel=stop,
                on_pass=passed,
            )
            result = _from_copy(spec, name, copied)
        except ResourceExpiredError as exc:
            result = _result(spec, name, ArchiveStatus.EXPIRED, reason=str(exc), key=key)
        except Exception as exc:
            log.debug("archiving %s failed", name, exc_info=True)
            reason = "cancelled" if isinstance(exc, CopyCancelledError) else _reason(exc)
            result = _result(
                spec,
                name,
                ArchiveStatus.FAILED,
                reason=reason,
                key=key,
                elapsed_s=round(time.monotonic() - started, 3),
            )
        if on_result is not None:
            on_result(result)
        return result

    slots: list[ArchiveResult | Future[ArchiveResult]] = []
    with ThreadPoolExecutor(max_concurrency, thread_name_prefix="akool-archive") as pool:
        try:
            for item in planned:
                if isinstance(item, ArchiveResult):
                    if on_result is not None:
                        on_result(item)
                    slots.append(item)
                else:
                    slots.append(pool.submit(run, *item))
            wait([slot for slot in slots if isinstance(slot, Future)])
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [slot.result() if isinstance(slot, Future) else slot for slot in slots]
