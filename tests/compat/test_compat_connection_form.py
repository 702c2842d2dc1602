"""The connection form a user sees for type ``akool`` on the Airflow that is installed.

Airflow 3.2+ builds it from the provider info (``ui-field-behaviour``, ``conn-fields``); 3.1 asks
the hook's ``get_ui_field_behaviour`` / ``get_connection_form_widgets`` instead. Both must give the
same form. Read through the API server's own service in a subprocess: on 3.1 that service puts
stand-in ``wtforms``/``flask_appbuilder`` modules into ``sys.modules``, which must not leak into
other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from typing import Any

from airflow_provider_akool.provider_info import get_provider_info

_SCRIPT = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

[meta] = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "akool"]
print("HOOK-META " + meta.model_dump_json())
"""


@cache
def akool_form() -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [ln for ln in result.stdout.splitlines() if ln.startswith("HOOK-META ")]
    form: dict[str, Any] = json.loads(line.removeprefix("HOOK-META "))
    return form


# The API names the connection's ``schema`` field ``url_schema``.
_API_NAME = {"schema": "url_schema"}


def test_connection_type_is_listed_by_its_display_name() -> None:
    from airflow_provider_akool.hooks.akool import AkoolHook

    assert akool_form()["hook_name"] == AkoolHook.hook_name


def test_standard_fields_are_relabelled_and_hidden() -> None:
    behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    fields = akool_form()["standard_fields"]
    assert fields is not None, "Airflow dropped the akool field behaviour (see its providers_manager warning)"
    for name in behaviour["hidden-fields"]:
        assert fields[_API_NAME.get(name, name)]["hidden"] is True, name
    for name, title in behaviour["relabeling"].items():
        assert fields[_API_NAME.get(name, name)]["title"] == title, name
    for name, placeholder in behaviour["placeholders"].items():
        assert fields[_API_NAME.get(name, name)]["placeholder"] == placeholder, name


def test_extra_fields_are_offered() -> None:
    declared = set(get_provider_info()["connection-types"][0]["conn-fields"])
    offered = set(akool_form()["extra_fields"] or {})
    assert declared <= offered, f"missing from the connection form: {sorted(declared - offered)}"


def test_stream_type_select_offers_only_transports_the_provider_can_drive() -> None:
    """No "null" entry and no ``trtc`` (refused before any session); preselected: the transport the
    session operator falls back to when the extra is unset."""
    from airflow_provider_akool.streaming.transports.factory import SUPPORTED_STREAM_TYPES

    field = akool_form()["extra_fields"]["stream_type"]
    assert field["schema"]["enum"] == list(SUPPORTED_STREAM_TYPES)
    assert field["value"] == "agora"


def test_numeric_extras_show_the_defaults_the_client_uses() -> None:
    import dataclasses

    from airflow_provider_akool.client.config import ClientConfig

    defaults = {f.name: f.default for f in dataclasses.fields(ClientConfig)}
    fields = akool_form()["extra_fields"]
    for name in ("timeout", "connect_timeout", "max_attempts", "max_retry_wait"):
        shown = fields[name]["value"]
        assert shown is not None, f"{name}: the form shows no default"
        assert float(shown) == defaults[name], name
