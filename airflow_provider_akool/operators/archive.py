"""AkoolArchiveToS3Operator: copy Akool's 7-day resources into S3, with a manifest and Asset events."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import Asset, AssetAlias, BaseOperator

from airflow_provider_akool._compat import AirflowException, AirflowFailException
from airflow_provider_akool.archive.settings import SCHEMES, ArchiveSettings, as_list

if TYPE_CHECKING:
    from airflow.sdk import Context
    from mypy_boto3_s3.client import S3Client

    from airflow_provider_akool.archive.run import ArchiveOutcome
    from airflow_provider_akool.client import AkoolClient

DEFAULT_ASSET_ALIAS = "akool_archive"
SUMMARY_XCOM_KEY = "archive_summary"


def asset_uri(bucket: str, key: str) -> str:
    """``s3://bucket/key`` with the key percent-encoded where RFC 3986 needs it (sanitised keys are unchanged)."""
    return f"s3://{bucket}/{quote(key, safe='/()')}"


class AkoolArchiveToS3Operator(BaseOperator):
    """Archive Akool resources (valid for 7 days, docs/reference/akool-api.md §5.4) to S3, streamed and verified.

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

    Parameters are checked by ``archive.ArchiveSettings`` (literal values when the DAG is parsed,
    all of them after rendering, before any request; a bad one fails the task without retries,
    naming it) and the work is ``archive.run_archive``: this class adds templating, the S3Hook,
    the Akool connection, Asset events and XCom.

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
        declared = ArchiveSettings(
            s3_bucket=s3_bucket,
            sources=sources,
            avatar_ids=avatar_ids,
            all_avatars=all_avatars,
            all_voices=all_voices,
            avatar_platforms=avatar_platforms,
            voice_types=voice_types,
            manifest_key=manifest_key,
            max_concurrency=max_concurrency,
            upload_concurrency=upload_concurrency,
            part_size=part_size,
            hash_first=hash_first,
            allowed_schemes=allowed_schemes,
            progress_interval=progress_interval,
        )
        schemes = declared.check_declared()  # templated values are checked after rendering
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

    def _settings(self, context: Context) -> ArchiveSettings:
        """The rendered parameters; a manifest key by default per DAG run, task and map index."""
        from airflow_provider_akool.archive.keys import run_manifest_key

        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        default_manifest = run_manifest_key(
            self.s3_prefix,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=map_index if isinstance(map_index, int) else -1,
        )
        return ArchiveSettings(
            s3_bucket=self.s3_bucket,
            # Declared inputs were checked at construction; None from upstream: nothing this time.
            sources=[] if self.sources is None else self.sources,
            avatar_ids=self.avatar_ids,
            all_avatars=self.all_avatars,
            all_voices=self.all_voices,
            avatar_platforms=self.avatar_platforms,
            voice_types=self.voice_types,
            s3_prefix=self.s3_prefix,
            key_template=self.key_template,
            manifest_key=self.manifest_key or default_manifest,
            max_concurrency=self.max_concurrency,
            upload_concurrency=self.upload_concurrency,
            part_size=self.part_size,
            skip_existing=self.skip_existing,
            hash_first=self.hash_first,
            allowed_schemes=self.allowed_schemes,
            allowed_hosts=self.allowed_hosts,
            progress_interval=self.progress_interval,
        )

    def _s3_client(self) -> S3Client:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.config import Config

        hook = S3Hook(aws_conn_id=self.aws_conn_id)
        # Worker threads share the client: one pooled connection per part in flight (see batch.py).
        pool = Config(max_pool_connections=self.max_concurrency * self.upload_concurrency + 4)
        client: S3Client = hook.get_client_type(config=hook.config.merge(pool))
        return client

    def _akool_client(self) -> AkoolClient:
        from airflow_provider_akool.hooks.akool import AkoolHook

        return AkoolHook(akool_conn_id=self.akool_conn_id).get_client()

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_akool.archive import ArchiveInputError, run_archive
        from airflow_provider_akool.fail_fast import fail_fast_on_account_errors

        self._cancel = threading.Event()
        try:
            settings = self._settings(context).checked()
            s3 = self._s3_client()
            with fail_fast_on_account_errors(self.akool_conn_id):
                outcome = run_archive(
                    settings, s3_client=s3, akool_client=self._akool_client, task_log=self.log, cancel=self._cancel
                )
        except ArchiveInputError as exc:
            raise AirflowFailException(f"{self.task_id}: invalid input: {exc}") from None
        summary = {**outcome.summary(), "asset_events": self._emit_assets(context, s3, outcome)}
        failure = outcome.failure_message()
        if failure:
            context["ti"].xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
            raise AirflowException(failure)
        return summary

    def on_kill(self) -> None:
        """Stop queued copies and abort the running multipart uploads (no partial objects remain)."""
        if self._cancel is not None:
            self._cancel.set()

    # -- Asset events --------------------------------------------------------------------------
    def _emit_assets(self, context: Context, s3: S3Client, outcome: ArchiveOutcome) -> int:
        """One Asset event per object this run stored; on a retry, also those an earlier, failed
        try of the same run stored (Airflow dropped that try's events)."""
        if not self.asset_alias:
            return 0
        ti, dag_run = context["ti"], context.get("dag_run")
        started = getattr(dag_run, "start_date", None)
        retried = (getattr(ti, "try_number", 1) or 1) > 1 and isinstance(started, datetime)
        accessor = context["outlet_events"][AssetAlias(name=self.asset_alias)]
        emitted = 0
        for entry in outcome.stored_objects(s3, since=started if retried else None):
            try:
                asset = Asset(uri=asset_uri(outcome.manifest.bucket, entry.key or ""))
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
