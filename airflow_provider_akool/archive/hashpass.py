"""Hash-first mode (``CopyOptions(hash_first=True)``): read the source once for its sha256, then upload.

S3 fixes an object's metadata when its multipart upload is created, but the sha256 of a streamed
body is known only at its end. By default the copier therefore records the sha256 of a large body
in object tags once the upload is complete (``verify.py``). In hash-first mode it reads the
source twice instead, so that the sha256 can be in the metadata from the start:

1. the *hash pass* (this module) streams the body once, keeping one chunk in memory, to learn
   its sha256 and size, with the same retries and Range resumes as any download;
2. the *upload pass* is the ``expected_sha256`` path: the upload goes straight to the final key
   with the sha256 in its metadata, and is completed only if the bytes uploaded hash to the same
   value (and have the same size); otherwise it is aborted and nothing is stored.

The trade-off is twice the source egress and read time, for a sha256 visible in the metadata
(readers that only HEAD, or a store that refuses tagging without paying for a server-side copy).
A source that changes between the passes fails the copy cleanly (:class:`IntegrityError`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_akool.archive.errors import IntegrityError
from airflow_provider_akool.archive.progress import ProgressThrottle, format_bytes
from airflow_provider_akool.archive.source import RESTART, ResumableDownload, SourceInfo

PassCallback = Callable[[int, str], None]
"""``(pass_number, description) -> None``: called when a hash-first copy starts pass 1 and pass 2."""

CHANGED = "source changed between the hash pass and the upload pass"


@dataclass(frozen=True)
class SourceDigest:
    """What the hash pass learnt about the body, and what reading it cost."""

    sha256: str
    size: int
    info: SourceInfo
    """Headers of the response the body was hashed from (the last one, after a restart)."""
    bytes_received: int
    attempts: int
    resumes: int
    restarts: int
    seconds: float


def _check_length(total: int | None, expected_size: int | None) -> None:
    if total is not None and expected_size is not None and total != expected_size:
        raise IntegrityError(f"source announces {total} bytes, expected_size is {expected_size}")


def hash_source(
    download: ResumableDownload,
    *,
    expected_size: int | None,
    progress: ProgressThrottle,
    on_pass: PassCallback | None = None,
) -> SourceDigest:
    """Read an opened ``download`` to its end and return the sha256 and size of the body.

    Memory is one chunk. A restart from byte 0 (the source could not resume) starts the hash
    again. Raises :class:`IntegrityError` if the body disagrees with its Content-Length or with
    ``expected_size``; the download is closed in any case. ``on_pass(1, ...)`` is called first.
    """
    started = time.monotonic()
    hasher = hashlib.sha256()
    received = 0
    info = download.info
    try:
        if on_pass is not None:
            on_pass(1, "reading the source to compute its sha256")
        _check_length(info.total, expected_size)
        for item in download.iter_body():
            if item is RESTART:
                hasher, received, info = hashlib.sha256(), 0, download.info
                _check_length(info.total, expected_size)
                continue
            hasher.update(item)
            received += len(item)
            if expected_size is not None and received > expected_size:
                raise IntegrityError(f"source sent more than expected_size ({expected_size} bytes)")
            progress.update(received, info.total)
    finally:
        download.close()
    if info.total is not None and received != info.total:
        raise IntegrityError(f"received {received} bytes, Content-Length announced {info.total}")
    if expected_size is not None and received != expected_size:
        raise IntegrityError(f"received {received} bytes, expected_size is {expected_size}")
    progress.finish(received, info.total)
    return SourceDigest(
        sha256=hasher.hexdigest(),
        size=received,
        info=info,
        bytes_received=download.bytes_received,
        attempts=download.attempts,
        resumes=download.resumes,
        restarts=download.restarts,
        seconds=time.monotonic() - started,
    )


def check_unchanged(hashed: SourceDigest, info: SourceInfo) -> None:
    """Fail before uploading anything if the upload pass's response announces another body."""
    if info.total is not None and info.total != hashed.size:
        raise IntegrityError(f"{CHANGED}: {hashed.size} bytes were hashed, the source now announces {info.total}")
    before, now = hashed.info.etag, info.etag
    if before and now and not before.startswith("W/") and not now.startswith("W/") and before != now:
        raise IntegrityError(f"{CHANGED}: its ETag was {before}, it is now {now}")


def describe_hash_pass(hashed: SourceDigest, uri: str) -> str:
    """Description of pass 2, with what pass 1 found: ``uploading to s3://... (sha256 ..., ...)``."""
    rate = hashed.size / hashed.seconds if hashed.seconds > 0 else 0.0
    return (
        f"uploading to {uri} (pass 1 hashed {format_bytes(hashed.size)} in {hashed.seconds:.1f} s "
        f"at {format_bytes(rate)}/s, sha256 {hashed.sha256[:16]}…)"
    )
