"""One archive run, start to finish: :func:`run_archive`.

Bucket check, discovery through the Akool API, refusal of disallowed URLs, dedupe, the
concurrent copies (with signed-URL query strings cut from httpx's log lines), the manifest with
redacted source URLs, and the outcome a caller reports. ``AkoolArchiveToS3Operator`` is a thin
adapter over it; a plain script can call it with a boto3 client and an ``AkoolClient``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_akool.archive.errors import ArchiveInputError
from airflow_provider_akool.archive.models import ArchiveResult, ArchiveStatus, ResourceSpec
from airflow_provider_akool.archive.settings import ArchiveSettings, CheckedArchiveSettings

if TYPE_CHECKING:
    import httpx
    from mypy_boto3_s3.client import S3Client

    from airflow_provider_akool.archive.manifest import Manifest
    from airflow_provider_akool.archive.progress import TaskLog
    from airflow_provider_akool.client import AkoolClient

log = logging.getLogger(__name__)

MAX_NAMED_FAILURES = 20
"""Failed resources named in :meth:`ArchiveOutcome.failure_message`; the manifest lists them all."""
MISSING_BUCKET_CODES = ("404", "NoSuchBucket", "NotFound")


@dataclass(frozen=True)
class ArchiveOutcome:
    """What a run did: every entry (source URLs redacted), the manifest and where it was written."""

    entries: list[ArchiveResult]
    manifest: Manifest
    manifest_uri: str

    @property
    def failed(self) -> list[ArchiveResult]:
        """Entries that failed (expired ones are not failures: they are recorded, not retried)."""
        return [e for e in self.entries if e.status is ArchiveStatus.FAILED]

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable counts, bytes, failed/expired names, ``manifest_uri`` and ``bucket``."""
        return {**self.manifest.summary(manifest_uri=self.manifest_uri), "bucket": self.manifest.bucket}

    def failure_message(self) -> str | None:
        """``None`` if nothing failed, else one line naming the first failures and the manifest."""
        failed = self.failed
        if not failed:
            return None
        named = "; ".join(f"{e.name} ({e.reason})" for e in failed[:MAX_NAMED_FAILURES])
        more = f"; and {len(failed) - MAX_NAMED_FAILURES} more" if len(failed) > MAX_NAMED_FAILURES else ""
        return f"{len(failed)} of {len(self.entries)} resource(s) failed: {named}{more}; manifest {self.manifest_uri}"

    def stored_objects(self, s3_client: S3Client, *, since: datetime | None = None) -> list[ArchiveResult]:
        """Objects this run stored: every ``archived`` entry and, when ``since`` is given, each
        ``skipped`` one whose ``archived-at`` metadata is at or after ``since`` (an earlier try of
        the same run stored it). Unreadable metadata is logged, not raised."""
        from airflow_provider_akool.archive.existing import META_ARCHIVED_AT, head_destination

        stored = [e for e in self.entries if e.status is ArchiveStatus.ARCHIVED and e.key]
        if since is None:
            return stored
        since = since.replace(microsecond=0)  # archived-at has whole seconds
        for entry in self.entries:
            if entry.status is not ArchiveStatus.SKIPPED or not entry.key:
                continue
            try:
                found = head_destination(s3_client, self.manifest.bucket, entry.key)
                stamp = found.metadata.get(META_ARCHIVED_AT) if found else None
                if stamp and datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= since:
                    stored.append(entry)
            except Exception as exc:  # a lost Asset event is not worth failing the run for
                log.warning("Could not read archived-at of %s: %s", entry.key, exc)
        return stored


def run_archive(
    settings: ArchiveSettings | CheckedArchiveSettings,
    *,
    s3_client: S3Client,
    akool_client: Callable[[], AkoolClient] | None = None,
    http_client: httpx.Client | None = None,
    task_log: TaskLog = log,
    cancel: threading.Event | None = None,
) -> ArchiveOutcome:
    """Archive what ``settings`` name to S3 and write the manifest; returns the outcome.

    Raises :class:`ArchiveInputError` (before any request) for bad settings or a missing bucket.
    Per-resource failures do not raise: they are in the outcome (see ``failure_message``).
    ``akool_client`` makes the client for discovery: called only when settings ask for it, and
    that client is closed after. An ``http_client`` given by the caller is not closed (by default
    one is made: 60 s read, 15 s connect timeout). ``task_log`` receives the progress lines;
    ``cancel`` stops queued copies and aborts running ones.
    """
    import httpx

    from airflow_provider_akool.archive.batch import archive_resources
    from airflow_provider_akool.archive.discovery import dedupe, refuse_disallowed
    from airflow_provider_akool.archive.manifest import Manifest, write_manifest
    from airflow_provider_akool.archive.progress import BatchProgressLog, format_bytes
    from airflow_provider_akool.archive.urls import redact_url

    checked = settings.checked() if isinstance(settings, ArchiveSettings) else settings
    if checked.needs_discovery and akool_client is None:
        raise ArchiveInputError("akool_client: needed to look up avatar_ids, all_avatars or all_voices")
    bucket = checked.s3_bucket
    _check_bucket_exists(s3_client, bucket)
    discovered, problems = _discover(checked, akool_client, task_log)
    fetchable, refused = refuse_disallowed(discovered, schemes=checked.schemes, allowed_hosts=checked.allowed_hosts)
    specs = dedupe([*checked.specs, *fetchable])
    if not specs:
        task_log.warning("No resource URL to archive (inputs and discovery gave none)")
    task_log.info(
        "Archiving %d resource(s) to s3://%s/%s, %d at a time, soonest-to-expire first",
        len(specs),
        bucket,
        checked.s3_prefix,
        checked.max_concurrency,
    )
    progress = BatchProgressLog(task_log, len(specs), checked.progress_interval)
    with ExitStack() as stack:
        stack.enter_context(_query_strings_cut_from_httpx_logs())
        http = http_client or stack.enter_context(httpx.Client(timeout=httpx.Timeout(60.0, connect=15.0)))
        results = archive_resources(
            specs,
            s3_client=s3_client,
            http_client=http,
            bucket=bucket,
            prefix=checked.s3_prefix,
            key_template=checked.key_template,
            max_concurrency=checked.max_concurrency,
            options=checked.copy_options,
            progress=progress.progress,
            on_result=progress.result,
            cancel=cancel,
            on_pass=progress.source_pass,
        )
    # Signed URLs carry a credential; the manifest outlives it and has more readers than the task.
    entries = [r.model_copy(update={"source_url": redact_url(r.source_url)}) for r in [*problems, *refused, *results]]
    manifest = Manifest.from_results(entries, bucket=bucket, prefix=checked.s3_prefix)
    uri = write_manifest(manifest, s3_client, key=checked.manifest_key)
    task_log.info(
        "Archive done: %s; %s uploaded; manifest %s",
        ", ".join(f"{n} {status.value}" for status, n in manifest.totals.counts.items()),
        format_bytes(manifest.totals.bytes_uploaded),
        uri,
    )
    return ArchiveOutcome(entries=entries, manifest=manifest, manifest_uri=uri)


def _check_bucket_exists(s3_client: S3Client, bucket: str) -> None:
    """A missing bucket is the caller's mistake: fail before fetching anything."""
    from botocore.exceptions import ClientError

    try:
        s3_client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in MISSING_BUCKET_CODES:
            raise ArchiveInputError(f"s3_bucket: bucket {bucket!r} does not exist") from None
        # 403: the role may write objects without ListBucket; let the copies find out.


def _discover(
    checked: CheckedArchiveSettings, akool_client: Callable[[], AkoolClient] | None, task_log: TaskLog
) -> tuple[list[ResourceSpec], list[ArchiveResult]]:
    from airflow_provider_akool.archive.discovery import discover_avatars, discover_voices

    if not checked.needs_discovery or akool_client is None:
        return [], []
    with akool_client() as client:
        specs, problems = discover_avatars(
            client,
            avatar_ids=checked.avatar_ids,
            all_avatars=checked.all_avatars,
            platforms=checked.avatar_platforms,
        )
        if checked.all_voices:
            specs += discover_voices(client, voice_types=checked.voice_types)
    task_log.info("Discovered %d resource URL(s) through the Akool API", len(specs))
    return specs, problems


@contextmanager
def _query_strings_cut_from_httpx_logs() -> Iterator[None]:
    from airflow_provider_akool.archive.progress import RedactQueryFilter

    redact = RedactQueryFilter()
    logging.getLogger("httpx").addFilter(redact)
    try:
        yield
    finally:
        logging.getLogger("httpx").removeFilter(redact)
