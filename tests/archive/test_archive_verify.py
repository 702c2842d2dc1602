"""The default mode against SeaweedFS: one upload straight to the final key, the sha256 in tags
for the object's ETag, and an object counted as verified only when those tags belong to it.

Faults S3 cannot be asked for (a tagging error, a store without tagging, no ETag) are injected
on the client side with botocore event hooks; everything else is the real server's answer.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from archive_fileserver import FileServer, Resource, deterministic_bytes
from botocore.exceptions import ClientError
from s3_support import S3Calls, object_keys, pending_uploads, verified_sha256

from airflow_provider_akool.archive import CopyOptions, RetryPolicy, UploadError, copy_url_to_s3, publish
from airflow_provider_akool.archive.existing import url_fingerprint
from airflow_provider_akool.archive.parts import MiB

OPTS = CopyOptions(part_size=5 * MiB, upload_concurrency=3, retry=RetryPolicy(max_attempts=2, base=0.01))
BIG = 12 * MiB + 12345  # three 5 MiB parts
KEY = "k/clip.mp4"


def copy(url: str, s3: Any, http: httpx.Client, bucket: str, key: str = KEY, **kw: Any) -> Any:
    kw.setdefault("options", OPTS)
    return copy_url_to_s3(url, s3_client=s3, http_client=http, bucket=bucket, key=key, **kw)


WRITES = {"PutObject", "CreateMultipartUpload", "UploadPart", "CopyObject", "UploadPartCopy", "PutObjectTagging"}


def tags_of(s3: Any, bucket: str, key: str = KEY) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def fail_tagging(s3: Any, code: str) -> Any:
    """Make every PutObjectTagging fail with ``code``; returns the hook, to unregister it."""

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "PutObjectTagging")

    s3.meta.events.register("before-call.s3.PutObjectTagging", refuse)
    return refuse


def test_large_body_goes_straight_to_its_key_and_is_tagged_for_its_etag(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=41), content_type="video/webm", content_encoding="gzip")
    url = files.add("/v.webm?Expires=1700000000&Signature=s3cr3t", res)
    result = copy(url, s3, http, bucket)

    assert (result.status, result.parts, result.sha256_in, result.bytes_uploaded) == ("archived", 3, "tag", BIG)
    assert object_keys(s3, bucket) == [KEY]
    assert pending_uploads(s3, bucket) == []
    obj = s3.get_object(Bucket=bucket, Key=KEY)
    assert hashlib.sha256(obj["Body"].read()).hexdigest() == res.sha256
    assert (obj["ContentType"], obj["ContentEncoding"]) == ("video/webm", "gzip")
    meta = obj["Metadata"]
    assert "s3cr3t" not in meta["source-url"] and "Signature=REDACTED" in meta["source-url"]
    assert meta["source-url-sha256"] == url_fingerprint(url)
    assert tags_of(s3, bucket) == {"akool-sha256": res.sha256, "akool-etag": obj["ETag"].strip('"')}
    assert verified_sha256(s3, bucket, KEY) == res.sha256

    ops = s3_calls.names
    assert [p["Key"] for p in s3_calls.of("CreateMultipartUpload")] == [KEY]
    assert s3_calls.of("CreateMultipartUpload")[0]["ChecksumAlgorithm"] == "CRC32"
    assert {(p["Key"], p["ChecksumAlgorithm"]) for p in s3_calls.of("UploadPart")} == {(KEY, "CRC32")}
    assert all("ChecksumCRC32" in p for p in s3_calls.of("CompleteMultipartUpload")[0]["MultipartUpload"]["Parts"])
    assert ops.index("CompleteMultipartUpload") < ops.index("PutObjectTagging")
    assert s3_calls.of("CopyObject") == s3_calls.of("UploadPartCopy") == s3_calls.of("DeleteObject") == []


def test_a_part_damaged_on_the_way_is_refused_by_s3_and_nothing_is_stored(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    """One bit of part 2 flips after its CRC32 checksum was computed, as on a faulty link."""

    def damage(request: Any, **_: Any) -> None:
        if "partNumber=2" in request.url:
            request.body[0] ^= 1  # the part's bytearray, already checksummed, not yet signed

    s3.meta.events.register("before-sign.s3.UploadPart", damage)
    with pytest.raises(UploadError, match=r"UploadPart 2 failed .*BadDigest"):
        copy(files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=40))), s3, http, bucket)
    assert object_keys(s3, bucket) == []
    assert pending_uploads(s3, bucket) == []


def test_rerun_of_a_tagged_object_uploads_nothing(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    url = files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=42)))
    first = copy(url, s3, http, bucket)
    stored = s3.head_object(Bucket=bucket, Key=KEY)
    before = len(s3_calls.calls)
    again = copy(url, s3, http, bucket)
    assert (again.status, again.bytes_uploaded, again.bytes_downloaded) == ("skipped", 0, 0)
    assert again.sha256 == first.sha256
    after = s3.head_object(Bucket=bucket, Key=KEY)
    assert (after["ETag"], after["LastModified"]) == (stored["ETag"], stored["LastModified"])  # not rewritten
    assert tags_of(s3, bucket) == {"akool-sha256": first.sha256, "akool-etag": stored["ETag"].strip('"')}
    assert not WRITES & set(s3_calls.names[before:])  # same-second rewrites of equal bytes look unchanged


def test_small_body_is_one_put_with_the_sha256_in_its_metadata(
    files: FileServer, s3: Any, bucket: str, http: httpx.Client
) -> None:
    res = Resource(b"tiny" * 1000)
    result = copy(files.add("/t.mp4", res), s3, http, bucket)
    assert "-" not in s3.head_object(Bucket=bucket, Key=KEY)["ETag"]  # one PUT: no multipart ETag
    assert tags_of(s3, bucket) == {}
    assert result.sha256_in == "metadata"
    assert s3.head_object(Bucket=bucket, Key=KEY)["Metadata"]["sha256"] == res.sha256


def test_expected_sha256_sets_the_metadata_at_creation_and_needs_no_tag(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=43))
    result = copy(files.add("/known.mp4", res), s3, http, bucket, expected_sha256=res.sha256)
    assert s3_calls.of("CreateMultipartUpload")[0]["Metadata"]["sha256"] == res.sha256
    assert s3_calls.of("PutObjectTagging") == s3_calls.of("CopyObject") == []
    assert result.sha256_in == "metadata"
    assert verified_sha256(s3, bucket, KEY) == res.sha256


def test_a_failed_tagging_leaves_an_unverified_object_that_the_next_run_replaces(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=44))
    url = files.add("/v.mp4", res)
    refuse = fail_tagging(s3, "InternalError")
    with pytest.raises(UploadError, match=r"PutObjectTagging failed for s3://.*/k/clip\.mp4: InternalError"):
        copy(url, s3, http, bucket)
    assert object_keys(s3, bucket) == [KEY]  # complete, but nothing says it was verified
    assert verified_sha256(s3, bucket, KEY) is None

    s3.meta.events.unregister("before-call.s3.PutObjectTagging", refuse)
    with httpx.Client(timeout=10) as fresh_http:
        again = copy(url, s3, fresh_http, bucket)
    assert (again.status, again.bytes_uploaded) == ("archived", BIG)
    assert verified_sha256(s3, bucket, KEY) == res.sha256


def test_tags_written_for_another_etag_do_not_verify_the_object(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    """A tag that names another object's ETag (a racing run, a store keeping tags on overwrite)."""
    res = Resource(deterministic_bytes(BIG, seed=45))
    url = files.add("/v.mp4", res)
    copy(url, s3, http, bucket)
    stale = {"akool-sha256": res.sha256, "akool-etag": "0123456789abcdef0123456789abcdef-3"}
    s3.put_object_tagging(
        Bucket=bucket, Key=KEY, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in stale.items()]}
    )
    again = copy(url, s3, http, bucket)
    assert (again.status, again.bytes_uploaded) == ("archived", BIG)
    assert verified_sha256(s3, bucket, KEY) == res.sha256


def test_an_object_archived_with_sha256_metadata_by_an_earlier_version_is_still_skipped(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=46), etag=False)
    url = files.add("/v.mp4", res)
    metadata = {"sha256": res.sha256, "source-url-sha256": url_fingerprint(url)}
    s3.put_object(Bucket=bucket, Key=KEY, Body=res.body, Metadata=metadata)  # as the staging mode published
    again = copy(url, s3, http, bucket)
    assert (again.status, again.bytes_uploaded, again.sha256) == ("skipped", 0, res.sha256)


@pytest.mark.parametrize("code", ["NotImplemented", "AccessDenied"])
def test_a_store_without_tagging_gets_the_sha256_by_a_conditional_copy_onto_itself(
    code: str, files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    res = Resource(deterministic_bytes(BIG, seed=47), content_type="video/quicktime")
    url = files.add("/v.mov", res)
    fail_tagging(s3, code)
    completed: list[str] = []
    s3.meta.events.register(
        "after-call.s3.CompleteMultipartUpload", lambda parsed, **_: completed.append(parsed["ETag"])
    )
    result = copy(url, s3, http, bucket)
    assert result.sha256_in == "metadata"
    (copied,) = s3_calls.of("CopyObject")
    assert copied["CopySource"] == {"Bucket": bucket, "Key": KEY} and copied["Key"] == KEY
    assert [copied["CopySourceIfMatch"]] == completed  # only the bytes that were hashed
    obj = s3.get_object(Bucket=bucket, Key=KEY)
    assert hashlib.sha256(obj["Body"].read()).hexdigest() == res.sha256
    assert obj["Metadata"]["sha256"] == res.sha256
    assert obj["ContentType"] == "video/quicktime"
    assert copy(url, s3, http, bucket).status == "skipped"


def test_the_fallback_copy_is_refused_when_the_object_changed_under_it(
    files: FileServer, s3: Any, http: httpx.Client, bucket: str
) -> None:
    """Another run replaced the object between our complete and our copy: S3 answers 412."""
    url = files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=48)))
    fail_tagging(s3, "NotImplemented")

    def replace_object(params: dict[str, Any], **_: Any) -> None:
        s3.meta.events.unregister("provide-client-params.s3.CopyObject", replace_object)
        s3.put_object(Bucket=bucket, Key=KEY, Body=b"another run's bytes")

    s3.meta.events.register("provide-client-params.s3.CopyObject", replace_object)
    with pytest.raises(UploadError, match="PreconditionFailed"):
        copy(url, s3, http, bucket)
    assert s3.get_object(Bucket=bucket, Key=KEY)["Body"].read() == b"another run's bytes"
    assert verified_sha256(s3, bucket, KEY) is None


def test_above_the_copy_object_limit_the_fallback_copies_in_parts(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "COPY_OBJECT_LIMIT", 5 * MiB)  # stands for 5 GiB
    monkeypatch.setattr(publish, "COPY_PART_SIZE", 5 * MiB)
    res = Resource(deterministic_bytes(BIG, seed=49))
    fail_tagging(s3, "NotImplemented")
    copy(files.add("/huge.mov", res), s3, http, bucket)
    parts = s3_calls.of("UploadPartCopy")
    assert sorted(p["CopySourceRange"] for p in parts) == sorted(
        [f"bytes=0-{5 * MiB - 1}", f"bytes={5 * MiB}-{10 * MiB - 1}", f"bytes={10 * MiB}-{BIG - 1}"]
    )
    assert all(p["CopySource"] == {"Bucket": bucket, "Key": KEY} and p["CopySourceIfMatch"] for p in parts)
    obj = s3.get_object(Bucket=bucket, Key=KEY)
    assert hashlib.sha256(obj["Body"].read()).hexdigest() == res.sha256
    assert obj["Metadata"]["sha256"] == res.sha256
    assert pending_uploads(s3, bucket) == []


def test_a_completed_upload_without_an_etag_is_never_marked_verified(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    """A store that returns no ETag: tags could not name the object they were written for."""

    def drop_etag(parsed: dict[str, Any], **_: Any) -> None:
        parsed.pop("ETag", None)

    s3.meta.events.register("after-call.s3.CompleteMultipartUpload", drop_etag)
    with pytest.raises(UploadError, match=r"no ETag"):
        copy(files.add("/v.mp4", Resource(deterministic_bytes(BIG, seed=50))), s3, http, bucket)
    assert s3_calls.of("PutObjectTagging") == s3_calls.of("CopyObject") == []
    assert verified_sha256(s3, bucket, KEY) is None
    assert pending_uploads(s3, bucket) == []


def test_a_killed_runs_upload_at_the_final_key_is_aborted_before_uploading(
    files: FileServer, s3: Any, s3_calls: S3Calls, http: httpx.Client, bucket: str
) -> None:
    s3.create_multipart_upload(Bucket=bucket, Key=KEY)  # left by a SIGKILLed upload
    other = s3.create_multipart_upload(Bucket=bucket, Key=KEY + ".other")  # same prefix, other key
    res = Resource(deterministic_bytes(BIG, seed=53))
    copy(files.add("/v.mp4", res), s3, http, bucket)
    assert [p["Prefix"] for p in s3_calls.of("ListMultipartUploads")] == [KEY]
    assert [p["Key"] for p in s3_calls.of("AbortMultipartUpload")] == [KEY]
    assert pending_uploads(s3, bucket) == [KEY + ".other"]
    s3.abort_multipart_upload(Bucket=bucket, Key=KEY + ".other", UploadId=other["UploadId"])
    assert verified_sha256(s3, bucket, KEY) == res.sha256


@pytest.mark.parametrize("prefix", ["", "no-slash", "/abs/", "a/../b/"])
def test_bad_staging_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="staging_prefix"):
        CopyOptions(staging_prefix=prefix)


def test_key_under_the_staging_prefix_is_refused(s3: Any, bucket: str, s3_calls: S3Calls) -> None:
    """Earlier versions staged objects there; a lifecycle rule may expire anything under it."""
    with httpx.Client() as client, pytest.raises(ValueError, match="staging prefix"):
        copy("http://127.0.0.1:9/x.mp4", s3, client, bucket, key=".akool-staging/k/clip.mp4")
    assert s3_calls.names == []
