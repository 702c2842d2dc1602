"""copy_url_to_s3 against a SeaweedFS S3 server and the local file server: integrity, multipart,
content type and metadata, resume and restart, aborts that leave nothing behind."""

from __future__ import annotations

import hashlib
import itertools
import threading
from typing import Any

import httpx
import pytest
from archive_fileserver import FileServer, Resource, deterministic_bytes
from s3_support import S3Calls, verified_sha256

from airflow_provider_akool.archive import (
    CopyCancelledError,
    CopyOptions,
    DownloadError,
    IntegrityError,
    ResourceExpiredError,
    RetryPolicy,
    SourceURLError,
    UploadError,
    copy_url_to_s3,
)
from airflow_provider_akool.archive.parts import MiB

FAST_RETRY = RetryPolicy(max_attempts=4, base=0.01, max_wait=0.05)
OPTS = CopyOptions(part_size=5 * MiB, upload_concurrency=3, retry=FAST_RETRY)
BIG = 12 * MiB + 12345  # three 5 MiB parts


def s3_object(s3: Any, bucket: str, key: str) -> tuple[bytes, dict[str, Any]]:
    response = s3.get_object(Bucket=bucket, Key=key)
    return response["Body"].read(), response


def assert_nothing_left(s3: Any, bucket: str, key: str) -> None:
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0, f"object left at {key}"
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), "multipart upload left pending"


def copy(url: str, s3: Any, http: httpx.Client, bucket: str, key: str = "k/clip.mp4", **kw: Any) -> Any:
    kw.setdefault("options", OPTS)
    return copy_url_to_s3(url, s3_client=s3, http_client=http, bucket=bucket, key=key, **kw)


def test_small_body_single_put_with_metadata(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(300_000, seed=1), content_type="audio/mpeg")
    url = files.add("/voice/preview.mp3", res)
    result = copy(url, s3, http, bucket, created_at=None)
    body, obj = s3_object(s3, bucket, "k/clip.mp4")
    assert hashlib.sha256(body).hexdigest() == res.sha256 == result.sha256
    assert result.status == "archived"
    assert result.parts == 0
    assert s3_calls.count("CreateMultipartUpload") == 0
    assert s3_calls.count("PutObject") == 1
    assert obj["ContentType"] == "audio/mpeg"
    meta = obj["Metadata"]
    assert meta["sha256"] == res.sha256
    assert meta["source-url"] == url
    assert meta["archived-at"].endswith("Z")
    assert meta["source-etag"] == res.etag_value


def test_large_body_uses_concurrent_multipart_and_sha256_matches(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    from datetime import UTC, datetime

    res = Resource(deterministic_bytes(BIG, seed=2))
    url = files.add("/video/result.mp4", res)
    seen: list[tuple[int, int | None]] = []
    opts = CopyOptions(part_size=5 * MiB, upload_concurrency=3, retry=FAST_RETRY, progress_interval=0)
    created = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    result = copy(
        url,
        s3,
        http,
        bucket,
        options=opts,
        progress=lambda d, t, _: seen.append((d, t)),
        created_at=created,
        expires_at=datetime(2025, 3, 8, 12, 0, tzinfo=UTC),
    )
    body, obj = s3_object(s3, bucket, "k/clip.mp4")
    assert hashlib.sha256(body).hexdigest() == res.sha256
    assert result.size == len(body) == BIG
    assert result.parts == 3
    assert s3_calls.count("UploadPart") == 3
    assert s3_calls.count("CompleteMultipartUpload") == 1
    assert obj["ContentType"] == "video/mp4"
    assert "sha256" not in obj["Metadata"]  # known only at the end: recorded in tags, not metadata
    assert result.sha256_in == "tag"
    assert verified_sha256(s3, bucket, "k/clip.mp4") == res.sha256
    assert s3_calls.of("CopyObject") == s3_calls.of("UploadPartCopy") == []
    assert all(p["ChecksumAlgorithm"] == "CRC32" for p in s3_calls.of("UploadPart"))
    assert obj["Metadata"]["created-at"] == "2025-03-01T12:00:00Z"
    assert obj["Metadata"]["expires-at"] == "2025-03-08T12:00:00Z"
    assert seen[-1] == (BIG, BIG)
    assert all(b >= a for (a, _), (b, _) in itertools.pairwise(seen))
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_unknown_content_length_still_multipart(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    res = Resource(deterministic_bytes(11 * MiB, seed=3), content_length=False, ranges="off")
    url = files.add("/no-length.bin", res)
    result = copy(url, s3, http, bucket)
    body, _ = s3_object(s3, bucket, "k/clip.mp4")
    assert hashlib.sha256(body).hexdigest() == res.sha256
    assert result.parts == 3


def test_non_ascii_url_stored_percent_encoded(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    files.add("/vid%C3%A9o/%E6%96%87.mp4", Resource(b"x" * 1000))
    result = copy(files.url("/vidéo/文.mp4"), s3, http, bucket)
    assert result.status == "archived"
    meta = s3.head_object(Bucket=bucket, Key="k/clip.mp4")["Metadata"]
    assert meta["source-url"] == files.url("/vid%C3%A9o/%E6%96%87.mp4")


def test_resume_with_range_after_cut(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    res = Resource(deterministic_bytes(BIG, seed=4), cut_after=7 * MiB, cut_times=1)
    url = files.add("/cut.mp4", res)
    result = copy(url, s3, http, bucket)
    body, _ = s3_object(s3, bucket, "k/clip.mp4")
    assert hashlib.sha256(body).hexdigest() == res.sha256
    gets = files.requests_for("/cut.mp4")
    assert [g.range for g in gets] == [None, f"bytes={7 * MiB}-"]
    assert gets[1].status == 206
    assert result.resumes == 1
    assert result.restarts == 0
    assert result.bytes_downloaded == BIG  # not 2x


def test_restart_when_server_has_no_ranges(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    res = Resource(deterministic_bytes(BIG, seed=5), ranges="off", cut_after=7 * MiB, cut_times=1)
    url = files.add("/noranges.mp4", res)
    result = copy(url, s3, http, bucket)
    body, _ = s3_object(s3, bucket, "k/clip.mp4")
    assert hashlib.sha256(body).hexdigest() == res.sha256 == result.sha256
    assert [g.range for g in files.requests_for("/noranges.mp4")] == [None, None]
    assert result.restarts == 1
    assert result.bytes_downloaded == BIG + 7 * MiB
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_restart_when_range_answered_with_200(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    res = Resource(deterministic_bytes(BIG, seed=6), ranges="ignore", cut_after=11 * MiB, cut_times=1)
    url = files.add("/ignored.mp4", res)
    result = copy(url, s3, http, bucket)
    body, _ = s3_object(s3, bucket, "k/clip.mp4")
    assert hashlib.sha256(body).hexdigest() == res.sha256 == result.sha256
    gets = files.requests_for("/ignored.mp4")
    assert gets[1].range == f"bytes={11 * MiB}-"
    assert gets[1].status == 200
    assert result.restarts == 1
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_500_once_is_retried(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    res = Resource(deterministic_bytes(100_000, seed=7), fail_500_times=1)
    url = files.add("/flaky.mp4", res)
    result = copy(url, s3, http, bucket)
    assert result.sha256 == res.sha256
    assert [g.status for g in files.requests_for("/flaky.mp4")] == [500, 200]


def test_expired_resource_is_typed(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/old.mp4", Resource(b"gone", status=403))
    with pytest.raises(ResourceExpiredError) as info:
        copy(url, s3, http, bucket)
    assert info.value.status_code == 403
    assert len(files.requests_for("/old.mp4")) == 1  # not retried
    assert_nothing_left(s3, bucket, "k/clip.mp4")


def test_404_is_a_download_error_not_expiry(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    with pytest.raises(DownloadError, match="404"):
        copy(files.url("/missing.mp4"), s3, http, bucket)


def test_cut_every_time_aborts_and_leaves_nothing(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=8), ranges="off", cut_after=11 * MiB, cut_times=99)
    url = files.add("/broken.mp4", res)
    opts = CopyOptions(part_size=5 * MiB, retry=RetryPolicy(max_attempts=2, base=0.01))
    with pytest.raises(DownloadError, match="after 2 attempts"):
        copy(url, s3, http, bucket, options=opts)
    assert s3_calls.count("UploadPart") >= 2  # parts had been uploaded before the failure
    assert s3_calls.count("AbortMultipartUpload") >= 1
    assert_nothing_left(s3, bucket, "k/clip.mp4")


def test_sha256_mismatch_aborts(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/bad.mp4", Resource(deterministic_bytes(BIG, seed=9)))
    with pytest.raises(IntegrityError, match="sha256"):
        copy(url, s3, http, bucket, expected_sha256="0" * 64)
    assert_nothing_left(s3, bucket, "k/clip.mp4")


def test_expected_size_mismatch_fails_before_upload(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    url = files.add("/short.mp4", Resource(b"x" * 1000))
    with pytest.raises(IntegrityError, match="expected_size"):
        copy(url, s3, http, bucket, expected_size=999)
    assert_nothing_left(s3, bucket, "k/clip.mp4")


def test_s3_failure_mid_upload_aborts(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/s3fail.mp4", Resource(deterministic_bytes(BIG, seed=10)))
    calls = {"n": 0}

    def fail_second_part(params: dict[str, Any], **_: Any) -> None:
        calls["n"] += 1
        if params.get("PartNumber") == 2:
            params["Bucket"] = "no-such-bucket-archive"

    s3.meta.events.register("provide-client-params.s3.UploadPart", fail_second_part)
    with pytest.raises(UploadError, match="UploadPart 2"):
        copy(url, s3, http, bucket)
    assert_nothing_left(s3, bucket, "k/clip.mp4")


def test_keyboard_interrupt_aborts_and_propagates(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/ctrlc.mp4", Resource(deterministic_bytes(BIG, seed=11)))

    def interrupt(done: int, total: int | None, elapsed: float) -> None:
        if done > 11 * MiB:
            raise KeyboardInterrupt

    opts = CopyOptions(part_size=5 * MiB, retry=FAST_RETRY, progress_interval=0)
    with pytest.raises(KeyboardInterrupt):
        copy(url, s3, http, bucket, options=opts, progress=interrupt)
    assert_nothing_left(s3, bucket, "k/clip.mp4")


def test_cancel_event_aborts(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/cancel.mp4", Resource(deterministic_bytes(BIG, seed=12)))
    cancel = threading.Event()

    def cancel_late(done: int, total: int | None, elapsed: float) -> None:
        if done > 10 * MiB:
            cancel.set()

    opts = CopyOptions(part_size=5 * MiB, retry=FAST_RETRY, progress_interval=0)
    with pytest.raises(CopyCancelledError):
        copy(url, s3, http, bucket, options=opts, progress=cancel_late, cancel=cancel)
    assert_nothing_left(s3, bucket, "k/clip.mp4")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/a.mp4", "javascript:alert(1)"])
def test_refused_schemes_make_no_request(url: str, s3: Any, bucket: str, s3_calls: S3Calls) -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    transport = httpx.MockTransport(record)
    with httpx.Client(transport=transport) as client, pytest.raises(SourceURLError, match=r"^source_url: scheme"):
        copy(url, s3, client, bucket)
    assert sent == []
    assert s3_calls.names == []


def test_host_allow_list_refuses_before_request(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/a.mp4", Resource(b"x"))
    opts = CopyOptions(allowed_hosts=frozenset({".cloudfront.net"}))
    with pytest.raises(SourceURLError, match=r"127\.0\.0\.1"):
        copy(url, s3, http, bucket, options=opts)
    assert files.log == []


@pytest.mark.parametrize(("size", "parts"), [(5 * MiB, 0), (10 * MiB, 2), (10 * MiB + 1, 3), (0, 0)])
def test_part_boundaries(
    size: int, parts: int, files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(size, seed=13))
    url = files.add("/edge.bin", res)
    result = copy(url, s3, http, bucket)
    body, _ = s3_object(s3, bucket, "k/clip.mp4")
    assert hashlib.sha256(body).hexdigest() == res.sha256
    assert result.parts == parts
    assert s3_calls.count("UploadPart") == parts


def test_source_changed_between_requests_restarts_instead_of_stitching(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    new_body = deterministic_bytes(BIG, seed=15)
    res = Resource(deterministic_bytes(BIG, seed=14), cut_after=7 * MiB, cut_times=1, swap_after_cut=new_body)
    url = files.add("/changing.mp4", res)
    result = copy(url, s3, http, bucket)
    body, _ = s3_object(s3, bucket, "k/clip.mp4")
    assert body == new_body
    assert result.restarts == 1
    gets = files.requests_for("/changing.mp4")
    assert gets[1].range == f"bytes={7 * MiB}-"
    assert gets[1].status == 200  # If-Range did not match the new ETag
