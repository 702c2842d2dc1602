"""Resumable streaming GET of a source URL.

Transient failures (connection reset, timeouts, 5xx/408/429, a body shorter than its
Content-Length) are retried with the client's :class:`RetryPolicy` (capped exponential backoff,
jitter, a bounded number of requests).
A retry resumes with ``Range: bytes=<offset>-`` when the first response advertised
``Accept-Ranges: bytes``; if the server then answers 200 (or a 206 for the wrong range) the body
starts again from byte 0 and the consumer is told so by a :data:`RESTART` marker. ``If-Range``
carries the validator of the first response, so a source that changed in between also restarts.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import Enum

import httpx

from airflow_provider_akool.archive.errors import (
    CopyCancelledError,
    DownloadError,
    IntegrityError,
    ResourceExpiredError,
    SourceURLError,
)
from airflow_provider_akool.archive.urls import host_allowed, url_host
from airflow_provider_akool.client.retry import RetryPolicy

# Akool's CDN answers 403 once a generated resource is past its 7 days (docs/reference/akool-api.md §5.4).
EXPIRED_STATUSES = frozenset({403, 410})
RETRYABLE_STATUSES = frozenset({408, 425, 429})
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


class Restart(Enum):
    """Marker type of :data:`RESTART`."""

    RESTART = "restart"


RESTART = Restart.RESTART
"""Yielded by :meth:`ResumableDownload.iter_body` when the body starts again from byte 0."""


DOWNLOAD_RETRY = RetryPolicy(max_attempts=6, base=0.5, max_wait=8.0, max_time=None)
"""Default for a copy: ``max_attempts`` counts every GET of one copy (resumes included); no
total-time bound, since a multi-GB body may take hours to stream."""


@dataclass(frozen=True)
class SourceInfo:
    """What the source announced about the resource."""

    total: int | None
    content_type: str
    content_encoding: str | None
    etag: str | None
    last_modified: str | None
    accept_ranges: bool


def _parse_length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def source_info(response: httpx.Response) -> SourceInfo:
    """Read length, type, encoding, validators and range support from response headers."""
    headers = response.headers
    encoding = headers.get("content-encoding")
    return SourceInfo(
        total=_parse_length(headers.get("content-length")),
        content_type=headers.get("content-type") or "application/octet-stream",
        content_encoding=None if encoding in (None, "", "identity") else encoding,
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
        accept_ranges="bytes" in headers.get("accept-ranges", "").lower(),
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ResumableDownload:
    """One resource's GET, retried and resumed until the whole body has been yielded once."""

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        *,
        policy: RetryPolicy,
        chunk_size: int = 256 * 1024,
        allowed_hosts: frozenset[str] | None = None,
        cancel: threading.Event | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._url = url
        self._host = url_host(url)
        self._policy = policy
        self._chunk_size = chunk_size
        self._allowed_hosts = allowed_hosts
        self._cancel = cancel
        self._sleep = sleep
        self._clock = clock
        self._failing_since: float | None = None
        self._response: httpx.Response | None = None
        self._ranges_usable = True
        self._info: SourceInfo | None = None
        self.attempts = 0
        self.resumes = 0
        self.restarts = 0
        self.bytes_received = 0

    @property
    def info(self) -> SourceInfo:
        """Headers of the response currently being read (updated on a restart)."""
        if self._info is None:
            raise RuntimeError("open() has not been called")
        return self._info

    def open(self) -> SourceInfo:
        """Send the first GET; raises :class:`ResourceExpiredError` on 403/410."""
        self._response = self._send({})
        if self._response.status_code != 200:
            self._response.close()
            raise DownloadError(
                f"source on {self._host} answered {self._response.status_code} to a plain GET",
                status_code=self._response.status_code,
            )
        self._info = source_info(self._response)
        return self._info

    def close(self) -> None:
        """Release the connection of the current response, if any."""
        if self._response is not None:
            self._response.close()

    def iter_body(self) -> Iterator[bytes | Restart]:
        """Yield body chunks in order; :data:`RESTART` means "discard everything, from byte 0"."""
        if self._response is None:
            raise RuntimeError("open() has not been called")
        offset = 0
        try:
            while True:
                total = self.info.total
                try:
                    for chunk in self._response.iter_raw(self._chunk_size):
                        self._check_cancel()
                        if total is not None and offset + len(chunk) > total:
                            raise IntegrityError(f"source sent more than its Content-Length of {total} bytes")
                        offset += len(chunk)
                        self.bytes_received += len(chunk)
                        self._failing_since = None
                        yield chunk
                    self._response.close()
                    if total is None or offset == total:
                        return
                    cause = f"body ended after {offset} of {total} bytes"
                except TRANSIENT_ERRORS as exc:
                    self._response.close()
                    cause = _describe(exc)
                self._wait_before_retry(cause)
                if self._reopen(offset):
                    offset = 0
                    yield RESTART
        finally:
            self.close()

    def _reopen(self, offset: int) -> bool:
        """Continue at ``offset``; True if the new response starts again from byte 0."""
        info = self.info
        if offset > 0 and info.accept_ranges and self._ranges_usable:
            headers = {"Range": f"bytes={offset}-"}
            validator = info.etag if info.etag and not info.etag.startswith("W/") else info.last_modified
            if validator:
                headers["If-Range"] = validator
            response = self._send(headers)
            if response.status_code == 206:
                if self._range_matches(response, offset):
                    self._response = response
                    self.resumes += 1
                    return False
                response.close()
                self._ranges_usable = False
                response = self._send({})
        else:
            response = self._send({})
        if response.status_code == 206:  # a Range we did not ask for: cannot trust the body
            response.close()
            raise DownloadError(f"source on {self._host} answered 206 to a plain GET", status_code=206)
        self._response = response
        new_info = source_info(response)
        # Range support is a property of the first response; keep it unless ranges proved unusable.
        self._info = replace(new_info, accept_ranges=info.accept_ranges and self._ranges_usable)
        if offset > 0:
            self.restarts += 1
            return True
        return False

    def _range_matches(self, response: httpx.Response, offset: int) -> bool:
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if match is None or int(match.group(1)) != offset:
            return False
        total = self.info.total
        announced = None if match.group(3) == "*" else int(match.group(3))
        return total is None or announced is None or announced == total

    def _send(self, headers: dict[str, str]) -> httpx.Response:
        """GET with retries for connect errors and retryable statuses; returns a 200/206 response."""
        while True:
            self._check_cancel()
            self.attempts += 1
            request = self._client.build_request("GET", self._url, headers={"Accept-Encoding": "identity", **headers})
            try:
                response = self._client.send(request, stream=True, follow_redirects=True)
            except TRANSIENT_ERRORS as exc:
                self._wait_before_retry(_describe(exc))
                continue
            status = response.status_code
            final_host = response.url.host
            if not host_allowed(final_host, self._allowed_hosts):
                response.close()
                raise SourceURLError(
                    f"source_url: redirected to host {final_host!r}, which is not in the allowed hosts"
                )
            if status in (200, 206):
                return response
            response.close()
            if status in EXPIRED_STATUSES:
                raise ResourceExpiredError(status, self._host)
            if status >= 500 or status in RETRYABLE_STATUSES:
                self._wait_before_retry(f"HTTP {status}")
                continue
            raise DownloadError(
                f"source on {self._host} answered HTTP {status}", status_code=status, attempts=self.attempts
            )

    def _wait_before_retry(self, cause: str) -> None:
        """Wait before the next GET, or give up: ``max_attempts`` GETs in all, or ``max_time``
        seconds of failures with no byte received in between."""
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        if self.attempts >= self._policy.max_attempts:
            raise DownloadError(
                f"download from {self._host} failed after {self.attempts} attempts: {cause}",
                attempts=self.attempts,
            )
        max_time = self._policy.max_time
        if max_time is not None and now - self._failing_since >= max_time:
            raise DownloadError(
                f"download from {self._host} kept failing for {now - self._failing_since:.0f}s"
                f" (retry.max_time {max_time:g}s) after {self.attempts} attempts: {cause}",
                attempts=self.attempts,
            )
        delay = self._policy.delay(self.attempts)
        if self._cancel is not None:
            if self._cancel.wait(delay):
                raise CopyCancelledError("copy cancelled")
        else:
            self._sleep(delay)

    def _check_cancel(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise CopyCancelledError("copy cancelled")


def head_source(client: httpx.Client, url: str, *, allowed_hosts: frozenset[str] | None = None) -> SourceInfo | None:
    """One HEAD of the source, for the idempotency check.

    Returns ``None`` when the answer is not usable (error status, transport failure, redirect off
    the allow-list); raises :class:`ResourceExpiredError` on 403/410.
    """
    try:
        response = client.head(url, headers={"Accept-Encoding": "identity"}, follow_redirects=True)
    except httpx.HTTPError:
        return None
    if response.status_code in EXPIRED_STATUSES:
        raise ResourceExpiredError(response.status_code, url_host(url))
    if response.status_code != 200 or not host_allowed(response.url.host, allowed_hosts):
        return None
    return source_info(response)
