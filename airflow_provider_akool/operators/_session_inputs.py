"""What the retelling operator takes from its parameters and its connection, and which of its
failures a retry cannot fix. Light imports only: the operator module imports this at DAG parse."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_akool._compat import AirflowFailException
from airflow_provider_akool._session_caps import RetellingInputError


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def _transport_extra(hook: Any) -> dict[str, int]:
    """Opt-in data-channel limits from the connection extra (``max_message_bytes``, ``bytes_per_second``)."""
    extra = getattr(hook.connection, "extra_dejson", None) or {}
    found: dict[str, int] = {}
    for key in ("max_message_bytes", "bytes_per_second"):
        value = extra.get(key)
        if value in (None, ""):
            continue
        try:
            found[key] = int(value)
        except (TypeError, ValueError):
            raise AirflowFailException(
                f"connection {hook.akool_conn_id!r}: extra field {key!r} must be a whole number of bytes"
            ) from None
    return found


def _parse_json(value: Any, field: str) -> Any:
    """A list or mapping rendered from a template arrives as JSON text; anything else is passed through."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            raise AirflowFailException(f"{field}: looks like JSON but does not parse") from None
    return value


def _sim_time_scale(value: Any, conn_id: str) -> float:
    """The connection extra ``sim_time_scale`` (akool-sim's ``--time-scale``; 1 when unset)."""
    if value is None:
        return 1.0
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = 0.0
    if isinstance(value, bool) or not scale > 0 or scale != scale or scale == float("inf"):
        raise RetellingInputError(f"connection {conn_id!r} extra sim_time_scale: must be a number > 0 (got {value!r})")
    return scale


def _final_errors() -> tuple[type[BaseException], ...]:
    """Failures a retry cannot fix: the account, the request or the avatar's answer to set-params."""
    from airflow_provider_akool.client import (
        ACCOUNT_ERRORS,
        AkoolBadParameterError,
        AkoolNotFoundError,
        AkoolRequestError,
    )
    from airflow_provider_akool.streaming.runner import SessionCapReachedError, UnconfirmedSpeechError
    from airflow_provider_akool.streaming.speaker import SetParamsRejectedError

    return (
        *ACCOUNT_ERRORS,
        AkoolBadParameterError,
        AkoolNotFoundError,
        AkoolRequestError,
        SetParamsRejectedError,
        SessionCapReachedError,
        UnconfirmedSpeechError,
    )
