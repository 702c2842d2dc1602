"""Typed failures of the archive layer.

Callers (the batch runner, the Airflow operator) branch on these types: an expired resource is a
normal outcome to record, a refused URL is a configuration bug, everything else is a failed copy.
Messages name the field or the step and never include query strings of signed URLs.
"""

from __future__ import annotations


class ArchiveError(Exception):
    """Base class of every failure raised by ``airflow_provider_akool.archive``."""


class ArchiveInputError(ArchiveError, ValueError):
    """A setting of the run is wrong (the message names the field); nothing was fetched or written.

    Also raised for a destination bucket that does not exist. A retry cannot fix either.
    """


class SourceURLError(ArchiveError, ValueError):
    """The source URL was refused before any request (scheme or host not allowed, malformed)."""


class ResourceExpiredError(ArchiveError):
    """The source answered 403/410: Akool's CDN does this once a resource is past its 7 days."""

    def __init__(self, status_code: int, host: str) -> None:
        super().__init__(f"source on {host} answered HTTP {status_code}: resource expired or revoked")
        self.status_code = status_code
        self.host = host


class DownloadError(ArchiveError):
    """The source could not be read: a non-retryable HTTP status, or retries exhausted."""

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.attempts = attempts


class IntegrityError(ArchiveError):
    """The bytes received do not match what was announced or expected (size or sha256)."""


class UploadError(ArchiveError):
    """An S3 call of the copy failed; the multipart upload has been aborted."""


class CopyCancelledError(ArchiveError):
    """The caller's cancel event was set while copying; the upload has been aborted."""
