"""Writing one object to S3: a single PUT, or a multipart upload with parts sent concurrently.

Parts go to a small thread pool while the caller downloads the next one; a semaphore blocks the
caller once ``concurrency`` parts are in flight, which is what bounds memory. The multipart
upload is created lazily (a body smaller than one part never starts one) and :meth:`abort`
waits for running part uploads before aborting, so no parts are left behind. Every part carries
a CRC32 checksum that S3 verifies on receipt (``ChecksumAlgorithm="CRC32"``), so a part corrupted
on the way is refused, not stored. CRC32 rather than SHA-256 because the body is already hashed
with SHA-256 for the object's recorded sha256; a second SHA-256 pass per part cost ~1 CPU-second
per GiB on a 2-core machine (docs/benchmarks.md). A single PUT still sends its SHA-256.
:class:`PartCutter` hashes a body and cuts it into parts for the writer.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_akool.archive.errors import UploadError
from airflow_provider_akool.archive.parts import PartPlan

# The per-part checksum S3 verifies (the module docstring says why not SHA-256).
PART_CHECKSUM: Final = "CRC32"

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger(__name__)
T = TypeVar("T")


def s3_error_text(exc: BaseException) -> str:
    """``Code: Message`` of a botocore error (no request details, so no signed URLs)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}".strip(": ")
    return f"{type(exc).__name__}: {exc}"


def s3_call(operation: str, uri: str, fn: Callable[[], T]) -> T:
    """``fn()``, with botocore errors turned into :class:`UploadError` naming ``operation`` and ``uri``."""
    try:
        return fn()
    except (ClientError, BotoCoreError) as exc:
        raise UploadError(f"S3 {operation} failed for {uri}: {s3_error_text(exc)}") from exc


class ObjectWriter:
    """Uploads one S3 object with fixed content type, encoding and initial user metadata."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        key: str,
        *,
        content_type: str,
        content_encoding: str | None,
        metadata: dict[str, str],
        concurrency: int,
        before_create: Callable[[], object] | None = None,
    ) -> None:
        """``before_create`` runs just before each CreateMultipartUpload (e.g. to clear leftovers)."""
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        self._content_type = content_type
        self._content_encoding = content_encoding
        self._metadata = dict(metadata)
        self._concurrency = concurrency
        self._before_create = before_create
        self._lock = threading.Lock()
        self._bytes_uploaded = 0
        self._start_state()

    def _start_state(self) -> None:
        self._upload_id: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(self._concurrency)
        self._futures: list[Future[CompletedPartTypeDef]] = []
        self._next_part = 1
        self.completed_etag: str | None = None

    @property
    def uri(self) -> str:
        """``s3://bucket/key`` of the object being written."""
        return f"s3://{self.bucket}/{self.key}"

    @property
    def bytes_uploaded(self) -> int:
        """Bytes accepted by S3 so far, over every attempt (discarded restarts included)."""
        with self._lock:
            return self._bytes_uploaded

    @property
    def multipart(self) -> bool:
        """True once a multipart upload has been started."""
        return self._upload_id is not None

    @property
    def parts(self) -> int:
        """Number of parts submitted to the current multipart upload."""
        return self._next_part - 1

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        return s3_call(operation, self.uri, fn)

    def object_args(self, metadata: dict[str, str]) -> dict[str, Any]:
        """Content type, encoding and ``metadata`` as keyword arguments of a PUT, create or copy."""
        args: dict[str, Any] = {"ContentType": self._content_type, "Metadata": metadata}
        if self._content_encoding:
            args["ContentEncoding"] = self._content_encoding
        return args

    def put_single(self, data: bytes | bytearray, sha256_digest: bytes, metadata: dict[str, str]) -> None:
        """Write the whole object with one PUT; S3 verifies ``ChecksumSHA256`` against the body."""
        checksum = base64.b64encode(sha256_digest).decode("ascii")
        self._call(
            "PutObject",
            lambda: self._s3.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=bytes(data),
                ChecksumSHA256=checksum,
                **self.object_args(metadata),
            ),
        )
        with self._lock:
            self._bytes_uploaded += len(data)

    def add_part(self, data: bytearray) -> None:
        """Queue the next part; blocks while ``concurrency`` parts are in flight.

        Ownership of ``data`` passes to the writer. Raises :class:`UploadError` if an earlier part
        failed.
        """
        self._raise_failed_part()
        if self._upload_id is None:
            if self._before_create is not None:
                self._before_create()
            created = self._call(
                "CreateMultipartUpload",
                lambda: self._s3.create_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    ChecksumAlgorithm=PART_CHECKSUM,
                    **self.object_args(self._metadata),
                ),
            )
            self._upload_id = created["UploadId"]
            self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="akool-archive-part")
        assert self._pool is not None
        self._slots.acquire()
        self._raise_failed_part()
        number = self._next_part
        self._next_part += 1
        future = self._pool.submit(self._upload_part, self._upload_id, number, data)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def _upload_part(self, upload_id: str, number: int, data: bytearray) -> CompletedPartTypeDef:
        response = self._call(
            f"UploadPart {number}",
            lambda: self._s3.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=upload_id,
                PartNumber=number,
                Body=cast("bytes", data),  # botocore accepts bytearray blobs; the stubs do not
                ChecksumAlgorithm=PART_CHECKSUM,
            ),
        )
        with self._lock:
            self._bytes_uploaded += len(data)
        part: CompletedPartTypeDef = {"PartNumber": number, "ETag": response["ETag"]}
        if "ChecksumCRC32" in response:  # S3 wants it back in CompleteMultipartUpload
            part["ChecksumCRC32"] = response["ChecksumCRC32"]
        return part

    def _raise_failed_part(self) -> None:
        for future in self._futures:
            if future.done() and not future.cancelled():
                error = future.exception()
                if error is not None:
                    raise error

    def complete(self) -> str:
        """Wait for every part, complete the upload and return the object's ETag."""
        if self._upload_id is None:
            raise RuntimeError("complete() without any part")
        upload_id = self._upload_id
        parts = [future.result() for future in self._futures]
        self._shutdown_pool()
        response = self._call(
            "CompleteMultipartUpload",
            lambda: self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            ),
        )
        self.completed_etag = response.get("ETag")
        self._upload_id = None
        return self.completed_etag or ""

    def _shutdown_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        """Stop queued parts, wait for running ones, and abort the multipart upload (idempotent)."""
        for future in self._futures:
            future.cancel()
        self._shutdown_pool()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not abort multipart upload of s3://%s/%s: %s", self.bucket, self.key, s3_error_text(exc))

    def reset(self) -> None:
        """Abort the current upload and start afresh (the source restarted from byte 0)."""
        self.abort()
        self._start_state()


class PartCutter:
    """Hashes the body and cuts it into parts, holding a full part back until more data exists.

    Holding back means a body of exactly one part still goes out as a single PUT, and the last
    part of a multipart upload is never empty. Each part buffer is allocated once at its final
    size (smaller when the Content-Length says less remains), so memory does not creep with
    reallocations.
    """

    def __init__(self, writer: ObjectWriter, plan: PartPlan) -> None:
        self._writer = writer
        self.restart(plan)

    def restart(self, plan: PartPlan) -> None:
        """Forget everything received (the source starts again from byte 0)."""
        self._plan = plan
        self.hasher = hashlib.sha256()
        self.received = 0
        self._buffer = self._new_buffer()
        self._filled = 0

    def _new_buffer(self) -> bytearray:
        size = self._plan.size_of(self._writer.parts + 1)
        if self._plan.length is not None:
            size = max(0, min(size, self._plan.length - self.received))
        return bytearray(size)

    def feed(self, chunk: bytes) -> None:
        """Hash ``chunk`` and hand every completed part to the writer."""
        self.hasher.update(chunk)
        view = memoryview(chunk)
        while view:
            if self._filled == len(self._buffer):
                if self._filled:
                    self._writer.add_part(self._buffer)
                self._buffer = self._new_buffer()
                self._filled = 0
                if not self._buffer:  # more bytes than announced; the size check reports it
                    self._buffer = bytearray(len(view))
            take = min(len(view), len(self._buffer) - self._filled)
            self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            self.received += take
            view = view[take:]

    def tail(self) -> bytearray:
        """The part not yet handed to the writer (the whole body if it fits in one part)."""
        del self._buffer[self._filled :]
        return self._buffer
