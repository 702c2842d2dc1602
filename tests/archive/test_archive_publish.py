"""Publishing through a staging key (archive/publish.py) against moto: the destination key only
ever holds a complete object with its final metadata; staging objects and uploads do not linger.

moto ignores ``CopySourceIfMatch``, so the ETag condition is checked as a request parameter here;
what happens when it fails on S3 is simulated by raising S3's PreconditionFailed error.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from archive_fileserver import FileServer, Resource, deterministic_bytes
from botocore.exceptions import ClientError
from s3_support import S3Calls, object_keys, pending_uploads

from airflow_provider_akool.archive import CopyOptions, RetryPolicy, UploadError, copy_url_to_s3, publish
from airflow_provider_akool.archive.parts import MiB

OPTS = CopyOptions(part_size=5 * MiB, upload_concurrency=3, retry=RetryPolicy(max_attempts=2, backoff_initial=0.01))
BIG = 12 * MiB + 12345  # three 5 MiB parts
KEY = "k/clip.mp4"
STAGING = ".akool-staging/k/clip.mp4"


def copy(url: str, s3: Any, http: httpx.Client, bucket: str, key: str = KEY, **kw: Any) -> Any:
    kw.setdefault("options", OPTS)
    return copy_url_to_s3(url, s3_client=s3, http_client=http, bucket=bucket, key=key, **kw)


def test_large_body_is_staged_then_published_with_its_metadata(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=41), content_type="video/webm", content_encoding="gzip")
    url = files.add("/v.webm?Expires=1700000000&Signature=s3cr3t", res)
    result = copy(url, s3, http, bucket)

    assert result.status == "archived"
    assert result.parts == 3
    assert object_keys(s3, bucket) == [KEY]
    assert pending_uploads(s3, bucket) == []
    obj = s3.get_object(Bucket=bucket, Key=KEY)
    assert hashlib.sha256(obj["Body"].read()).hexdigest() == res.sha256
    assert obj["ContentType"] == "video/webm"
    assert obj["ContentEncoding"] == "gzip"
    meta = obj["Metadata"]
    assert meta["sha256"] == res.sha256
    assert "s3cr3t" not in meta["source-url"]
    assert "Signature=REDACTED" in meta["source-url"]
    assert meta["source-url-sha256"] == hashlib.sha256(url.encode()).hexdigest()
    assert meta["archived-at"].endswith("Z")

    ops = [op for op, _ in s3_calls.calls]
    assert [p["Key"] for p in s3_calls.of("CreateMultipartUpload")] == [STAGING]
    assert {p["Key"] for p in s3_calls.of("UploadPart")} == {STAGING}
    assert ops.index("CompleteMultipartUpload") < ops.index("CopyObject") < ops.index("DeleteObject")
    (copied,) = s3_calls.of("CopyObject")
    assert copied["Key"] == KEY
    assert copied["CopySource"] == {"Bucket": bucket, "Key": STAGING}
    assert copied["MetadataDirective"] == "REPLACE"
    assert copied["Metadata"]["sha256"] == res.sha256
    assert copied["CopySourceIfMatch"].strip('"').endswith("-3")  # the ETag of the 3-part staged upload
    assert [p["Key"] for p in s3_calls.of("DeleteObject")] == [STAGING]
    assert s3_calls.of("UploadPartCopy") == []


def test_small_body_is_one_put_at_the_final_key(
    files: FileServer, s3: Any, bucket: str, s3_calls: S3Calls, http: httpx.Client
) -> None:
    url = files.add("/small.mp3", Resource(deterministic_bytes(100_000, seed=42), content_type="audio/mpeg"))
    copy(url, s3, http, bucket)
    assert s3_calls.names == ["HeadObject", "PutObject"]  # no staging, no leftover checks
    assert object_keys(s3, bucket) == [KEY]


def test_expected_sha256_uploads_in_place_without_a_copy(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=43))
    url = files.add("/known.mp4", res)
    copy(url, s3, http, bucket, expected_sha256=res.sha256)
    assert [p["Key"] for p in s3_calls.of("CreateMultipartUpload")] == [KEY]
    assert s3_calls.of("CreateMultipartUpload")[0]["Metadata"]["sha256"] == res.sha256
    assert s3_calls.of("CopyObject") == []
    assert object_keys(s3, bucket) == [KEY]
    assert s3.head_object(Bucket=bucket, Key=KEY)["Metadata"]["sha256"] == res.sha256


def test_failed_publish_leaves_neither_final_nor_staging_object(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    url = files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=44)))

    def break_copy(params: dict[str, Any], **_: Any) -> None:
        params["Bucket"] = "no-such-bucket-publish"

    s3.meta.events.register("provide-client-params.s3.CopyObject", break_copy)
    with pytest.raises(UploadError, match=r"CopyObject failed for s3://.*/k/clip\.mp4"):
        copy(url, s3, http, bucket)
    assert object_keys(s3, bucket) == []
    assert pending_uploads(s3, bucket) == []


def test_interrupt_during_publish_cleans_up(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=45)))

    def interrupted(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(publish, "publish_object", interrupted)
    with pytest.raises(KeyboardInterrupt):
        copy(url, s3, http, bucket)
    assert object_keys(s3, bucket) == []
    assert pending_uploads(s3, bucket) == []


def test_changed_staging_etag_is_not_published_and_not_deleted(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 refuses the copy (412) when another run replaced the staged object; that object is theirs."""
    url = files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=46)))

    def precondition_failed(*_: Any, **__: Any) -> None:
        error = ClientError({"Error": {"Code": "PreconditionFailed", "Message": "At least one"}}, "CopyObject")
        raise UploadError("S3 CopyObject failed: PreconditionFailed") from error

    monkeypatch.setattr(publish, "publish_object", precondition_failed)
    with pytest.raises(UploadError, match="PreconditionFailed"):
        copy(url, s3, http, bucket)
    assert object_keys(s3, bucket) == [STAGING]


def test_leftovers_of_a_killed_run_are_removed_before_uploading(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=STAGING, Body=b"half of a killed run")
    s3.create_multipart_upload(Bucket=bucket, Key=STAGING)
    other = s3.create_multipart_upload(Bucket=bucket, Key=STAGING + ".other")  # same prefix, other key
    res = Resource(deterministic_bytes(BIG, seed=47))
    copy(files.add("/v.mp4", res), s3, http, bucket)
    assert object_keys(s3, bucket) == [KEY]
    assert s3.head_object(Bucket=bucket, Key=KEY)["Metadata"]["sha256"] == res.sha256
    assert pending_uploads(s3, bucket) == [STAGING + ".other"]
    s3.abort_multipart_upload(Bucket=bucket, Key=STAGING + ".other", UploadId=other["UploadId"])


def test_skip_removes_a_staging_object_left_after_publishing(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    url = files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=48)))
    copy(url, s3, http, bucket)
    s3.put_object(Bucket=bucket, Key=STAGING, Body=b"killed between publish and delete")
    assert copy(url, s3, http, bucket).status == "skipped"
    assert object_keys(s3, bucket) == [KEY]


def test_above_the_copy_object_limit_publishes_with_upload_part_copy(
    files: FileServer,
    s3: Any,
    s3_calls: S3Calls,
    http: httpx.Client,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(publish, "COPY_OBJECT_LIMIT", 5 * MiB)  # stands for 5 GiB
    monkeypatch.setattr(publish, "COPY_PART_SIZE", 5 * MiB)
    res = Resource(deterministic_bytes(BIG, seed=49), content_type="video/quicktime")
    copy(files.add("/huge.mov", res), s3, http, bucket)

    assert s3_calls.of("CopyObject") == []
    created = s3_calls.of("CreateMultipartUpload")
    assert [p["Key"] for p in created] == [STAGING, KEY]
    assert created[1]["Metadata"]["sha256"] == res.sha256
    assert created[1]["ContentType"] == "video/quicktime"
    parts = s3_calls.of("UploadPartCopy")
    assert sorted(p["CopySourceRange"] for p in parts) == sorted(
        [f"bytes=0-{5 * MiB - 1}", f"bytes={5 * MiB}-{10 * MiB - 1}", f"bytes={10 * MiB}-{BIG - 1}"]
    )
    assert all(p["CopySource"] == {"Bucket": bucket, "Key": STAGING} and p["CopySourceIfMatch"] for p in parts)
    obj = s3.get_object(Bucket=bucket, Key=KEY)
    assert hashlib.sha256(obj["Body"].read()).hexdigest() == res.sha256
    assert obj["Metadata"]["sha256"] == res.sha256
    assert obj["ContentType"] == "video/quicktime"
    assert object_keys(s3, bucket) == [KEY]
    assert pending_uploads(s3, bucket) == []


def test_failed_upload_part_copy_aborts_and_leaves_nothing(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "COPY_OBJECT_LIMIT", 5 * MiB)
    monkeypatch.setattr(publish, "COPY_PART_SIZE", 5 * MiB)

    def break_second_part(params: dict[str, Any], **_: Any) -> None:
        if params.get("PartNumber") == 2:
            params["CopySource"] = {"Bucket": params["CopySource"]["Bucket"], "Key": "no/such/source"}

    s3.meta.events.register("provide-client-params.s3.UploadPartCopy", break_second_part)
    with pytest.raises(UploadError, match="UploadPartCopy 2"):
        copy(files.add("/huge.mov", Resource(deterministic_bytes(BIG, seed=50))), s3, http, bucket)
    assert object_keys(s3, bucket) == []
    assert pending_uploads(s3, bucket) == []


def test_custom_staging_prefix(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    opts = CopyOptions(part_size=5 * MiB, staging_prefix="akool/.staging/")
    copy(files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=51))), s3, http, bucket, options=opts)
    assert [p["Key"] for p in s3_calls.of("CreateMultipartUpload")] == ["akool/.staging/k/clip.mp4"]
    assert object_keys(s3, bucket) == [KEY]


@pytest.mark.parametrize("prefix", ["", "no-slash", "/abs/", "a/../b/"])
def test_bad_staging_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="staging_prefix"):
        CopyOptions(staging_prefix=prefix)


def test_key_under_the_staging_prefix_is_refused(s3: Any, bucket: str, s3_calls: S3Calls) -> None:
    with httpx.Client() as client, pytest.raises(ValueError, match="staging prefix"):
        copy("http://127.0.0.1:9/x.mp4", s3, client, bucket, key=".akool-staging/k/clip.mp4")
    assert s3_calls.names == []


def test_staging_key_is_deterministic_and_bounded() -> None:
    assert publish.staging_key("a/b.mp4") == ".akool-staging/a/b.mp4"
    long_key = "a/" + "b" * 1015
    staged = publish.staging_key(long_key)
    assert staged == ".akool-staging/" + hashlib.sha256(long_key.encode()).hexdigest()
    assert publish.staging_key(long_key) == staged


def test_staged_object_without_an_etag_is_not_published(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    """An S3-compatible store that returns no ETag: the copy could not be conditional, so it is refused."""

    def drop_etag(parsed: dict[str, Any], **_: Any) -> None:
        parsed.pop("ETag", None)

    s3.meta.events.register("after-call.s3.CompleteMultipartUpload", drop_etag)
    url = files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=52)))
    with pytest.raises(UploadError, match=r"no ETag.*CopySourceIfMatch"):
        copy(url, s3, http, bucket)
    assert s3_calls.of("CopyObject") == []
    assert [p["Key"] for p in s3_calls.of("DeleteObject")] == [STAGING]
    assert object_keys(s3, bucket) == []
    assert pending_uploads(s3, bucket) == []


def test_expected_sha256_aborts_a_killed_runs_upload_at_the_final_key(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    s3.create_multipart_upload(Bucket=bucket, Key=KEY)  # left by a SIGKILLed straight-to-key upload
    other = s3.create_multipart_upload(Bucket=bucket, Key=KEY + ".other")  # same prefix, other key
    res = Resource(deterministic_bytes(BIG, seed=53))
    copy(files.add("/known.mp4", res), s3, http, bucket, expected_sha256=res.sha256)
    assert {p["Prefix"] for p in s3_calls.of("ListMultipartUploads")} == {STAGING, KEY}
    assert [p["Key"] for p in s3_calls.of("AbortMultipartUpload")] == [KEY]
    assert object_keys(s3, bucket) == [KEY]
    assert pending_uploads(s3, bucket) == [KEY + ".other"]
    s3.abort_multipart_upload(Bucket=bucket, Key=KEY + ".other", UploadId=other["UploadId"])


def test_staged_copy_does_not_list_uploads_at_the_final_key(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    copy(files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=54))), s3, http, bucket)
    assert [p["Prefix"] for p in s3_calls.of("ListMultipartUploads")] == [STAGING]
