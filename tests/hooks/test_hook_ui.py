"""What the hook shows a user in the UI: the Test button's message for a bad extra, and task logs
free of masking noise for a ``sim`` connection while real secrets stay masked."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_akool.hooks.akool import AkoolHook

BASE = "https://akool.test"


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "akool", **fields}))


def test_test_button_error_for_a_bad_extra_names_the_field_not_the_temporary_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the API server's test route does it: the form's values under a random id, in an env var."""
    from airflow.models.connection import Connection

    transient_id = "Zq8RkT2w"
    conn = Connection(
        conn_id=transient_id, conn_type="akool", host=BASE, password="key-abcdef", extra=json.dumps({"timeout": "soon"})
    )
    monkeypatch.setenv(f"AIRFLOW_CONN_{transient_id.upper()}", conn.get_uri())
    ok, message = conn.test_connection()
    assert not ok
    assert message == "Connection is misconfigured: extra field 'timeout' must be a number"
    assert transient_id not in message


def test_a_task_names_its_connection_for_a_bad_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "akool_prod", host=BASE, password="key-abcdef", extra={"max_attempts": "many"})
    with pytest.raises(ValueError, match=r"connection 'akool_prod': extra field 'max_attempts' must be a number"):
        AkoolHook(akool_conn_id="akool_prod").get_config()


def sim_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str) -> None:
    set_conn(
        monkeypatch,
        conn_id,
        host="http://127.0.0.1:9",
        # Shares no prefix with a secret other tests register in this process ("sim-api-key"): the
        # masker's pattern could otherwise match the shorter one first and leave "-0042" behind.
        password="hookui-api-key-0042",
        extra={"stream_type": "sim", "sim_time_scale": 20, "client_token": "tok-extra-secret-77"},
    )


def masker_classes() -> list[Any]:
    """Airflow's SecretsMasker classes (the task SDK's; core's, which 3.1 also uses in this path)."""
    import importlib

    from airflow_provider_akool._compat import _MASKER_MODULES

    return [importlib.import_module(name).SecretsMasker for name in _MASKER_MODULES]


def test_sim_stream_type_logs_no_masking_warning_and_the_key_stays_masked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    maskers = masker_classes()
    for masker in maskers:  # Airflow warns once per process: start from one that has not warned yet
        monkeypatch.setattr(masker, "_has_warned_short_secret", False)
    sim_connection(monkeypatch, "akool_sim_logs")
    caplog.set_level(logging.WARNING)
    hook = AkoolHook(akool_conn_id="akool_sim_logs")
    assert hook.default_stream_type == "sim"
    assert hook.get_config().api_key == "hookui-api-key-0042"
    assert "too short" not in caplog.text
    # However this Airflow routes the masker's log: neither masker warned.
    assert [m._has_warned_short_secret for m in maskers] == [False] * len(maskers)
    assert redact("key hookui-api-key-0042 over sim") == "key *** over sim"


def test_a_secret_under_a_sensitive_extra_key_stays_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk._shared.secrets_masker import _secrets_masker, redact

    if not getattr(_secrets_masker(), "hide_sensitive_var_conn_fields", False):
        pytest.skip("this Airflow's masker hides extra values by key only inside a task (3.1)")
    sim_connection(monkeypatch, "akool_sim_secret")
    assert AkoolHook(akool_conn_id="akool_sim_secret").default_stream_type == "sim"
    assert redact("token tok-extra-secret-77 over sim") == "token *** over sim"
