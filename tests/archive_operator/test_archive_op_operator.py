"""AkoolArchiveToS3Operator against akool-sim (the source CDN and API) and a SeaweedFS S3 server."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import Asset
from archive_op_support import (
    alias_events,
    keys,
    object_sha256,
    read_manifest,
    sim_client,
    source_sha256,
)
from s3_support import verified_sha256
from task_support import make_context

from airflow_provider_akool._compat import AirflowException
from airflow_provider_akool.avatar_wait import avatar_record, describe_avatar
from airflow_provider_akool.operators.archive import AkoolArchiveToS3Operator
from airflow_provider_akool.sim.runner import SimServer

EIGHT_DAYS = 8 * 24 * 3600.0


def avatar_records(sim: SimServer, *avatar_ids: str) -> list[dict[str, Any]]:
    """What AkoolCreateAvatarOperator returns for these avatars (creation time from the upload record)."""
    client = sim_client(sim)
    return [avatar_record(describe_avatar(client.read_avatar(a, want=("status", "create_time")))) for a in avatar_ids]


def archive(bucket: str, aws_conn: str, **fields: Any) -> AkoolArchiveToS3Operator:
    return AkoolArchiveToS3Operator(task_id="archive", s3_bucket=bucket, aws_conn_id=aws_conn, **fields)


def test_avatar_records_are_archived_verified_and_listed_in_the_manifest(
    sim: SimServer, s3: Any, bucket: str, aws_conn: str
) -> None:
    records = avatar_records(sim, "dvp_Tristan_cloth2_1080P", "dvp_Mirela_studio_1080P")
    context = make_context(dag_id="archive_dag", task_id="archive")
    summary = archive(bucket, aws_conn, sources=records).execute(context)

    assert summary["counts"] == {"archived": 4, "skipped": 0, "expired": 0, "failed": 0}
    assert summary["bytes_uploaded"] == summary["bytes_stored"] == 4 * sim.config.resource_size_bytes
    assert summary["manifest_uri"] == f"s3://{bucket}/akool/manifests/archive_dag/manual_2026-01-01/archive.json"
    manifest = read_manifest(s3, summary["manifest_uri"])
    assert manifest["totals"]["counts"]["archived"] == 4
    by_url = {e["source_url"]: e for e in manifest["entries"]}
    for record in records:
        for field, kind, content_type in (
            ("url", "avatar-video", "video/mp4"),
            ("thumbnail_url", "avatar-thumbnail", "image/jpeg"),
        ):
            entry = by_url[record[field]]
            key = f"akool/{kind}/{record['avatar_id']}/{record[field].rsplit('/', 1)[-1]}"
            assert entry["status"] == "archived"
            assert entry["s3_uri"] == f"s3://{bucket}/{key}"
            assert entry["sha256"] == object_sha256(s3, bucket, key) == source_sha256(record[field])
            assert entry["size"] == sim.config.resource_size_bytes
            assert entry["content_type"] == content_type
            head = s3.head_object(Bucket=bucket, Key=key)
            assert head["ContentType"] == content_type
            assert verified_sha256(s3, bucket, key) == entry["sha256"]
            created = datetime.fromisoformat(record["created_at"])
            assert datetime.fromisoformat(entry["created_at"]) == created
            assert datetime.fromisoformat(entry["expires_at"]) == created + timedelta(days=7)
    assert context["ti"].pushed == []  # success: the summary is the return value


def test_rerun_uploads_nothing_and_the_manifest_says_skipped(
    sim: SimServer, s3: Any, bucket: str, aws_conn: str
) -> None:
    records = avatar_records(sim, "dvp_Oskar_casual_720P")
    archive(bucket, aws_conn, sources=records).execute(make_context())
    before = {k: s3.head_object(Bucket=bucket, Key=k)["LastModified"] for k in keys(s3, bucket) if "manifests" not in k}

    context = make_context()
    summary = archive(bucket, aws_conn, sources=records, manifest_key="akool/rerun.json").execute(context)

    assert summary["counts"] == {"archived": 0, "skipped": 2, "expired": 0, "failed": 0}
    assert summary["bytes_uploaded"] == 0
    assert summary["bytes_stored"] == 2 * sim.config.resource_size_bytes
    manifest = read_manifest(s3, f"s3://{bucket}/akool/rerun.json")
    assert {e["status"] for e in manifest["entries"]} == {"skipped"}
    assert all(e["bytes_uploaded"] == 0 and e["reason"] for e in manifest["entries"])
    after = {k: s3.head_object(Bucket=bucket, Key=k)["LastModified"] for k in before}
    assert after == before  # nothing rewritten
    assert alias_events(context) == []  # nothing new for downstream DAGs


def test_expired_resources_are_recorded_without_failing_the_task(
    sim: SimServer, s3: Any, bucket: str, aws_conn: str
) -> None:
    kept = avatar_records(sim, "dvp_Tristan_cloth2_1080P")
    archive(bucket, aws_conn, sources=kept).execute(make_context())  # archived in time
    late = avatar_records(sim, "dvp_Mirela_studio_1080P")
    sim.advance(EIGHT_DAYS)  # past Akool's 7 days: the CDN answers 403

    context = make_context()
    summary = archive(bucket, aws_conn, sources=[*late, *kept]).execute(context)

    assert summary["counts"] == {"archived": 0, "skipped": 2, "expired": 2, "failed": 0}
    assert sorted(summary["expired"]) == [
        "avatar dvp_Mirela_studio_1080P thumbnail",
        "avatar dvp_Mirela_studio_1080P video",
    ]
    manifest = read_manifest(s3, summary["manifest_uri"])
    statuses = {e["name"]: (e["status"], e["reason"] or "") for e in manifest["entries"]}
    assert statuses["avatar dvp_Mirela_studio_1080P video"][0] == "expired"
    assert "403" in statuses["avatar dvp_Mirela_studio_1080P video"][1]
    assert statuses["avatar dvp_Tristan_cloth2_1080P video"][0] == "skipped"  # the archive outlives the source
    assert not any("Mirela" in k for k in keys(s3, bucket))
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert alias_events(context) == []


def test_one_failing_url_does_not_stop_the_others_and_fails_the_task_naming_it(
    sim: SimServer, s3: Any, bucket: str, aws_conn: str
) -> None:
    good = [sim.add_file(4096, "video/mp4", f"good{i}.mp4") for i in range(3)]
    missing = f"{sim.url}/_sim/files/f999999/gone.mp4"  # 404 from the CDN
    context = make_context()
    op = archive(bucket, aws_conn, sources=[good[0], missing, *good[1:]], max_concurrency=2)

    with pytest.raises(AirflowException, match=r"1 of 4 resource\(s\) failed: .*/_sim/files/f999999/gone\.mp4"):
        op.execute(context)

    stored = [k for k in keys(s3, bucket) if "manifests" not in k]
    assert sorted(k.rsplit("/", 1)[-1] for k in stored) == ["good0.mp4", "good1.mp4", "good2.mp4"]
    summary = context["ti"].xcom("archive_summary")
    assert summary["counts"] == {"archived": 3, "skipped": 0, "expired": 0, "failed": 1}
    assert summary["failed"][0]["name"] == missing and "404" in summary["failed"][0]["reason"]
    manifest = read_manifest(s3, summary["manifest_uri"])
    failed = [e for e in manifest["entries"] if e["status"] == "failed"]
    assert [e["source_url"] for e in failed] == [missing]
    assert not any(k.endswith("gone.mp4") for k in keys(s3, bucket))


def test_archived_objects_are_announced_as_asset_events(sim: SimServer, s3: Any, bucket: str, aws_conn: str) -> None:
    records = avatar_records(sim, "dvp_Tristan_cloth2_1080P")
    context = make_context()
    summary = archive(bucket, aws_conn, sources=records, asset_alias="akool_media").execute(context)

    events = alias_events(context)
    assert summary["asset_events"] == len(events) == 2
    manifest = read_manifest(s3, summary["manifest_uri"])
    expected = {e["s3_uri"]: e for e in manifest["entries"]}
    for event in events:
        assert event.source_alias_name == "akool_media"
        uri = event.dest_asset_key.uri
        assert Asset(uri).uri == uri  # a valid, already normalised Asset URI
        assert event.extra["sha256"] == expected[uri]["sha256"]
        assert event.extra["size"] == expected[uri]["size"]
    assert {e.dest_asset_key.uri for e in events} == set(expected)


def test_a_retry_announces_what_the_failed_try_archived(sim: SimServer, s3: Any, bucket: str, aws_conn: str) -> None:
    """Airflow drops the outlet events of a failed try; the retry that skips those objects re-announces them."""
    run_started = datetime.now(UTC) - timedelta(seconds=5)
    good = [sim.add_file(2048, "audio/mpeg", f"take{i}.mp3") for i in range(2)]
    first = make_context(run_started=run_started)
    with pytest.raises(AirflowException):
        archive(bucket, aws_conn, sources=[*good, f"{sim.url}/_sim/files/f999999/x.mp3"]).execute(first)

    retry = make_context(try_number=2, run_started=run_started)
    archive(bucket, aws_conn, sources=good).execute(retry)
    assert sorted(e.dest_asset_key.uri.rsplit("/", 1)[-1] for e in alias_events(retry)) == ["take0.mp3", "take1.mp3"]

    next_run = make_context(try_number=2, run_started=datetime.now(UTC) + timedelta(seconds=2))
    archive(bucket, aws_conn, sources=good).execute(next_run)
    assert alias_events(next_run) == []  # archived before this run started: old news


def test_discovery_by_avatar_id_and_all_voices(sim: SimServer, s3: Any, bucket: str, aws_conn: str) -> None:
    context = make_context()
    op = archive(
        bucket, aws_conn, avatar_ids=["dvp_Tristan_cloth2_1080P", "noSuchAvatar1"], all_voices=True, voice_types=[1]
    )
    with pytest.raises(AirflowException, match=r"1 of 5 resource\(s\) failed: avatar noSuchAvatar1"):
        op.execute(context)

    stored = [k for k in keys(s3, bucket) if "manifests" not in k]
    assert stored == [
        "akool/avatar-modified-video/dvp_Tristan_cloth2_1080P/dvp_Tristan_cloth2_1080P_modify.mp4",
        "akool/avatar-thumbnail/dvp_Tristan_cloth2_1080P/dvp_Tristan_cloth2_1080P.jpg",
        "akool/avatar-video/dvp_Tristan_cloth2_1080P/dvp_Tristan_cloth2_1080P.mp4",
        "akool/voice-preview/simVoiceMyClone00005/simVoiceMyClone00005.mp3",
    ]
    manifest = read_manifest(s3, context["ti"].xcom("archive_summary")["manifest_uri"])
    video = next(e for e in manifest["entries"] if e["name"] == "avatar dvp_Tristan_cloth2_1080P video")
    assert video["expires_at"] is not None  # creation time came from the upload record


def test_signed_url_secrets_stay_out_of_manifest_xcom_events_and_logs(
    sim: SimServer,
    s3: Any,
    bucket: str,
    aws_conn: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    query = "?Expires=1999999999&Signature=s3cr3tSIGNATUREvalue"
    url = sim.add_file(4096, "video/mp4", "signed.mp4") + query
    missing = f"{sim.url}/_sim/files/f999999/gone.mp4{query}"
    context = make_context()
    with caplog.at_level(logging.INFO), pytest.raises(AirflowException) as failure:
        archive(bucket, aws_conn, sources=[url, missing], progress_interval=0).execute(context)

    summary = context["ti"].xcom("archive_summary")
    manifest_text = s3.get_object(Bucket=bucket, Key=summary["manifest_uri"].split("/", 3)[3])["Body"].read().decode()
    assert "Signature=REDACTED" in manifest_text
    captured = capsys.readouterr()
    texts = (
        manifest_text,
        repr(summary),
        repr(alias_events(context)),
        str(failure.value),
        caplog.text,
        captured.out,
        captured.err,
    )
    for text in texts:
        assert "s3cr3tSIGNATUREvalue" not in text
    assert summary["counts"]["archived"] == 1 and summary["counts"]["failed"] == 1
    assert "gone.mp4?Expires=REDACTED&Signature=REDACTED" in str(failure.value)


def test_progress_is_logged_with_bytes_rate_and_eta(
    sim: SimServer, bucket: str, aws_conn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sim.add_file(12 * 1024 * 1024, "video/mp4", "big.mp4")  # multipart: more than one 8 MiB part
    archive(bucket, aws_conn, sources=[url], progress_interval=0).execute(make_context())
    out = capsys.readouterr().out
    progress = [line for line in out.splitlines() if "Archive progress:" in line]
    assert progress, out[-2000:]
    assert any("MiB transferred at" in line and "/s" in line and "ETA" in line for line in progress)
    assert "[1/1] archived" in out
