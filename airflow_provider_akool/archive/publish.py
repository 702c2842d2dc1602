"""Conditional server-side copies, and clearing what a killed run left at a key.

The default mode no longer copies anything: it uploads straight to the final key and records the
sha256 in object tags (``verify.py``). A copy is only made when the store refuses tagging: the
completed object is copied onto itself with the sha256 in its metadata.

* up to 5 GiB, one ``CopyObject`` (atomic: the key gets the whole object or nothing);
* above that (CopyObject's limit), ``UploadPartCopy`` into a new multipart upload at the key,
  created with the final metadata and aborted on failure, so again all or nothing.

Both are conditional on the ETag of the completed upload (``CopySourceIfMatch``): only the bytes
that were hashed get the sha256. An object without an ETag is never copied: the copy could not be
conditional. Earlier versions staged large objects under :data:`STAGING_PREFIX`; keys under it
are still refused, and a lifecycle rule removes what those versions left there.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_akool.archive.errors import UploadError
from airflow_provider_akool.archive.keys import check_key
from airflow_provider_akool.archive.parts import MAX_PART_SIZE, MiB, part_size_for_length
from airflow_provider_akool.archive.upload import s3_call, s3_error_text

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

log = logging.getLogger(__name__)

STAGING_PREFIX = ".akool-staging/"
"""Where earlier versions staged large objects; keys under it are refused."""
COPY_OBJECT_LIMIT = MAX_PART_SIZE
"""Largest object S3 copies with one ``CopyObject`` (5 GiB); larger ones use ``UploadPartCopy``."""
COPY_PART_SIZE = 512 * MiB
"""Part size of a multipart copy (grown if the object would need more than 10,000 parts)."""
MAX_STALE_UPLOADS = 100
"""Incomplete uploads listed (one page) when clearing the leftovers at a key."""


def check_staging_prefix(prefix: str) -> str:
    """``prefix`` if it is a usable staging prefix (a relative key prefix ending in ``/``)."""
    if not isinstance(prefix, str) or not prefix.endswith("/"):
        raise ValueError("staging_prefix: must be a relative key prefix ending with '/'")
    check_key(prefix[:-1], field="staging_prefix")
    return prefix


def abort_stale_uploads(s3: S3Client, bucket: str, key: str) -> int:
    """Abort incomplete multipart uploads whose key is exactly ``key``; returns how many.

    Bounded (one page of ListMultipartUploads) and best effort: errors are logged. Run before
    every multipart upload, which goes straight to its final key: a killed run's upload there
    would otherwise wait for a lifecycle rule (and be billed).
    """
    removed = 0
    try:
        listed = s3.list_multipart_uploads(Bucket=bucket, Prefix=key, MaxUploads=MAX_STALE_UPLOADS)
        for upload in listed.get("Uploads", []):
            if upload.get("Key") != key:  # Prefix also matches longer keys
                continue
            log.info("aborting stale multipart upload of s3://%s/%s", bucket, key)
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
            removed += 1
    except (ClientError, BotoCoreError) as exc:
        log.warning("could not clear stale multipart uploads of %s: %s", key, s3_error_text(exc))
    return removed


def publish_object(
    s3: S3Client,
    bucket: str,
    *,
    source: str,
    key: str,
    etag: str,
    size: int,
    object_args: dict[str, Any],
    concurrency: int,
) -> None:
    """Server-side copy of ``source`` (whose ETag must still be ``etag``) to ``key`` with ``object_args``."""
    uri = f"s3://{bucket}/{key}"
    if not etag:
        # Without an ETag the copy could not be conditional: a concurrent run replacing the object
        # could get bytes it did not hash marked with our sha256.
        raise UploadError(
            f"cannot record the sha256 of {uri}: CompleteMultipartUpload returned no ETag,"
            " so the copy cannot be made conditional on the uploaded object (CopySourceIfMatch)"
        )
    copy_source: CopySourceTypeDef = {"Bucket": bucket, "Key": source}
    condition: dict[str, Any] = {"CopySourceIfMatch": etag}
    if size <= COPY_OBJECT_LIMIT:
        # ChecksumAlgorithm makes S3 compute a full-object checksum for the copy instead of keeping
        # the upload's composite (per-part) one.
        args = {**object_args, "MetadataDirective": "REPLACE", "ChecksumAlgorithm": "CRC32"}
        s3_call(
            "CopyObject",
            uri,
            lambda: s3.copy_object(Bucket=bucket, Key=key, CopySource=copy_source, **condition, **args),
        )
        return
    _multipart_copy(s3, bucket, key, copy_source, condition, size, object_args, concurrency)


def _multipart_copy(
    s3: S3Client,
    bucket: str,
    key: str,
    source: CopySourceTypeDef,
    condition: dict[str, Any],
    size: int,
    object_args: dict[str, Any],
    concurrency: int,
) -> None:
    uri = f"s3://{bucket}/{key}"
    created = s3_call(
        "CreateMultipartUpload", uri, lambda: s3.create_multipart_upload(Bucket=bucket, Key=key, **object_args)
    )
    upload_id = created["UploadId"]
    part_size = part_size_for_length(size, COPY_PART_SIZE)
    starts = range(0, size, part_size)

    def copy_part(number: int, start: int) -> CompletedPartTypeDef:
        end = min(start + part_size, size) - 1
        response = s3_call(
            f"UploadPartCopy {number}",
            uri,
            lambda: s3.upload_part_copy(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=source,
                CopySourceRange=f"bytes={start}-{end}",
                **condition,
            ),
        )
        return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}

    pool = ThreadPoolExecutor(max(1, min(concurrency, len(starts))), thread_name_prefix="akool-archive-copy")
    try:
        futures: list[Future[CompletedPartTypeDef]] = [
            pool.submit(copy_part, number, start) for number, start in enumerate(starts, start=1)
        ]
        parts = [future.result() for future in futures]
        pool.shutdown(wait=True)
        s3_call(
            "CompleteMultipartUpload",
            uri,
            lambda: s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            ),
        )
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not abort multipart copy to %s: %s", uri, s3_error_text(exc))
        raise
