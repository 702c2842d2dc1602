"""Re-runs upload nothing; a changed source is archived again (rule in archive/existing.py)."""

from __future__ import annotations

from typing import Any

import httpx
from archive_fileserver import FileServer, Resource, deterministic_bytes
from s3_support import S3Calls, verified_sha256

from airflow_provider_akool.archive import CopyOptions, RetryPolicy, copy_url_to_s3
from airflow_provider_akool.archive.parts import MiB

OPTS = CopyOptions(part_size=5 * MiB, retry=RetryPolicy(max_attempts=3, base=0.01))
BIG = 11 * MiB


def copy(url: str, s3: Any, http: httpx.Client, bucket: str, **kw: Any) -> Any:
    return copy_url_to_s3(url, s3_client=s3, http_client=http, bucket=bucket, key="a/b.mp4", options=OPTS, **kw)


def test_rerun_skips_without_downloading_or_uploading(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=21))
    url = files.add("/v.mp4", res)
    first = copy(url, s3, http, bucket)
    uploads_after_first = s3_calls.count("UploadPart") + s3_calls.count("PutObject")
    second = copy(url, s3, http, bucket)
    assert first.status == "archived"
    assert second.status == "skipped"
    assert second.bytes_uploaded == 0
    assert second.bytes_downloaded == 0
    assert second.sha256 == res.sha256
    assert second.size == BIG
    assert s3_calls.count("UploadPart") + s3_calls.count("PutObject") == uploads_after_first
    assert len(files.requests_for("/v.mp4", "GET")) == 1
    assert len(files.requests_for("/v.mp4", "HEAD")) == 1


def test_changed_source_same_size_is_rearchived_via_etag(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    url = files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=22)))
    copy(url, s3, http, bucket)
    changed = Resource(deterministic_bytes(BIG, seed=23))
    files.add("/v.mp4", changed)
    again = copy(url, s3, http, bucket)
    assert again.status == "archived"
    assert again.bytes_uploaded == BIG
    assert verified_sha256(s3, bucket, "a/b.mp4") == changed.sha256


def test_changed_size_without_etag_is_rearchived(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/v.mp4", Resource(b"one" * 1000, etag=False))
    copy(url, s3, http, bucket)
    files.add("/v.mp4", Resource(b"two!" * 1000, etag=False))
    assert copy(url, s3, http, bucket).status == "archived"


def test_expected_sha256_skips_without_touching_the_source(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(300_000, seed=24))
    url = files.add("/v.mp4", res)
    copy(url, s3, http, bucket, expected_sha256=res.sha256)
    resigned = url + "?signature=new"  # same bytes, a freshly signed URL
    again = copy(resigned, s3, http, bucket, expected_sha256=res.sha256.upper())
    assert again.status == "skipped"
    assert len(files.log) == 1


def test_expired_source_keeps_existing_archive(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/v.mp4", Resource(b"x" * 5000))
    copy(url, s3, http, bucket)
    files.add("/v.mp4", Resource(b"", status=403))
    again = copy(url, s3, http, bucket)
    assert again.status == "skipped"
    assert again.skip_reason is not None and "expired" in again.skip_reason


def test_different_url_at_same_key_is_archived(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    body = b"same" * 1000
    first = files.add("/one.mp4", Resource(body))
    second = files.add("/two.mp4", Resource(body))
    copy(first, s3, http, bucket)
    assert copy(second, s3, http, bucket).status == "archived"


def test_object_without_checksum_metadata_is_replaced(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    res = Resource(b"fresh" * 1000)
    url = files.add("/v.mp4", res)
    s3.put_object(Bucket=bucket, Key="a/b.mp4", Body=res.body)  # e.g. written by some other tool
    result = copy(url, s3, http, bucket)
    assert result.status == "archived"
    assert verified_sha256(s3, bucket, "a/b.mp4") == res.sha256


def test_skip_existing_false_always_copies(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/v.mp4", Resource(b"x" * 5000))
    copy(url, s3, http, bucket)
    result = copy_url_to_s3(
        url,
        s3_client=s3,
        http_client=http,
        bucket=bucket,
        key="a/b.mp4",
        options=CopyOptions(skip_existing=False),
    )
    assert result.status == "archived"
