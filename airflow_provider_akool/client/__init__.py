"""Typed Akool API client (no Airflow imports): sync and async on httpx.

>>> from airflow_provider_akool.client import AkoolClient, ClientConfig
>>> client = AkoolClient(ClientConfig(api_key="..."))  # doctest: +SKIP
"""

from airflow_provider_akool.client.aio import AsyncAkoolClient
from airflow_provider_akool.client.config import DEFAULT_BASE_URL, ClientConfig
from airflow_provider_akool.client.errors import (
    ACCOUNT_ERRORS,
    AkoolAlreadyExistsError,
    AkoolAmbiguousCreateError,
    AkoolAuthError,
    AkoolBadParameterError,
    AkoolBusyError,
    AkoolClosedError,
    AkoolError,
    AkoolNotFoundError,
    AkoolPermissionError,
    AkoolQuotaError,
    AkoolRequestError,
    AkoolThrottledError,
    AkoolTransientError,
    error_for_code,
)
from airflow_provider_akool.client.retry import RetryPolicy
from airflow_provider_akool.client.sync import AkoolClient

__all__ = [
    "ACCOUNT_ERRORS",
    "DEFAULT_BASE_URL",
    "AkoolAlreadyExistsError",
    "AkoolAmbiguousCreateError",
    "AkoolAuthError",
    "AkoolBadParameterError",
    "AkoolBusyError",
    "AkoolClient",
    "AkoolClosedError",
    "AkoolError",
    "AkoolNotFoundError",
    "AkoolPermissionError",
    "AkoolQuotaError",
    "AkoolRequestError",
    "AkoolThrottledError",
    "AkoolTransientError",
    "AsyncAkoolClient",
    "ClientConfig",
    "RetryPolicy",
    "error_for_code",
]
