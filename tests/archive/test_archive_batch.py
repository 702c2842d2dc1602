"""archive_resources: expiry ordering, isolation of failures, expired status, re-runs, manifest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from archive_fileserver import FileServer, Resource, deterministic_bytes

from airflow_provider_akool.archive import (
    ArchiveStatus,
    CopyOptions,
    Manifest,
    ResourceSpec,
    RetryPolicy,
    archive_resources,
    expiry_order,
    write_manifest,
)
from airflow_provider_akool.archive.parts import MiB

OPTS = CopyOptions(part_size=5 * MiB, retry=RetryPolicy(max_attempts=2, base=0.01))
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def run(specs: list[ResourceSpec], s3: Any, http: httpx.Client, bucket: str, **kw: Any) -> Any:
    kw.setdefault("max_concurrency", 4)
    return archive_resources(specs, s3_client=s3, http_client=http, bucket=bucket, prefix="akool", options=OPTS, **kw)


def test_expiry_order_soonest_first_unknown_last() -> None:
    specs = [
        ResourceSpec(url="https://h/unknown"),
        ResourceSpec(url="https://h/late", created_at=NOW),
        ResourceSpec(url="https://h/explicit", expires_at=NOW + timedelta(days=1)),
        ResourceSpec(url="https://h/early", created_at=NOW - timedelta(days=6, hours=12)),
        ResourceSpec(url="https://h/naive", created_at=datetime(2025, 5, 20)),
    ]
    order = [spec.url.rsplit("/", 1)[1] for spec in expiry_order(specs)]
    assert order == ["naive", "early", "explicit", "late", "unknown"]
    assert specs[1].effective_expires_at == NOW + timedelta(days=7)


def test_batch_processes_soonest_to_expire_first(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    specs = [
        ResourceSpec(url=files.add(f"/{n}.mp4", Resource(b"x" * 100)), created_at=NOW - timedelta(days=d), owner_id="o")
        for n, d in (("fresh", 0), ("old", 6), ("middle", 3))
    ]
    results = run(specs, s3, http, bucket, max_concurrency=1)
    assert [r.name for r in results] == ["old.mp4", "middle.mp4", "fresh.mp4"]
    assert [e.path for e in files.log if e.method == "GET"] == ["/old.mp4", "/middle.mp4", "/fresh.mp4"]


def test_failures_are_isolated_and_classified(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    big = Resource(deterministic_bytes(11 * MiB, seed=31))
    specs = [
        ResourceSpec(url=files.add("/ok1.mp4", Resource(b"a" * 1000)), kind="video", owner_id="t1"),
        ResourceSpec(url=files.add("/expired.mp4", Resource(b"", status=403)), kind="video", owner_id="t2"),
        ResourceSpec(url=files.add("/broken.mp4", Resource(b"", status=500)), kind="video", owner_id="t3"),
        ResourceSpec(url="ftp://127.0.0.1/x.mp4", kind="video", owner_id="t4", name="ftp-thing"),
        ResourceSpec(url=files.add("/big.mp4", big), kind="video", owner_id="t5", created_at=NOW),
        ResourceSpec(url=files.add("/ok2.mp3", Resource(b"b" * 2000, content_type="audio/mpeg")), kind="audio"),
    ]
    seen: list[str] = []
    results = {r.name: r for r in run(specs, s3, http, bucket, on_result=lambda r: seen.append(r.name))}
    assert sorted(seen) == sorted(results)
    assert results["ok1.mp4"].status is ArchiveStatus.ARCHIVED
    assert results["ok1.mp4"].s3_uri == f"s3://{bucket}/akool/video/t1/ok1.mp4"
    assert results["ok2.mp3"].content_type == "audio/mpeg"
    assert results["ok2.mp3"].key == "akool/audio/unknown/ok2.mp3"
    assert results["expired.mp4"].status is ArchiveStatus.EXPIRED
    assert results["broken.mp4"].status is ArchiveStatus.FAILED
    assert "500" in (results["broken.mp4"].reason or "")
    assert results["ftp-thing"].status is ArchiveStatus.FAILED
    assert (results["ftp-thing"].reason or "").startswith("SourceURLError: url: scheme 'ftp'")
    assert results["big.mp4"].status is ArchiveStatus.ARCHIVED
    assert results["big.mp4"].sha256 == big.sha256
    assert results["big.mp4"].expires_at == NOW + timedelta(days=7)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    keys = {obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"akool/video/t1/ok1.mp4", "akool/video/t5/big.mp4", "akool/audio/unknown/ok2.mp3"}


def test_rerun_of_batch_uploads_zero_bytes(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    specs = [
        ResourceSpec(url=files.add(f"/r{i}.mp4", Resource(deterministic_bytes(50_000 + i, seed=i))), owner_id="o")
        for i in range(6)
    ]
    first = run(specs, s3, http, bucket)
    second = run(specs, s3, http, bucket)
    assert {r.status for r in first} == {ArchiveStatus.ARCHIVED}
    assert {r.status for r in second} == {ArchiveStatus.SKIPPED}
    assert sum(r.bytes_uploaded for r in second) == 0
    assert Manifest.from_results(second, bucket=bucket, prefix="akool").totals.bytes_uploaded == 0


def test_duplicate_keys_in_one_batch(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/a/clip.mp4", Resource(b"1" * 100))
    other = files.add("/b/clip.mp4", Resource(b"2" * 100))
    specs = [ResourceSpec(url=url), ResourceSpec(url=url), ResourceSpec(url=other)]
    statuses = [r.status for r in run(specs, s3, http, bucket)]
    assert statuses == [ArchiveStatus.ARCHIVED, ArchiveStatus.SKIPPED, ArchiveStatus.FAILED]


def test_manifest_written_and_summarised(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    specs = [
        ResourceSpec(url=files.add("/m1.mp4", Resource(b"m" * 4096)), owner_id="t", created_at=NOW),
        ResourceSpec(url=files.add("/gone.mp4", Resource(b"", status=410)), owner_id="t"),
        ResourceSpec(url=files.add("/err.mp4", Resource(b"", status=404)), owner_id="t"),
    ]
    results = run(specs, s3, http, bucket)
    manifest = Manifest.from_results(results, bucket=bucket, prefix="akool", generated_at=NOW)
    uri = write_manifest(manifest, s3)
    assert uri == f"s3://{bucket}/akool/manifests/manifest-20250601T000000000000Z.json"
    stored = s3.get_object(Bucket=bucket, Key=uri.split("/", 3)[3])
    assert stored["ContentType"] == "application/json"
    data = json.loads(stored["Body"].read())
    assert data["version"] == 1
    assert data["generated_at"] == "2025-06-01T00:00:00Z"
    assert data["bucket"] == bucket and data["prefix"] == "akool"
    assert data["totals"]["counts"] == {"archived": 1, "skipped": 0, "expired": 1, "failed": 1}
    assert data["totals"]["bytes_uploaded"] == data["totals"]["bytes_stored"] == 4096
    entry = next(e for e in data["entries"] if e["name"] == "m1.mp4")
    assert entry["sha256"] and entry["s3_uri"].endswith("akool/resource/t/m1.mp4")
    assert entry["expires_at"] == "2025-06-08T00:00:00Z"
    assert Manifest.model_validate_json(manifest.to_json()) == manifest

    summary = manifest.summary(manifest_uri=uri)
    encoded = json.dumps(summary)
    assert len(encoded) < 2000
    assert summary["counts"] == {"archived": 1, "skipped": 0, "expired": 1, "failed": 1}
    assert summary["expired"] == ["gone.mp4"]
    assert summary["failed"][0]["name"] == "err.mp4"
    assert "404" in summary["failed"][0]["reason"]
    assert summary["manifest_uri"] == uri


def test_summary_stays_small_with_many_failures() -> None:
    from airflow_provider_akool.archive import ArchiveResult

    results = [
        ArchiveResult(name=f"r{i}", source_url=f"https://h/{i}", status=ArchiveStatus.FAILED, reason="x" * 1000)
        for i in range(500)
    ]
    summary = Manifest.from_results(results, bucket="b" * 3, prefix="p").summary()
    assert len(summary["failed"]) == 20
    assert summary["truncated"] is True
    assert len(json.dumps(summary)) < 6000


def test_cancelled_batch_records_cancelled_and_writes_nothing(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    import threading

    cancel = threading.Event()
    cancel.set()
    specs = [ResourceSpec(url=files.add(f"/c{i}.mp4", Resource(b"c" * 100))) for i in range(3)]
    results = run(specs, s3, http, bucket, cancel=cancel)
    assert {(r.status, r.reason) for r in results} == {(ArchiveStatus.FAILED, "cancelled")}
    assert files.log == []
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
