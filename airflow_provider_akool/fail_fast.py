"""Account-level Akool errors end a task at once: a retry cannot fix a wrong key or an empty account.

Airflow retries any exception except ``AirflowFailException``. Left as is, an ``AkoolAuthError``
(wrong or revoked API key / client secret, 1101/1102), ``AkoolPermissionError`` (account banned or
not subscribed, 1009/1200/1213/1221) or ``AkoolQuotaError`` (credits or quota exhausted,
1006/1103/1104/1223) is retried ``retries`` times, each try failing the same way. One helper for
every operator, sensor and trigger path: the message names the connection id and what to fix, and
carries the Akool error text (message, code, endpoint), which holds no credential.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from airflow_provider_akool._compat import AirflowFailException
from airflow_provider_akool.client.errors import ACCOUNT_ERRORS

__all__ = [
    "ACCOUNT_ERROR_NAMES",
    "account_error_message",
    "account_error_types",
    "account_failure_from_event",
    "fail_fast_on_account_errors",
]

# Class names as trigger events carry them (events cross processes as JSON, not as exceptions).
ACCOUNT_ERROR_NAMES: tuple[str, ...] = tuple(cls.__name__ for cls in ACCOUNT_ERRORS)

_ADVICE = {
    "AkoolAuthError": "Akool rejected the credentials; fix the API key (or client id / secret) in the connection",
    "AkoolPermissionError": "the Akool account may not do this (permission, plan or ban); fix the account",
    "AkoolQuotaError": "the Akool account is out of credits or quota; top it up",
}


def account_error_types() -> tuple[type[BaseException], ...]:
    """The error classes a retry cannot fix because they concern the account, not the request
    (:data:`~airflow_provider_akool.client.errors.ACCOUNT_ERRORS`)."""
    return ACCOUNT_ERRORS


def account_error_message(conn_id: str, error_name: str, detail: str) -> str:
    """``akool_conn_id 'x': <what to fix> (<Akool's message, code, endpoint>); not retried``."""
    advice = _ADVICE.get(error_name, "Akool refused the account")
    return f"akool_conn_id {conn_id!r}: {advice} ({detail}); not retried, a retry cannot fix this"


@contextmanager
def fail_fast_on_account_errors(conn_id: str) -> Iterator[None]:
    """Turn an account-level Akool error raised inside the block into ``AirflowFailException``."""
    try:
        yield
    except account_error_types() as exc:
        raise AirflowFailException(account_error_message(conn_id, type(exc).__name__, str(exc))) from None


def account_failure_from_event(event: Mapping[str, Any], conn_id: str) -> str | None:
    """The fail-fast message for a trigger event that ended on an account-level error, else None."""
    name = event.get("error_type")
    if isinstance(name, str) and name in ACCOUNT_ERROR_NAMES:
        return account_error_message(conn_id, name, str(event.get("message") or "no details"))
    return None
