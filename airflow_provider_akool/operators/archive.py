"""AkoolArchiveToS3Operator: copy Akool's 7-day resources into S3, with a manifest and Asset events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import Asset, AssetAlias, BaseOperator

from airflow_provider_akool._compat import AirflowException, AirflowFailException
from airflow_provider_akool.archive.keys import check_bucket
from airflow_provider_akool.operators._archive_parameters import (
    SCHEMES,
    as_list,
    check_archive_parameters,
    check_manifest_key,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from mypy_boto3_s3.client import S3Client

    from airflow_provider_akool.archive import ArchiveResult, ResourceSpec

DEFAULT_ASSET_ALIAS = "akool_archive"
SUMMARY_XCOM_KEY = "archive_summary"
MAX_NAMED_FAILURES = 20


def asset_uri(bucket: str, key: str) -> str:
    """``s3://bucket/key`` with the key percent-encoded where RFC 3986 needs it (sanitised keys are unchanged)."""
    return f"s3://{bucket}/{quote(key, safe='/()')}"


class AkoolArchiveToS3Operator(BaseOperator):
    """Archive Akool resources (valid for 7 days, akool-api.md §5.4) to S3, streamed and verified.

    What to archive (any mix; a URL listed twice is archived once): ``sources`` — URLs or
    records from upstream tasks (XComArg-friendly): the avatar operator's record, voice records,
    ``Avatar``/``Voice`` dumps or ``ResourceSpec``-shaped dicts; nested lists are flattened and
    ``None`` skipped — and/or ``avatar_ids``, ``all_avatars``, ``all_voices`` (Akool API).

    Copies run soonest-to-expire first, ``max_concurrency`` at a time. An object already
    archived with the same content is skipped; a 403/410 source is recorded as ``expired``; any
    other failure is recorded and the rest continue. The manifest (per resource: source URL, S3
    URI, size, sha256, content type, created/expires at, status, reason) goes to ``manifest_key``
    or ``<prefix>/manifests/<dag_id>/<run_id>/<task_id>.json`` (a retry replaces it); then the
    task fails if anything failed, naming each. The returned summary (also pushed as
    ``archive_summary`` before failing) has counts, ``bytes_uploaded`` (0 on a re-run),
    ``bytes_stored``, failed/expired names, ``manifest_uri`` and ``asset_events``.

    Signed URLs carry a credential in the query string. The full URL is fetched, but names, the
    manifest's ``source_url``, Asset event extras and httpx's log lines keep only scheme, host,
    path and parameter names (values become ``REDACTED``): the manifest outlives the signature
    and has more readers than the task. Skipping compares a hash of the full URL instead (the copier's
    ``source-url`` object metadata is redacted the same way).

    Asset events: every object archived by this task (or, on a retry, by an earlier try of the
    same run) is added to the ``AssetAlias(asset_alias)`` outlet as ``Asset("s3://bucket/key")``
    with extra sha256, size, content_type, resource. Airflow keeps outlet events only when the
    task succeeds; skipped objects emit none.

    :param s3_bucket: destination bucket (templated).
    :param sources: URLs or records, see above (templated).
    :param avatar_ids: avatars to look up through the API (templated).
    :param all_avatars: archive every avatar listed on ``avatar_platforms`` (open, aigc).
    :param all_voices: archive the preview of every voice of ``voice_types`` (1 clones, 2 Akool).
    :param s3_prefix: first key segment(s) (templated).
    :param key_template: ``{prefix}``, ``{kind}``, ``{owner_id}``, ``{file_name}`` (templated;
        default ``{prefix}/{kind}/{owner_id}/{file_name}``), each sanitised (no ``..``, no
        absolute paths). Kinds: avatar-video, avatar-modified-video, avatar-thumbnail,
        voice-preview, url.
    :param manifest_key: S3 key of the manifest JSON (templated).
    :param aws_conn_id: AWS connection, used through ``S3Hook`` (templated).
    :param akool_conn_id: Akool connection, used only for discovery (templated).
    :param max_concurrency: resources copied at the same time (1-64).
    :param upload_concurrency: parts of one object in flight (1-64); memory per copy is about
        ``part_size x (upload_concurrency + 1)``.
    :param part_size: base multipart part size (>= 5 MiB; grown for huge objects).
    :param skip_existing: keep objects already archived with the same content.
    :param hash_first: for files larger than one part or of unknown size, read the source once to
        hash it, then upload it with the sha256 in its metadata rather than in object tags (for
        readers that only look at metadata). Twice the source egress; a source that changes
        between the reads fails, storing nothing.
    :param allowed_schemes: subset of http, https; file://, ftp:// and others are never fetched.
    :param allowed_hosts: only fetch from these hosts (``.example.com`` also matches subdomains).
    :param asset_alias: name of the AssetAlias outlet; None emits no Asset events.
    :param progress_interval: seconds between progress lines in the task log.
    """

    template_fields: Sequence[str] = (
        "sources",
        "avatar_ids",
        "s3_bucket",
        "s3_prefix",
        "key_template",
        "manifest_key",
        "aws_conn_id",
        "akool_conn_id",
        "allowed_hosts",
    )
    template_fields_renderers = {"sources": "json"}
    ui_color = "#e3f2e1"

    def __init__(
        self,
        *,
        s3_bucket: str,
        sources: Any = None,
        avatar_ids: Sequence[str] | str | None = None,
        all_avatars: bool = False,
        all_voices: bool = False,
        avatar_platforms: Sequence[str] = ("open",),
        voice_types: Sequence[int] = (1, 2),
        s3_prefix: str = "akool",
        key_template: str | None = None,
        manifest_key: str | None = None,
        aws_conn_id: str | None = "aws_default",
        akool_conn_id: str = "akool_default",
        max_concurrency: int = 4,
        upload_concurrency: int = 4,
        part_size: int | None = None,
        skip_existing: bool = True,
        hash_first: bool = False,
        allowed_schemes: Sequence[str] = SCHEMES,
        allowed_hosts: Sequence[str] | None = None,
        asset_alias: str | None = DEFAULT_ASSET_ALIAS,
        progress_interval: float = 15.0,
        **kwargs: Any,
    ) -> None:
        if asset_alias is not None and (not isinstance(asset_alias, str) or not asset_alias.strip()):
            raise ValueError("asset_alias: must be a non-empty name, or None for no Asset events")
        if asset_alias:
            kwargs["outlets"] = [*as_list(kwargs.get("outlets")), AssetAlias(name=asset_alias)]
        super().__init__(**kwargs)
        schemes = check_archive_parameters(
            sources=sources, avatar_ids=avatar_ids, all_avatars=all_avatars, all_voices=all_voices,
            s3_bucket=s3_bucket, max_concurrency=max_concurrency, upload_concurrency=upload_concurrency,
            part_size=part_size, hash_first=hash_first, progress_interval=progress_interval,
            allowed_schemes=allowed_schemes, avatar_platforms=avatar_platforms, voice_types=voice_types,
            manifest_key=manifest_key,
        )
        self.s3_bucket = s3_bucket
        self.sources = sources
        self.avatar_ids = avatar_ids
        self.all_avatars = all_avatars
        self.all_voices = all_voices
        self.avatar_platforms = tuple(as_list(avatar_platforms))
        self.voice_types = tuple(as_list(voice_types))
        self.s3_prefix = s3_prefix
        self.key_template = key_template
        self.manifest_key = manifest_key
        self.aws_conn_id = aws_conn_id
        self.akool_conn_id = akool_conn_id
        self.max_concurrency = max_concurrency
        self.upload_concurrency = upload_concurrency
        self.part_size = part_size
        self.skip_existing = skip_existing
        self.hash_first = hash_first
        self.allowed_schemes = tuple(sorted(schemes))
        self.allowed_hosts = allowed_hosts
        self.asset_alias = asset_alias
        self.progress_interval = float(progress_interval)
        self._cancel: threading.Event | None = None

    # -- input ---------------------------------------------------------------------------------
    def _inputs(self) -> tuple[list[ResourceSpec], list[str], str, str, str | None]:
        """Rendered and checked (specs from sources, avatar ids, bucket, key template, manifest key)."""
        from airflow_provider_akool.archive import DEFAULT_KEY_TEMPLATE, build_key
        from airflow_provider_akool.archive.discovery import specs_from_inputs

        try:
            bucket = check_bucket(self.s3_bucket, field="s3_bucket")
            template = self.key_template or DEFAULT_KEY_TEMPLATE
            try:
                build_key(template, source_url="https://h/f", prefix="p", kind="k", owner_id="o", file_name="f")
            except ValueError as exc:
                raise ValueError(f"key_template: {exc}") from None
            manifest_key = check_manifest_key(self.manifest_key)
            hosts = as_list(self.allowed_hosts) or None
            if hosts is not None and not all(isinstance(h, str) and h.strip() for h in hosts):
                raise ValueError("allowed_hosts: must be a list of host names")
            specs = specs_from_inputs(
                self.sources, field="sources", schemes=frozenset(self.allowed_schemes), allowed_hosts=hosts
            )
            ids = [str(i).strip() for i in as_list(self.avatar_ids)]
            bad = [i for i in ids if not i or len(i) > 128 or any(c.isspace() or c in "/\\?#" for c in i)]
            if bad:
                raise ValueError(f"avatar_ids: not avatar ids: {bad[:5]!r}")
        except ValueError as exc:
            raise AirflowFailException(f"{self.task_id}: invalid input: {exc}") from None
        return specs, list(dict.fromkeys(ids)), bucket, template, manifest_key

    def _discover(self, ids: list[str]) -> tuple[list[ResourceSpec], list[ArchiveResult]]:
        from airflow_provider_akool.archive.discovery import discover_avatars, discover_voices
        from airflow_provider_akool.fail_fast import fail_fast_on_account_errors
        from airflow_provider_akool.hooks.akool import AkoolHook

        if not (ids or self.all_avatars or self.all_voices):
            return [], []
        hook = AkoolHook(akool_conn_id=self.akool_conn_id)
        with fail_fast_on_account_errors(self.akool_conn_id), hook.get_client() as client:
            specs, problems = discover_avatars(
                client, avatar_ids=ids, all_avatars=self.all_avatars, platforms=self.avatar_platforms
            )
            if self.all_voices:
                specs += discover_voices(client, voice_types=self.voice_types)
        self.log.info("Discovered %d resource URL(s) through the Akool API", len(specs))
        return specs, problems

    def _s3_client(self) -> S3Client:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.config import Config

        hook = S3Hook(aws_conn_id=self.aws_conn_id)
        # Worker threads share the client: one pooled connection per part in flight (see batch.py).
        pool = Config(max_pool_connections=self.max_concurrency * self.upload_concurrency + 4)
        client: S3Client = hook.get_client_type(config=hook.config.merge(pool))
        return client

    def _default_manifest_key(self, context: Context, prefix: str) -> str:
        from airflow_provider_akool.archive import build_key

        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        suffix = f"-{map_index}" if isinstance(map_index, int) and map_index >= 0 else ""
        return build_key(
            "{prefix}/manifests/{dag}/{run}/{file_name}",
            prefix=prefix,
            dag=ti.dag_id,
            run=ti.run_id,
            file_name=f"{ti.task_id}{suffix}.json",
        )

    # -- execute -------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        import httpx
        from botocore.exceptions import ClientError

        from airflow_provider_akool.archive import (
            DEFAULT_PART_SIZE,
            CopyOptions,
            Manifest,
            archive_resources,
            format_bytes,
            write_manifest,
        )
        from airflow_provider_akool.archive.discovery import dedupe, refuse_disallowed
        from airflow_provider_akool.archive.progress import BatchProgressLog, RedactQueryFilter
        from airflow_provider_akool.archive.urls import redact_url

        given, ids, bucket, template, manifest_key = self._inputs()
        s3 = self._s3_client()
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchBucket", "NotFound"):
                raise AirflowFailException(f"s3_bucket: bucket {bucket!r} does not exist") from None
            # 403: the role may write objects without ListBucket; let the copies find out.
        discovered, problems = self._discover(ids)
        fetchable, refused = refuse_disallowed(
            discovered, schemes=frozenset(self.allowed_schemes), allowed_hosts=as_list(self.allowed_hosts) or None
        )
        specs = dedupe([*given, *fetchable])
        pre_failed = [*problems, *refused]
        if not specs:
            self.log.warning("No resource URL to archive (inputs and discovery gave none)")
        options = CopyOptions(
            part_size=self.part_size or DEFAULT_PART_SIZE,
            upload_concurrency=self.upload_concurrency,
            allowed_hosts=frozenset(as_list(self.allowed_hosts)) or None,
            progress_interval=min(self.progress_interval / 2, 5.0),
            skip_existing=self.skip_existing,
            hash_first=self.hash_first,
        )
        self.log.info(
            "Archiving %d resource(s) to s3://%s/%s, %d at a time, soonest-to-expire first",
            len(specs),
            bucket,
            self.s3_prefix,
            self.max_concurrency,
        )
        progress = BatchProgressLog(self.log, len(specs), self.progress_interval)
        self._cancel = threading.Event()
        redact = RedactQueryFilter()
        logging.getLogger("httpx").addFilter(redact)
        try:
            with httpx.Client(timeout=httpx.Timeout(60.0, connect=15.0)) as http:
                results = archive_resources(
                    specs,
                    s3_client=s3,
                    http_client=http,
                    bucket=bucket,
                    prefix=self.s3_prefix,
                    key_template=template,
                    max_concurrency=self.max_concurrency,
                    options=options,
                    progress=progress.progress,
                    on_result=progress.result,
                    cancel=self._cancel,
                    on_pass=progress.source_pass,
                )
        finally:
            logging.getLogger("httpx").removeFilter(redact)
        entries = [r.model_copy(update={"source_url": redact_url(r.source_url)}) for r in [*pre_failed, *results]]
        manifest = Manifest.from_results(entries, bucket=bucket, prefix=self.s3_prefix)
        uri = write_manifest(manifest, s3, key=manifest_key or self._default_manifest_key(context, self.s3_prefix))
        events = self._emit_assets(context, s3, bucket, entries)
        summary = {**manifest.summary(manifest_uri=uri), "bucket": bucket, "asset_events": events}
        self.log.info(
            "Archive done: %s; %s uploaded; manifest %s",
            ", ".join(f"{n} {s}" for s, n in summary["counts"].items()),
            format_bytes(manifest.totals.bytes_uploaded),
            uri,
        )
        failed = [e for e in entries if e.status.value == "failed"]
        if failed:
            context["ti"].xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
            named = "; ".join(f"{e.name} ({e.reason})" for e in failed[:MAX_NAMED_FAILURES])
            more = f"; and {len(failed) - MAX_NAMED_FAILURES} more" if len(failed) > MAX_NAMED_FAILURES else ""
            raise AirflowException(f"{len(failed)} of {len(entries)} resource(s) failed: {named}{more}; manifest {uri}")
        return summary

    def on_kill(self) -> None:
        """Stop queued copies and abort the running multipart uploads (no partial objects remain)."""
        if self._cancel is not None:
            self._cancel.set()

    # -- Asset events --------------------------------------------------------------------------
    def _emit_assets(self, context: Context, s3: S3Client, bucket: str, entries: list[ArchiveResult]) -> int:
        if not self.asset_alias:
            return 0
        chosen = [e for e in entries if e.status.value == "archived"]
        chosen += self._archived_by_earlier_try(context, s3, bucket, entries)
        accessor = context["outlet_events"][AssetAlias(name=self.asset_alias)]
        emitted = 0
        for entry in chosen:
            if not entry.key:
                continue
            try:
                asset = Asset(uri=asset_uri(bucket, entry.key))
            except (ValueError, TypeError) as exc:
                self.log.warning("No Asset event for %s: %s", entry.name, exc)
                continue
            extra: dict[str, Any] = {
                "sha256": entry.sha256,
                "size": entry.size,
                "content_type": entry.content_type,
                "resource": entry.name,
            }
            accessor.add(asset, extra=extra)
            emitted += 1
        return emitted

    def _archived_by_earlier_try(
        self, context: Context, s3: S3Client, bucket: str, entries: list[ArchiveResult]
    ) -> list[ArchiveResult]:
        """Skipped objects whose ``archived-at`` is after the DAG run started: an earlier try of this
        run archived them, but its Asset events were dropped because that try failed."""
        from airflow_provider_akool.archive.existing import META_ARCHIVED_AT, head_destination

        ti, dag_run = context["ti"], context.get("dag_run")
        since = getattr(dag_run, "start_date", None)
        if (getattr(ti, "try_number", 1) or 1) <= 1 or not isinstance(since, datetime):
            return []
        since = since.replace(microsecond=0)  # archived-at has whole seconds
        found: list[ArchiveResult] = []
        for entry in entries:
            if entry.status.value != "skipped" or not entry.key:
                continue
            try:
                stored = head_destination(s3, bucket, entry.key)
                stamp = stored.metadata.get(META_ARCHIVED_AT) if stored else None
                if stamp and datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= since:
                    found.append(entry)
            except Exception as exc:  # an Asset event is not worth failing the task for
                self.log.warning("Could not read archived-at of %s: %s", entry.key, exc)
        return found
