"""Publishing a staged upload at its final key: the key shows a complete, verified object or nothing.

S3 fixes an object's metadata when its multipart upload is created, but the copier knows the
sha256 only once the last byte has streamed through. A large object (unless its sha256 is known
in advance) is therefore uploaded to a *staging key* and then published with one server-side copy
that carries the final metadata:

* up to 5 GiB, one ``CopyObject`` (atomic: the final key gets the whole object or nothing);
* above that (CopyObject's limit), ``UploadPartCopy`` into a new multipart upload at the final
  key, created with the final metadata and aborted on failure, so again all or nothing.

Both copies are conditional on the ETag of the staged object (``CopySourceIfMatch``): only the
bytes that were hashed can be published. The staging object is deleted afterwards, and on
failure. A killed run (SIGKILL, node loss) may leave a staging object or an incomplete upload
behind; the next copy of the same key removes them (:func:`remove_stale_staging`) and a lifecycle
rule catches the rest. An upload that goes straight to the final key (``expected_sha256`` or
``hash_first``) first aborts incomplete uploads left at that key (:func:`abort_stale_uploads`).
A staged object without an ETag is never published: the copy could not be conditional.

Two runs copying the same key at the same moment share its staging key: one of them may fail
(its staged object removed or replaced under it), but neither can publish bytes it did not hash.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_akool.archive.errors import UploadError
from airflow_provider_akool.archive.keys import MAX_KEY_BYTES, check_key
from airflow_provider_akool.archive.parts import MAX_PART_SIZE, MiB, part_size_for_length
from airflow_provider_akool.archive.upload import ObjectWriter, s3_call, s3_error_text

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

log = logging.getLogger(__name__)

STAGING_PREFIX = ".akool-staging/"
"""Default prefix of staging keys: ``.akool-staging/<final key>``. Target it with a lifecycle rule."""
COPY_OBJECT_LIMIT = MAX_PART_SIZE
"""Largest object S3 copies with one ``CopyObject`` (5 GiB); larger ones use ``UploadPartCopy``."""
COPY_PART_SIZE = 512 * MiB
"""Part size of a multipart copy (grown if the object would need more than 10,000 parts)."""
MAX_STALE_UPLOADS = 100
"""Incomplete uploads listed (one page) when clearing the leftovers of a staging or final key."""


def check_staging_prefix(prefix: str) -> str:
    """``prefix`` if it is a usable staging prefix (a relative key prefix ending in ``/``)."""
    if not isinstance(prefix, str) or not prefix.endswith("/"):
        raise ValueError("staging_prefix: must be a relative key prefix ending with '/'")
    check_key(prefix[:-1], field="staging_prefix")
    return prefix


def staging_key(key: str, prefix: str = STAGING_PREFIX) -> str:
    """Staging key of ``key``: ``<prefix><key>``, or ``<prefix><sha256 of key>`` if that is too long.

    Deterministic, so a re-run finds the leftovers of a killed run of the same key.
    """
    candidate = prefix + key
    if len(candidate.encode("utf-8")) <= MAX_KEY_BYTES:
        return candidate
    return prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound")


def _precondition_failed(exc: BaseException) -> bool:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == "PreconditionFailed"


def delete_staging(s3: S3Client, bucket: str, staging: str) -> None:
    """Best-effort DeleteObject of a staging object (a leftover is logged, not raised)."""
    try:
        s3.delete_object(Bucket=bucket, Key=staging)
    except (ClientError, BotoCoreError) as exc:
        log.warning("could not delete staging object s3://%s/%s: %s", bucket, staging, s3_error_text(exc))


def remove_stale_staging(s3: S3Client, bucket: str, staging: str, *, uploads: bool = True) -> int:
    """Delete the staging object and (if ``uploads``) abort incomplete uploads left at ``staging``.

    Bounded (one HEAD, one page of ListMultipartUploads) and best effort: errors are logged, since
    the copy itself does not depend on it. Returns the number of leftovers removed.
    """
    removed = 0
    try:
        s3.head_object(Bucket=bucket, Key=staging)
    except ClientError as exc:
        if not _is_missing(exc):
            log.warning("could not check for a stale staging object %s: %s", staging, s3_error_text(exc))
    except BotoCoreError as exc:
        log.warning("could not check for a stale staging object %s: %s", staging, s3_error_text(exc))
    else:
        # HEAD first: on a versioned bucket a blind DELETE would add a delete marker every time.
        log.info("deleting stale staging object s3://%s/%s (left by an interrupted copy)", bucket, staging)
        delete_staging(s3, bucket, staging)
        removed += 1
    if not uploads:
        return removed
    return removed + abort_stale_uploads(s3, bucket, staging)


def abort_stale_uploads(s3: S3Client, bucket: str, key: str) -> int:
    """Abort incomplete multipart uploads whose key is exactly ``key``; returns how many.

    Bounded (one page of ListMultipartUploads) and best effort: errors are logged. Used for a
    staging key, and for the final key before an upload that goes straight to it (``expected_sha256``
    or ``hash_first``), where a killed run's upload would otherwise wait for a lifecycle rule.
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


def complete_and_publish(
    s3: S3Client,
    writer: ObjectWriter,
    *,
    key: str,
    metadata: dict[str, str],
    size: int,
    concurrency: int,
) -> None:
    """Complete ``writer``'s staged upload, publish it at ``key`` with ``metadata``, delete the stage.

    On any failure (BaseException included) ``key`` gets no partial or unverified object and the
    staging object is deleted, unless the failure is that its ETag changed (then it belongs to
    another run). The caller still aborts ``writer`` (a no-op once completed).
    """
    completed = False
    try:
        etag = writer.complete()
        completed = True  # the staged object exists, even if S3 returned no ETag for it
        publish_object(
            s3,
            writer.bucket,
            staging=writer.upload_key,
            key=key,
            etag=etag,
            size=size,
            object_args=writer.object_args(metadata),
            concurrency=concurrency,
        )
    except BaseException as exc:
        if (completed or writer.completed_etag is not None) and not _precondition_failed(exc):
            delete_staging(s3, writer.bucket, writer.upload_key)
        raise
    delete_staging(s3, writer.bucket, writer.upload_key)


def publish_object(
    s3: S3Client,
    bucket: str,
    *,
    staging: str,
    key: str,
    etag: str,
    size: int,
    object_args: dict[str, Any],
    concurrency: int,
) -> None:
    """Server-side copy of the staged object (``etag``) to ``key`` with ``object_args``, all or nothing."""
    uri = f"s3://{bucket}/{key}"
    if not etag:
        # Without an ETag the copy could not be conditional: a concurrent run replacing the staged
        # object could get bytes published under our sha256. The caller deletes the stage.
        raise UploadError(
            f"cannot publish s3://{bucket}/{staging} to {uri}: CompleteMultipartUpload returned no ETag,"
            " so the copy cannot be made conditional on the staged object (CopySourceIfMatch)"
        )
    source: CopySourceTypeDef = {"Bucket": bucket, "Key": staging}
    condition: dict[str, Any] = {"CopySourceIfMatch": etag}
    if size <= COPY_OBJECT_LIMIT:
        # ChecksumAlgorithm makes S3 compute a full-object checksum for the copy instead of keeping
        # the staged upload's composite (per-part) one.
        args = {**object_args, "MetadataDirective": "REPLACE", "ChecksumAlgorithm": "CRC32"}
        s3_call(
            "CopyObject",
            uri,
            lambda: s3.copy_object(Bucket=bucket, Key=key, CopySource=source, **condition, **args),
        )
        return
    _multipart_copy(s3, bucket, key, source, condition, size, object_args, concurrency)


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
