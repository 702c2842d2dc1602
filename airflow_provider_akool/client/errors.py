"""Typed errors for Akool API failures, grouped by what the caller must do about them.

Akool reports business failures as HTTP 200 with ``code != 1000`` (docs/reference/akool-api.md §6); transport
failures (5xx, 429, timeouts, resets) have no business code. Each subclass maps to one reaction:
fix the request, fix credentials, wait and retry, treat as gone, etc. Unknown codes keep their number.
"""

from __future__ import annotations


class AkoolError(Exception):
    """Base error: carries the Akool business code (if any), message, endpoint and HTTP status."""

    def __init__(
        self,
        msg: str,
        *,
        code: int | None = None,
        endpoint: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.code = code
        self.msg = msg
        self.endpoint = endpoint
        self.http_status = http_status
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.msg]
        if self.code is not None:
            parts.append(f"code={self.code}")
        if self.http_status is not None:
            parts.append(f"http={self.http_status}")
        if self.endpoint:
            parts.append(f"endpoint={self.endpoint}")
        return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else parts[0]

    def __reduce__(self) -> tuple[object, ...]:  # keep errors picklable across process boundaries
        return (_rebuild, (type(self), self.msg, self.code, self.endpoint, self.http_status))


def _rebuild(
    cls: type[AkoolError], msg: str, code: int | None, endpoint: str | None, http_status: int | None
) -> AkoolError:
    err = cls.__new__(cls)
    AkoolError.__init__(err, msg, code=code, endpoint=endpoint, http_status=http_status)
    return err


class AkoolRequestError(AkoolError, ValueError):
    """A request failed local validation; nothing was sent. The message names the field."""


class AkoolAuthError(AkoolError):
    """1101 invalid/expired token or key, 1102 missing authorization."""


class AkoolBadParameterError(AkoolError):
    """1003: Akool rejected a parameter."""


class AkoolNotFoundError(AkoolError):
    """1008/1014/1216/1232: the avatar, resource, session or knowledge base does not exist."""


class AkoolClosedError(AkoolError):
    """1219: the session is already closed."""


class AkoolAlreadyExistsError(AkoolError):
    """1222/1233: a resource with this id or name already exists."""


class AkoolPermissionError(AkoolError):
    """1009/1200/1213/1221: the account may not do this (permission, ban, subscription)."""


class AkoolQuotaError(AkoolError):
    """1006/1103/1104/1223: credits, payment or upload quota exhausted."""


class AkoolThrottledError(AkoolError):
    """1005: operation too frequent. Retryable after a backoff."""


class AkoolBusyError(AkoolError):
    """1214 avatar still processing / 1215 processing busy."""


class AkoolTransientError(AkoolError):
    """Transport-level failure: 5xx, 429, timeout or connection reset.

    ``maybe_applied`` is True when the request may have reached Akool and taken effect (read
    timeout, reset after sending, 5xx). Non-idempotent calls must not be blindly repeated then.
    """

    def __init__(
        self,
        msg: str,
        *,
        endpoint: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        maybe_applied: bool = True,
    ) -> None:
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied
        super().__init__(msg, endpoint=endpoint, http_status=http_status)


class AkoolAmbiguousCreateError(AkoolError):
    """A session create may have succeeded but its response was lost, and the new session could
    not be attributed to this caller (other sessions appeared concurrently). Candidate session ids
    are kept so an operator can report them; the stale-session sweeper closes them."""

    def __init__(self, msg: str, *, endpoint: str | None = None, candidates: list[str] | None = None) -> None:
        self.candidates = list(candidates or [])
        super().__init__(msg, endpoint=endpoint)


# The account, not one request or session: a retry cannot fix these (wrong key, no permission, no credit).
ACCOUNT_ERRORS: tuple[type[AkoolError], ...] = (AkoolAuthError, AkoolPermissionError, AkoolQuotaError)

_BY_CODE: dict[int, type[AkoolError]] = {
    1003: AkoolBadParameterError,
    1005: AkoolThrottledError,
    1006: AkoolQuotaError,
    1008: AkoolNotFoundError,
    1009: AkoolPermissionError,
    1014: AkoolNotFoundError,
    1101: AkoolAuthError,
    1102: AkoolAuthError,
    1103: AkoolQuotaError,
    1104: AkoolQuotaError,
    1200: AkoolPermissionError,
    1213: AkoolPermissionError,
    1214: AkoolBusyError,
    1215: AkoolBusyError,
    1216: AkoolNotFoundError,
    1219: AkoolClosedError,
    1221: AkoolPermissionError,
    1222: AkoolAlreadyExistsError,
    1223: AkoolQuotaError,
    1232: AkoolNotFoundError,
    1233: AkoolAlreadyExistsError,
}


def error_for_code(code: int, msg: str, *, endpoint: str | None = None, http_status: int | None = None) -> AkoolError:
    """Build the typed error for an Akool business code; unknown codes give a plain AkoolError."""
    cls = _BY_CODE.get(code, AkoolError)
    return cls(msg or "Akool request failed", code=code, endpoint=endpoint, http_status=http_status)
