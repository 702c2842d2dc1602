"""The provider registers with Airflow: schema-valid provider info, discovered, connection type known."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_akool.provider_info import get_provider_info


def schema() -> dict[str, object]:
    path = Path(airflow.__file__).parent / "provider_info.schema.json"
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


def test_provider_info_matches_airflow_schema() -> None:
    jsonschema.validate(get_provider_info(), schema())


def test_every_declared_module_and_class_imports() -> None:
    info = get_provider_info()
    modules = [
        m
        for key in ("hooks", "operators", "sensors", "triggers")
        for entry in info.get(key, [])
        for m in entry["python-modules"]
    ]
    classes = [c["hook-class-name"] for c in info["connection-types"]] + list(info.get("extra-links", []))
    for module in modules:
        importlib.import_module(module)
    for dotted in classes:
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), dotted


def test_provider_is_discovered_by_airflow() -> None:
    from airflow.providers_manager import ProvidersManager

    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
    except ImportError:  # Airflow 3.1: hooks are only known to the core ProvidersManager
        ProvidersManagerTaskRuntime = ProvidersManager

    assert "airflow-provider-akool" in ProvidersManager().providers
    hooks = ProvidersManagerTaskRuntime().hooks
    assert "akool" in hooks
    hook_info = hooks["akool"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_akool.hooks.akool.AkoolHook"
    assert hook_info.connection_id_attribute_name == "akool_conn_id"


def test_connection_form_fields_are_declared() -> None:
    conn = get_provider_info()["connection-types"][0]
    assert conn["connection-type"] == "akool"
    assert set(conn["conn-fields"]) >= {"stream_type", "timeout", "max_attempts"}
    assert conn["ui-field-behaviour"]["placeholders"]["host"] == "https://openapi.akool.com"
