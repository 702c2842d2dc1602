"""The verification record of a large object: an object tag set after the upload completed.

S3 fixes an object's metadata when its multipart upload is created, but the copier knows the
sha256 of a streamed body only once its last byte has gone through. The default mode therefore
uploads straight to the final key and, once CompleteMultipartUpload has returned, records the
sha256 in two object tags:

* ``akool-sha256``: hex sha256 of the body, computed while streaming;
* ``akool-etag``: the ETag that CompleteMultipartUpload returned, without quotes.

An object counts as verified only if ``akool-etag`` equals its current ETag. S3 drops the tags
of an object that is overwritten, but the ETag check also covers a store that would keep them,
and two runs racing on one key: a tag written for the object of run A onto the object of run B
names A's ETag, so B's object stays unverified until B tags it. An object that has no tags (a
run killed between CompleteMultipartUpload and PutObjectTagging) is unverified, so the next run
uploads it again.

A store that refuses tagging (``NotImplemented``, or the identity lacks ``s3:PutObjectTagging``)
gets the sha256 as metadata instead, with one server-side copy of the object onto itself,
conditional on the same ETag (``publish.py``): slower, equally safe.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_akool.archive import publish
from airflow_provider_akool.archive.errors import UploadError
from airflow_provider_akool.archive.upload import s3_call, s3_error_text

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import TagTypeDef

log = logging.getLogger(__name__)

TAG_SHA256 = "akool-sha256"
TAG_ETAG = "akool-etag"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# Answers meaning "this store or identity cannot tag objects" (not a transient failure).
TAGGING_UNAVAILABLE = frozenset({"NotImplemented", "AccessDenied", "MethodNotAllowed", "XNotImplemented"})

Record = Literal["tag", "metadata"]


def bare_etag(etag: str | None) -> str:
    """The ETag without its quotes (tag values may not contain ``"``)."""
    return (etag or "").strip().strip('"')


def tag_sha256(tags: dict[str, str], etag: str | None) -> str | None:
    """The sha256 recorded in ``tags`` if they were written for the object whose ETag is ``etag``."""
    sha256 = tags.get(TAG_SHA256, "").lower()
    recorded = tags.get(TAG_ETAG)
    if not _SHA256_HEX.match(sha256) or not recorded or recorded != bare_etag(etag):
        return None
    return sha256


def read_tags(s3: S3Client, bucket: str, key: str) -> dict[str, str]:
    """The object's tags; ``{}`` if they cannot be read (the object then counts as unverified)."""
    try:
        response = s3.get_object_tagging(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        log.info("cannot read the tags of s3://%s/%s (%s): treating it as unverified", bucket, key, s3_error_text(exc))
        return {}
    return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}


def _tagging_unavailable(exc: BaseException) -> bool:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in TAGGING_UNAVAILABLE


def record_sha256(
    s3: S3Client,
    bucket: str,
    key: str,
    *,
    sha256: str,
    etag: str,
    size: int,
    object_args: dict[str, Any],
    concurrency: int,
) -> Record:
    """Mark the completed object ``etag`` at ``key`` as verified with ``sha256``; returns how.

    ``object_args`` (content type, encoding, metadata with the sha256) are used only by the
    fallback copy. Raises :class:`UploadError` if neither way worked: the object then stays
    unverified, and the next run uploads it again.
    """
    uri = f"s3://{bucket}/{key}"
    if not bare_etag(etag):
        # The tags name the ETag they were written for; without one, nothing could be verified.
        raise UploadError(
            f"cannot record the sha256 of {uri}: CompleteMultipartUpload returned no ETag, so neither"
            " a tag nor a copy conditional on the uploaded object (CopySourceIfMatch) can be made"
        )
    tags: list[TagTypeDef] = [{"Key": TAG_SHA256, "Value": sha256}, {"Key": TAG_ETAG, "Value": bare_etag(etag)}]
    try:
        s3_call(
            "PutObjectTagging", uri, lambda: s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tags})
        )
    except UploadError as exc:
        if not _tagging_unavailable(exc):
            raise
        log.warning("%s: tagging unavailable (%s); recording the sha256 with a copy", uri, exc)
        publish.publish_object(
            s3, bucket, source=key, key=key, etag=etag, size=size, object_args=object_args, concurrency=concurrency
        )
        return "metadata"
    return "tag"
