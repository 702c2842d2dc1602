"""ArchiveSettings and run_archive from a plain script (no Airflow): checks name the field, one call archives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from archive_fileserver import FileServer, Resource, deterministic_bytes
from s3_support import S3Calls

from airflow_provider_akool.archive import (
    ArchiveInputError,
    ArchiveOutcome,
    ArchiveResult,
    ArchiveSettings,
    ArchiveStatus,
    CopyOptions,
    Manifest,
    ResourceSpec,
    run_archive,
    run_manifest_key,
)


def stored(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


# -- one place that checks every parameter -----------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sources": None}, "sources: nothing to archive"),
        ({"s3_bucket": "Bad_Bucket"}, "s3_bucket"),
        ({"max_concurrency": 65}, r"max_concurrency: must be an integer between 1 and 64 \(got 65\)"),
        ({"upload_concurrency": True}, r"upload_concurrency: .* \(got True\)"),
        ({"part_size": 1024}, "part_size"),
        ({"hash_first": "yes"}, "hash_first: must be True or False"),
        ({"progress_interval": -1}, "progress_interval"),
        ({"allowed_schemes": ["gopher"]}, "allowed_schemes"),
        ({"avatar_platforms": ["all"]}, "avatar_platforms"),
        ({"voice_types": [0]}, "voice_types"),
        ({"manifest_key": "../up.json"}, "manifest_key"),
        ({"sources": ["ftp://files.example/a.mp4"]}, r"sources\[0\]: scheme 'ftp' is not allowed"),
        ({"sources": [{"voice_id": "v", "preview": "file:///etc/passwd"}]}, r"sources\[0\]\.preview: scheme 'file'"),
        ({"allowed_hosts": [""]}, "allowed_hosts"),
        ({"sources": ["https://evil.example/a"], "allowed_hosts": ["cdn.example"]}, "host 'evil.example'"),
        ({"key_template": "{prefix}/{colour}"}, "key_template"),
        ({"avatar_ids": ["ok", "has space"]}, "avatar_ids"),
    ],
)
def test_checked_refuses_each_bad_parameter_naming_it(fields: dict[str, Any], message: str) -> None:
    settings = ArchiveSettings(**{"s3_bucket": "akool-bucket", "sources": ["https://cdn.example/a.mp4"], **fields})
    with pytest.raises(ArchiveInputError, match=message):
        settings.checked()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"s3_bucket": "{{ params.bucket }}"}, "s3_bucket"),
        ({"manifest_key": "/{{ params.manifest }}"}, "manifest_key"),
        ({"sources": ["https://cdn.example/a.mp4", "{{ params.url }}"]}, r"sources\[1\]"),
        ({"sources": [{"url": "ftp://later.example/x"}]}, r"sources\[0\]\.url: scheme 'ftp'"),
        ({"avatar_ids": ["not an id"]}, "avatar_ids"),
        ({"key_template": "{{ params.root }}/{colour}/{file_name}"}, "key_template"),
    ],
)
def test_declared_check_leaves_templates_and_records_to_run_time(fields: dict[str, Any], message: str) -> None:
    settings = ArchiveSettings(**{"s3_bucket": "akool-bucket", "sources": ["https://cdn.example/a.mp4"], **fields})
    assert settings.check_declared() == frozenset({"http", "https"})  # fine when the DAG is parsed ...
    with pytest.raises(ArchiveInputError, match=message):
        settings.checked()  # ... refused if rendering left it unusable


def test_checked_settings_are_normalised() -> None:
    checked = ArchiveSettings(
        s3_bucket="akool-bucket",
        sources="https://cdn.example/a.mp4",
        avatar_ids=[" av1 ", "av1", "av2"],
        allowed_schemes=["HTTPS"],
        allowed_hosts=["CDN.example"],
        upload_concurrency=2,
        progress_interval=4,
    ).checked()
    assert [spec.url for spec in checked.specs] == ["https://cdn.example/a.mp4"]
    assert checked.avatar_ids == ("av1", "av2") and checked.needs_discovery
    assert checked.schemes == frozenset({"https"}) and checked.allowed_hosts == frozenset({"cdn.example"})
    assert checked.copy_options.upload_concurrency == 2 and checked.copy_options.progress_interval == 2.0
    assert checked.manifest_key is None  # Manifest.default_key() when written


def test_copy_options_apply_the_same_rules() -> None:
    with pytest.raises(ValueError, match=r"upload_concurrency: must be an integer between 1 and 64 \(got True\)"):
        CopyOptions(upload_concurrency=True)
    with pytest.raises(ValueError, match="hash_first: must be True or False"):
        CopyOptions(hash_first=1)  # type: ignore[arg-type]


def test_run_manifest_key_is_one_per_task_run_and_map_index() -> None:
    assert run_manifest_key("akool", dag_id="d", run_id="manual__2026-01-01T00:00", task_id="t") == (
        "akool/manifests/d/manual_2026-01-01T00_00/t.json"
    )
    assert run_manifest_key("akool", dag_id="d", run_id="r", task_id="t", map_index=3).endswith("/t-3.json")


# -- run_archive -------------------------------------------------------------------------------
def test_run_archive_copies_dedupes_and_writes_a_redacted_manifest(files: FileServer, s3: Any, bucket: str) -> None:
    body = deterministic_bytes(40_000, seed=7)
    signed = files.add("/clip.mp4?Signature=s3cr3t", Resource(body, content_type="video/mp4"))
    other = files.add("/voice.mp3", Resource(b"v" * 500, content_type="audio/mpeg"))
    settings = ArchiveSettings(
        s3_bucket=bucket,
        sources=[signed, {"voice_id": "vo1", "preview": other}, signed],  # the clip twice: archived once
        s3_prefix="plain",
        manifest_key="plain/manifests/run.json",
    )
    outcome = run_archive(settings, s3_client=s3)

    assert outcome.failure_message() is None
    summary = outcome.summary()
    assert summary["counts"] == {"archived": 2, "skipped": 0, "expired": 0, "failed": 0}
    assert summary["manifest_uri"] == f"s3://{bucket}/plain/manifests/run.json" and summary["bucket"] == bucket
    keys = stored(s3, bucket)
    assert len(keys) == 3 and "plain/voice-preview/vo1/voice.mp3" in keys
    text = s3.get_object(Bucket=bucket, Key="plain/manifests/run.json")["Body"].read().decode()
    assert "s3cr3t" not in text and "Signature=REDACTED" in text
    assert len(files.requests_for("/clip.mp4?Signature=s3cr3t")) == 1
    assert [e.key for e in outcome.stored_objects(s3)] == [e["key"] for e in json.loads(text)["entries"]]


def test_run_archive_reports_failures_without_raising(files: FileServer, s3: Any, bucket: str) -> None:
    good = files.add("/good.mp4", Resource(b"g" * 300))
    missing = files.url("/missing.mp4")
    outcome = run_archive(
        ArchiveSettings(s3_bucket=bucket, sources=[good, ResourceSpec(url=missing, name="the missing one")]),
        s3_client=s3,
    )
    message = outcome.failure_message()
    assert message is not None and message.startswith("1 of 2 resource(s) failed: the missing one (")
    assert message.endswith(f"manifest {outcome.manifest_uri}")
    assert [e.name for e in outcome.failed] == ["the missing one"]
    assert any(k.endswith("/good.mp4") for k in stored(s3, bucket))


def test_run_archive_refuses_a_missing_bucket_before_fetching(files: FileServer, s3: Any) -> None:
    url = files.add("/a.mp4", Resource(b"a" * 100))
    with pytest.raises(ArchiveInputError, match="s3_bucket: bucket 'no-such-bucket-here' does not exist"):
        run_archive(ArchiveSettings(s3_bucket="no-such-bucket-here", sources=[url]), s3_client=s3)
    assert files.log == []


def test_discovery_without_a_client_is_refused_before_any_request(s3: Any, s3_calls: S3Calls) -> None:
    with pytest.raises(ArchiveInputError, match="akool_client"):
        run_archive(ArchiveSettings(s3_bucket="akool-bucket", all_voices=True), s3_client=s3)
    assert s3_calls.names == []


def test_failure_message_names_the_first_twenty_and_counts_the_rest() -> None:
    entries = [
        ArchiveResult(name=f"r{i}", source_url="", status=ArchiveStatus.FAILED, reason="HTTP 404") for i in range(22)
    ]
    entries.append(ArchiveResult(name="kept", source_url="", status=ArchiveStatus.SKIPPED))
    outcome = ArchiveOutcome(
        entries=entries, manifest=Manifest.from_results(entries, bucket="b-1", prefix="p"), manifest_uri="s3://b-1/m"
    )
    message = outcome.failure_message() or ""
    assert message.startswith("22 of 23 resource(s) failed: r0 (HTTP 404); r1 (HTTP 404);")
    assert "r19 (HTTP 404); and 2 more; manifest s3://b-1/m" in message and "r20" not in message
