"""AkoolHook: turns an Airflow connection of type ``akool`` into an Akool client. Nothing else."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import weakref
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import BaseHook

from airflow_provider_akool._compat import never_mask
from airflow_provider_akool.client.config import DEFAULT_BASE_URL, ClientConfig

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_provider_akool.client import AkoolClient, AsyncAkoolClient

# The stream type akool-sim accepts: too short to be a secret, and a warning in every task log otherwise.
never_mask("sim")

# Triggers of one triggerer share one async client (pool + token) per connection and event loop.
_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncAkoolClient]] = (
    weakref.WeakKeyDictionary()
)
_CLIENT_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _extras(conn: Connection) -> dict[str, Any]:
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    return dict(extra or {})


class ConnectionExtraError(ValueError):
    """An extra field of the connection cannot be used; names the connection and the field."""

    def __init__(self, conn_id: str | None, field: str, problem: str) -> None:
        super().__init__(f"connection {conn_id!r}: extra field {field!r} {problem}")
        self.field = field
        self.problem = problem


def _with_port(base_url: str, port: int | None, conn_id: str | None) -> str:
    """The base URL with the connection's port in it; 0 or no port leaves the URL as it is.

    The form stores 0 (see provider_info: Airflow 3.3's Test icon needs a stored port), and the URI
    form ``akool://:key@host:8765`` puts the port here rather than in the host.
    """
    if not port:
        return base_url
    parts = urlsplit(base_url)
    if parts.port is None:
        return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))
    if parts.port != port:
        raise ValueError(
            f"connection {conn_id!r}: port {port} differs from the port of the API base URL {base_url!r}; "
            "set the port to 0 or make them the same"
        )
    return base_url


def config_from_connection(conn: Connection, **overrides: Any) -> ClientConfig:
    """Build a ClientConfig from a connection: host = base URL, password = API key, login = client id.

    With a login the connection is in token mode: login/password are the clientId/clientSecret
    exchanged for a bearer token (akool-api.md §1). Extras tune timeouts and retries.
    """
    extra = _extras(conn)
    host = (conn.host or "").strip()
    if host and "://" not in host:
        host = f"https://{host}"
    host = _with_port(host or DEFAULT_BASE_URL, conn.port, conn.conn_id)
    numeric: dict[str, Any] = {}
    for key, cast in (
        ("timeout", float),
        ("connect_timeout", float),
        ("max_attempts", int),
        ("max_retry_wait", float),
        ("max_retry_time", float),
    ):
        if extra.get(key) not in (None, ""):
            try:
                numeric[key] = cast(extra[key])
            except (TypeError, ValueError):
                raise ConnectionExtraError(conn.conn_id, key, "must be a number") from None
    login = (conn.login or "").strip() or None
    return ClientConfig(
        base_url=host,
        api_key=None if login else conn.password,
        client_id=login,
        client_secret=conn.password if login else None,
        **{**numeric, **overrides},
    )


class AkoolHook(BaseHook):
    """Interact with Akool through the connection ``akool_conn_id``.

    Clients are created lazily (no I/O at DAG parse time). ``get_client()`` serves operators;
    ``await get_async_client()`` serves triggers and the streaming runner.
    """

    conn_name_attr = "akool_conn_id"
    default_conn_name = "akool_default"
    conn_type = "akool"
    hook_name = "Akool"

    def __init__(self, akool_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.akool_conn_id = akool_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form hints for Airflow 3.1 (3.2+ reads ui-field-behaviour from provider info)."""
        from airflow_provider_akool.provider_info import get_provider_info

        behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
        # The hook method's contract is snake_case keys (provider info uses kebab-case); Airflow 3.1
        # validates this dict and drops it whole when hidden_fields or relabeling is missing.
        return {
            "hidden_fields": list(behaviour["hidden-fields"]),
            "relabeling": dict(behaviour["relabeling"]),
            "placeholders": dict(behaviour["placeholders"]),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra connection form fields for Airflow 3.1 (3.2+ reads conn-fields from provider info).

        Airflow 3.1's API server calls this with wtforms/flask_appbuilder stand-ins, so neither
        needs to be installed; 3.1 allows only string/integer/password/boolean fields.
        """
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, StringField
        from wtforms.validators import Optional, any_of

        from airflow_provider_akool.provider_info import get_provider_info

        fields = get_provider_info()["connection-types"][0]["conn-fields"]
        widgets: dict[str, Any] = {}
        for name, spec in fields.items():
            schema = spec["schema"]
            is_integer = "integer" in schema["type"]
            validators = [Optional(), *([any_of(schema["enum"])] if "enum" in schema else [])]
            default = schema.get("default")
            widgets[name] = (IntegerField if is_integer else StringField)(
                lazy_gettext(spec["label"]),
                widget=BS3TextFieldWidget(),
                validators=validators,
                description=spec["description"],
                default=default if default is None or is_integer else str(default),
            )
        return widgets

    @cached_property
    def connection(self) -> Connection:
        return self.get_connection(self.akool_conn_id)

    @property
    def default_stream_type(self) -> str | None:
        """``stream_type`` extra of the connection (the default RTC transport), if set."""
        value = _extras(self.connection).get("stream_type")
        return str(value) if value else None

    @property
    def speech_rates_by_language(self) -> Any:
        """``speech_rates`` extra: ``{"zh": {"han": 4.2}, "*": {...}}``, rates per character class
        (characters per second at speed 1.0) per language; checked by the session operator."""
        return _extras(self.connection).get("speech_rates") or None

    @property
    def sim_time_scale(self) -> Any:
        """``sim_time_scale`` extra (akool-sim only): how much faster than real time the sim runs, so
        that a session operator's waits and session clock match it; checked by the operator."""
        return _extras(self.connection).get("sim_time_scale") or None

    def get_config(self, **overrides: Any) -> ClientConfig:
        from airflow.sdk.log import mask_secret

        return config_from_connection(self.connection, on_secret=mask_secret, **overrides)

    @cached_property
    def client(self) -> AkoolClient:
        from airflow_provider_akool.client import AkoolClient

        return AkoolClient(self.get_config())

    def get_client(self) -> AkoolClient:
        """The blocking client for this connection (created on first use)."""
        return self.client

    def get_conn(self) -> AkoolClient:
        return self.client

    async def get_async_client(self) -> AsyncAkoolClient:
        """The async client shared by every caller of this connection in the running event loop."""
        from airflow_provider_akool._compat import amask_secret
        from airflow_provider_akool.client import AsyncAkoolClient

        conn = await self.aget_connection(self.akool_conn_id)
        config = config_from_connection(conn, on_secret=amask_secret)
        # Key on the connection's content too, so an edited connection gets a fresh client.
        fingerprint = hashlib.sha256(
            repr((config.base_url, config.api_key, config.client_id, config.client_secret)).encode()
        ).hexdigest()[:16]
        key = f"{self.akool_conn_id}:{fingerprint}"
        loop = asyncio.get_running_loop()
        per_loop = _ASYNC_CLIENTS.setdefault(loop, {})
        client = per_loop.get(key)
        if client is not None and not client.closed:
            return client
        async with _CLIENT_LOCKS.setdefault(loop, {}).setdefault(key, asyncio.Lock()):
            client = per_loop.get(key)
            if client is None or client.closed:
                # Building an httpx client loads the TLS trust store (~0.3 s): off the event loop,
                # where it would stall every other trigger of the triggerer. One build per key.
                client = await asyncio.to_thread(AsyncAkoolClient, config)
                per_loop[key] = client
            return client

    def test_connection(self) -> tuple[bool, str]:
        """Check credentials and base URL with one cheap read (avatar list, size 1). Never raises."""
        from airflow_provider_akool.client import AkoolAuthError, AkoolClient, AkoolError

        try:
            config = dataclasses.replace(self.get_config(), max_attempts=1, timeout=15.0, connect_timeout=5.0)
        except ConnectionExtraError as exc:
            # No connection id: the UI's Test button tests a copy stored under a random id, and the
            # user knows which connection they are testing.
            return False, f"Connection is misconfigured: extra field {exc.field!r} {exc.problem}"
        except Exception as exc:
            return False, f"Connection is misconfigured: {exc}"
        try:
            with AkoolClient(config) as client:
                page = client.list_avatars(page=1, size=1)
        except AkoolAuthError as exc:
            return False, f"Akool rejected the credentials (code {exc.code}): check the API key / client id"
        except AkoolError as exc:
            if exc.http_status is not None and exc.code is None:
                return False, f"{config.base_url} does not look like the Akool API (HTTP {exc.http_status})"
            reason = str(exc)
            if "network error" in reason:
                return False, f"Cannot reach {config.base_url}: {reason}"
            return False, f"Akool answered with an error: {reason}"
        except Exception as exc:
            return False, f"Unexpected error testing the connection: {type(exc).__name__}"
        return True, f"Connected to Akool at {config.base_url}; {page.count} streaming avatar(s) visible"
