"""Reading session credentials without ever echoing their values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_akool.streaming.errors import CredentialsError

__all__ = ["optional_str", "require_str"]


def require_str(credentials: Mapping[str, Any], key: str, stream_type: str) -> str:
    """Return ``credentials[key]`` as a non-empty string (numbers accepted, e.g. Agora uids).

    Raises:
        CredentialsError: the field is missing or empty; the message names the field only.
    """
    value = credentials.get(key)
    if isinstance(value, bool) or value is None:
        raise CredentialsError(f"{stream_type} credentials lack required field {key!r}")
    if isinstance(value, int | float):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if not isinstance(value, str) or not value.strip():
        raise CredentialsError(f"{stream_type} credentials field {key!r} must be a non-empty string")
    return value


def optional_str(credentials: Mapping[str, Any], key: str) -> str | None:
    """Return ``credentials[key]`` as a string, or None when absent or empty."""
    value = credentials.get(key)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None
