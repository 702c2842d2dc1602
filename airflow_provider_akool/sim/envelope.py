"""The Akool response envelope and the input checks shared by the REST routes (docs/reference/akool-api.md §6)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

SUCCESS = 1000
INVALID_PARAM = 1003
TOO_FREQUENT = 1005
NOT_FOUND = 1008
BAD_AUTH = 1101
NO_AUTH = 1102
NO_CREDIT = 1104
AVATAR_PROCESSING = 1214
SESSION_NOT_FOUND = 1216
SESSION_CLOSED = 1219
ALREADY_EXISTS = 1222
KB_NOT_FOUND = 1232
KB_EXISTS = 1233


class AkoolError(Exception):
    """A business error: answered as HTTP 200 with a non-1000 code (the documented pattern)."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def ok(data: Any = None, msg: str = "OK") -> JSONResponse:
    """Success envelope. ``msg`` casing differs per endpoint like the real API ("OK"/"ok")."""
    body: dict[str, Any] = {"code": SUCCESS, "msg": msg}
    if data is not None:
        body["data"] = data
    return JSONResponse(body)


def error_response(exc: AkoolError) -> JSONResponse:
    # Error envelopes carry no "data" key.
    return JSONResponse({"code": exc.code, "msg": exc.msg})


def invalid(field: str, why: str) -> AkoolError:
    return AkoolError(INVALID_PARAM, f"Invalid parameter '{field}': {why}")


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body; anything else is a 1003."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise AkoolError(INVALID_PARAM, "Invalid parameter: body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise AkoolError(INVALID_PARAM, "Invalid parameter: body must be a JSON object")
    return value


def as_int(value: Any, field: str, *, default: int | None = None) -> int:
    """An integer from a JSON number or a numeric string; None/"" give ``default``."""
    if value is None or value == "":
        if default is None:
            raise invalid(field, "is required")
        return default
    if isinstance(value, bool):
        raise invalid(field, "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise invalid(field, "must be an integer")


def as_number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid(field, "must be a number")
    try:
        return float(value)
    except ValueError as exc:
        raise invalid(field, "must be a number") from exc


def need_str(value: Any, field: str) -> str:
    """A required, non-empty string."""
    text = as_str(value, field)
    if not text:
        raise invalid(field, "is required")
    return text


def as_str(value: Any, field: str, *, max_len: int | None = None) -> str | None:
    """An optional string; None stays None."""
    if value is None or value == "":
        return None if value is None else ""
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if max_len is not None and len(value) > max_len:
        raise invalid(field, f"must be at most {max_len} characters")
    return value


def paging(page: Any, size: Any, *, default_size: int, max_size: int = 100) -> tuple[int, int]:
    """Validated (page, size): page >= 1, 1 <= size <= max_size."""
    page_n = as_int(page, "page", default=1)
    size_n = as_int(size, "size", default=default_size)
    if page_n < 1:
        raise invalid("page", "must be >= 1")
    if not 1 <= size_n <= max_size:
        raise invalid("size", f"must be between 1 and {max_size}")
    return page_n, size_n


def page_slice(items: list[Any], page: int, size: int) -> list[Any]:
    return items[(page - 1) * size : page * size]
