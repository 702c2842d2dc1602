"""Hash-first mode (``CopyOptions(hash_first=True)``, archive/hashpass.py) against SeaweedFS and the local
file server: the source is read twice, the upload goes straight to the final key with its sha256,
no server-side copy and no staging object; a source that changes between the passes stores nothing."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import httpx
import pytest
from archive_fileserver import FileServer, Resource, deterministic_bytes
from s3_support import S3Calls, object_keys, pending_uploads

from airflow_provider_akool.archive import (
    CopyOptions,
    IntegrityError,
    ResourceSpec,
    RetryPolicy,
    archive_resources,
    copy_url_to_s3,
)
from airflow_provider_akool.archive.parts import MiB
from airflow_provider_akool.archive.progress import BatchProgressLog

FAST_RETRY = RetryPolicy(max_attempts=4, base=0.01, max_wait=0.05)
OPTS = CopyOptions(part_size=5 * MiB, upload_concurrency=3, retry=FAST_RETRY, hash_first=True)
BIG = 12 * MiB + 12345  # three 5 MiB parts
KEY = "k/clip.mp4"
CHANGED = "source changed between the hash pass and the upload pass"


def copy(url: str, s3: Any, http: httpx.Client, bucket: str, key: str = KEY, **kw: Any) -> Any:
    kw.setdefault("options", OPTS)
    return copy_url_to_s3(url, s3_client=s3, http_client=http, bucket=bucket, key=key, **kw)


def gets(files: FileServer, path: str) -> int:
    return len(files.requests_for(path))


def test_large_body_is_hashed_then_uploaded_in_place_without_a_copy(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=71), content_type="video/webm")
    url = files.add("/big.webm", res)
    result = copy(url, s3, http, bucket)

    assert result.status == "archived"
    assert result.sha256 == res.sha256
    assert result.size == BIG
    assert result.parts == 3
    assert result.source_passes == 2
    assert result.bytes_downloaded == 2 * BIG
    assert gets(files, "/big.webm") == 2
    obj = s3.get_object(Bucket=bucket, Key=KEY)
    assert hashlib.sha256(obj["Body"].read()).hexdigest() == res.sha256
    assert obj["ContentType"] == "video/webm"
    assert obj["Metadata"]["sha256"] == res.sha256
    assert obj["Metadata"]["source-etag"] == res.etag_value
    # the metadata was set when the upload was created, at the final key
    (created,) = s3_calls.of("CreateMultipartUpload")
    assert created["Key"] == KEY
    assert created["Metadata"]["sha256"] == res.sha256
    assert {p["Key"] for p in s3_calls.of("UploadPart")} == {KEY}
    assert s3_calls.of("CopyObject") == s3_calls.of("UploadPartCopy") == []
    assert s3_calls.of("DeleteObject") == []
    assert object_keys(s3, bucket) == [KEY]  # no staging object
    assert pending_uploads(s3, bucket) == []


def test_both_passes_are_reported(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/passes.mp4", Resource(deterministic_bytes(BIG, seed=72)))
    passes: list[tuple[int, str]] = []
    seen: list[tuple[int, int | None]] = []
    opts = replace(OPTS, progress_interval=0)
    copy(
        url,
        s3,
        http,
        bucket,
        options=opts,
        on_pass=lambda n, text: passes.append((n, text)),
        progress=lambda done, total, _elapsed: seen.append((done, total)),
    )

    assert [n for n, _ in passes] == [1, 2]
    assert "sha256" in passes[0][1]
    assert passes[1][1].startswith(f"uploading to s3://{bucket}/{KEY} (pass 1 hashed 12.0 MiB in ")
    # each pass counts up to the full size: the count drops back exactly once, after the hash pass
    drops = [i for i in range(1, len(seen)) if seen[i][0] < seen[i - 1][0]]
    assert len(drops) == 1
    assert seen[drops[0] - 1] == seen[-1] == (BIG, BIG)


def test_batch_log_names_each_pass(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    class Log:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def info(self, msg: str, *args: Any) -> None:
            self.lines.append(msg % args)

        warning = error = info

    log = Log()
    board = BatchProgressLog(log, total=1, interval=0)
    url = files.add("/batch.mp4", Resource(deterministic_bytes(BIG, seed=73)))
    [result] = archive_resources(
        [ResourceSpec(url=url, name="clip", key=KEY)],
        s3_client=s3,
        http_client=http,
        bucket=bucket,
        options=replace(OPTS, progress_interval=0),
        progress=board.progress,
        on_result=board.result,
        on_pass=board.source_pass,
    )
    assert result.status.value == "archived"
    assert result.bytes_downloaded == 2 * BIG
    text = "\n".join(log.lines)
    assert "clip: hash_first pass 1/2: reading the source" in text
    assert f"clip: hash_first pass 2/2: uploading to s3://{bucket}/{KEY}" in text
    assert "clip (pass 1/2): " in text and "clip (pass 2/2): " in text
    assert "[1/1] archived clip" in log.lines[-1]


def test_source_changed_between_passes_fails_before_uploading(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    """Same size, new ETag: the upload pass's headers already show it; nothing is uploaded."""
    res = Resource(deterministic_bytes(BIG, seed=74))
    url = files.add("/etag.mp4", res)

    def change(number: int, _text: str) -> None:
        if number == 1:  # the hash pass is under way: the next request sees the new body
            res.body = deterministic_bytes(BIG, seed=75)

    with pytest.raises(IntegrityError, match=f"{CHANGED}: its ETag was"):
        copy(url, s3, http, bucket, on_pass=change)
    assert s3_calls.of("CreateMultipartUpload") == []
    assert object_keys(s3, bucket) == [] and pending_uploads(s3, bucket) == []


def test_source_changed_size_between_passes_fails_before_uploading(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=76), etag=False)
    url = files.add("/grown.mp4", res)

    def grow(number: int, _text: str) -> None:
        if number == 1:
            res.body += b"more"

    with pytest.raises(IntegrityError, match=f"{CHANGED}: {BIG} bytes were hashed, the source now announces"):
        copy(url, s3, http, bucket, on_pass=grow)
    assert s3_calls.of("CreateMultipartUpload") == []
    assert object_keys(s3, bucket) == [] and pending_uploads(s3, bucket) == []


def test_silent_change_between_passes_aborts_the_upload_and_stores_nothing(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    """Same size and no ETag: only the upload pass's own hash tells; the upload is aborted."""
    res = Resource(deterministic_bytes(BIG, seed=77), etag=False)
    url = files.add("/silent.mp4", res)
    first = res.sha256
    second = deterministic_bytes(BIG, seed=78)

    def change(number: int, _text: str) -> None:
        if number == 1:
            res.body = second

    with pytest.raises(
        IntegrityError,
        match=f"sha256 of the body is {hashlib.sha256(second).hexdigest()}, {CHANGED}: pass 1 read {first}",
    ):
        copy(url, s3, http, bucket, on_pass=change)
    assert [p["Key"] for p in s3_calls.of("CreateMultipartUpload")] == [KEY]
    assert [p["Key"] for p in s3_calls.of("AbortMultipartUpload")] == [KEY]
    assert s3_calls.of("CompleteMultipartUpload") == []
    assert object_keys(s3, bucket) == [] and pending_uploads(s3, bucket) == []


def test_rerun_is_skipped_before_the_hash_pass(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/again.mp4", Resource(deterministic_bytes(BIG, seed=79)))
    copy(url, s3, http, bucket)
    files.log.clear()

    result = copy(url, s3, http, bucket)
    assert result.status == "skipped"
    assert result.bytes_downloaded == 0
    assert result.source_passes == 0
    assert gets(files, "/again.mp4") == 0  # a HEAD at most, no GET


def test_small_body_is_still_one_read_and_one_put(files: FileServer, s3: Any, bucket: str, http: httpx.Client) -> None:
    res = Resource(deterministic_bytes(300_000, seed=80), content_type="audio/mpeg")
    url = files.add("/small.mp3", res)
    passes: list[int] = []
    result = copy(url, s3, http, bucket, on_pass=lambda n, _t: passes.append(n))

    assert "-" not in s3.head_object(Bucket=bucket, Key=KEY)["ETag"]  # one PUT: no multipart ETag
    assert pending_uploads(s3, bucket) == []
    assert gets(files, "/small.mp3") == 1
    assert passes == []
    assert result.source_passes == 1
    assert s3.head_object(Bucket=bucket, Key=KEY)["Metadata"]["sha256"] == res.sha256


def test_exactly_one_part_is_not_hashed_first(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    url = files.add("/one-part.mp4", Resource(deterministic_bytes(5 * MiB, seed=81)))
    result = copy(url, s3, http, bucket)
    assert (result.source_passes, result.parts) == (1, 0)
    assert gets(files, "/one-part.mp4") == 1


def test_unknown_length_is_hashed_first(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=82), content_length=False, ranges="off")
    url = files.add("/chunked.mp4", res)
    result = copy(url, s3, http, bucket)
    assert (result.source_passes, result.sha256, result.size) == (2, res.sha256, BIG)
    assert s3_calls.of("CopyObject") == []
    assert object_keys(s3, bucket) == [KEY]
    assert s3.head_object(Bucket=bucket, Key=KEY)["Metadata"]["sha256"] == res.sha256


def test_hash_pass_resumes_a_cut_download_with_a_range(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=83), cut_after=3 * MiB, cut_times=1)
    url = files.add("/cut.mp4", res)
    result = copy(url, s3, http, bucket)

    assert (result.resumes, result.restarts, result.attempts) == (1, 0, 3)
    assert [r.range for r in files.requests_for("/cut.mp4")] == [None, f"bytes={3 * MiB}-", None]
    assert hashlib.sha256(s3.get_object(Bucket=bucket, Key=KEY)["Body"].read()).hexdigest() == res.sha256


def test_hash_pass_checks_expected_size_before_uploading(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    url = files.add("/size.mp4", Resource(deterministic_bytes(BIG, seed=84), content_length=False, ranges="off"))
    with pytest.raises(IntegrityError, match=f"source sent more than expected_size \\({BIG - 1} bytes\\)"):
        copy(url, s3, http, bucket, expected_size=BIG - 1)
    assert s3_calls.of("CreateMultipartUpload") == []
    assert object_keys(s3, bucket) == []


def test_known_sha256_needs_no_hash_pass(files: FileServer, s3: Any, http: httpx.Client, bucket: str) -> None:
    res = Resource(deterministic_bytes(BIG, seed=85))
    url = files.add("/known.mp4", res)
    result = copy(url, s3, http, bucket, expected_sha256=res.sha256)
    assert result.source_passes == 1
    assert gets(files, "/known.mp4") == 1


def test_hash_first_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="hash_first: must be True or False"):
        CopyOptions(hash_first="yes")  # type: ignore[arg-type]


def test_killed_runs_upload_at_the_final_key_is_aborted_by_the_next_copy(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    """The upload pass writes straight to the final key: a SIGKILLed run leaves its upload there."""
    stale = s3.create_multipart_upload(Bucket=bucket, Key=KEY, Metadata={"sha256": "0" * 64})
    s3.upload_part(Bucket=bucket, Key=KEY, UploadId=stale["UploadId"], PartNumber=1, Body=b"x" * (5 * MiB))
    other = s3.create_multipart_upload(Bucket=bucket, Key=KEY + ".other")  # same prefix, other key
    res = Resource(deterministic_bytes(BIG, seed=90))
    result = copy(files.add("/big.mp4", res), s3, http, bucket)

    assert result.status == "archived"
    aborted = s3_calls.of("AbortMultipartUpload")
    assert [(p["Key"], p["UploadId"]) for p in aborted] == [(KEY, stale["UploadId"])]
    assert object_keys(s3, bucket) == [KEY]
    assert s3.head_object(Bucket=bucket, Key=KEY)["Metadata"]["sha256"] == res.sha256
    assert pending_uploads(s3, bucket) == [KEY + ".other"]
    s3.abort_multipart_upload(Bucket=bucket, Key=KEY + ".other", UploadId=other["UploadId"])
