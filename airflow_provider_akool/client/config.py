"""Client configuration: where Akool is, how to authenticate, and how patient to be."""

from __future__ import annotations

import functools
import platform
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata

from airflow_provider_akool.client.errors import AkoolRequestError

DEFAULT_BASE_URL = "https://openapi.akool.com"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def default_user_agent() -> str:
    """User-Agent naming this provider, Airflow (when installed) and the runtime."""
    parts = [f"airflow-provider-akool/{_version('airflow-provider-akool') or 'dev'}"]
    airflow_version = _version("apache-airflow") or _version("apache-airflow-core")
    if airflow_version:
        parts.append(f"apache-airflow/{airflow_version}")
    parts.append(f"httpx/{_version('httpx') or '?'}")
    parts.append(f"python/{platform.python_version()}")
    return " ".join(parts)


@dataclass(frozen=True)
class ClientConfig:
    """How to reach and authenticate against Akool.

    Auth modes (docs/reference/akool-api.md §1): with only ``api_key`` every request carries ``x-api-key``; with
    ``client_id`` + ``client_secret`` the client exchanges them at getToken for a bearer token
    (cached per process, refreshed once on code 1101). Never both headers: Authorization would win.
    ``on_secret`` is called with every secret the client learns at run time (bearer tokens), so a
    host such as Airflow can mask it in logs (the async client awaits it when it returns an awaitable).
    ``lost_create_grace``: how long past its read timeout a session create given up on may still be
    applied by Akool; ``sessions.open_session`` keeps looking for the session it may open until then
    (``sessions/reconcile.py``).
    """

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_attempts: int = 5
    max_retry_wait: float = 30.0
    max_retry_time: float = 180.0
    backoff_base: float = 0.5
    lost_create_grace: float = 10.0
    user_agent: str = field(default_factory=default_user_agent)
    on_secret: Callable[[str], Awaitable[None] | None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise AkoolRequestError(f"base_url must start with http:// or https:// (got {self.base_url!r})")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if self.token_mode:
            if not self.client_secret:
                raise AkoolRequestError("client_secret is required when client_id is set (token mode)")
        elif not self.api_key:
            raise AkoolRequestError("api_key is required (or client_id + client_secret for token mode)")
        for name in ("timeout", "connect_timeout"):
            if getattr(self, name) <= 0:
                raise AkoolRequestError(f"{name} must be > 0 (got {getattr(self, name)!r})")
        if not 1 <= self.max_attempts <= 20:
            raise AkoolRequestError(f"max_attempts must be between 1 and 20 (got {self.max_attempts!r})")
        if self.max_retry_wait < 0 or self.max_retry_time < 0 or self.lost_create_grace < 0:
            raise AkoolRequestError("max_retry_wait, max_retry_time and lost_create_grace must be >= 0")

    @property
    def token_mode(self) -> bool:
        """True when authenticating with clientId/clientSecret -> bearer token."""
        return bool(self.client_id)
