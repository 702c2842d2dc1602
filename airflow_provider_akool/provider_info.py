"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_akool import __version__

# What the connection form's stream_type select offers: the transports the provider can drive
# (streaming/transports/factory.py SUPPORTED_STREAM_TYPES; ``trtc`` has no Python SDK and is refused).
# The first one is the form's default, and the operator's when the extra is unset.
FORM_STREAM_TYPES = ["agora", "livekit", "sim"]
PORT_LABEL = "Port (enter 0; the Test icon needs it)"


def get_provider_info() -> dict[str, Any]:
    """Return the provider-info dict (validated against Airflow's provider_info.schema.json in tests)."""
    return {
        "package-name": "airflow-provider-akool",
        "name": "Akool",
        "description": "Akool streaming avatars: create avatars, run scripted retelling sessions, "
        "archive generated resources to S3.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Akool",
                "external-doc-url": "https://docs.akool.com/ai-tools-suite/live-avatar",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": "Akool", "python-modules": ["airflow_provider_akool.hooks.akool"]},
        ],
        "operators": [
            {
                "integration-name": "Akool",
                "python-modules": [
                    "airflow_provider_akool.operators.avatar",
                    "airflow_provider_akool.operators.session",
                    "airflow_provider_akool.operators.sweeper",
                    "airflow_provider_akool.operators.archive",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Akool",
                "python-modules": ["airflow_provider_akool.sensors.avatar", "airflow_provider_akool.sensors.pool"],
            },
        ],
        "triggers": [
            {"integration-name": "Akool", "python-modules": ["airflow_provider_akool.triggers.avatar"]},
        ],
        "extra-links": ["airflow_provider_akool.links.AkoolAvatarPreviewLink"],
        "connection-types": [
            {
                "connection-type": "akool",
                "hook-class-name": "airflow_provider_akool.hooks.akool.AkoolHook",
                "hook-name": "Akool",
                # The port stays in the form, stored as 0: Airflow 3.3's Test icon sends port 0 for a
                # stored null and its API then refuses the test (apache/airflow#73298); the form
                # cannot give a hidden field a value (docs/connection.md, "Testing a connection").
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {
                        "host": "API base URL",
                        "port": PORT_LABEL,
                        "login": "Client ID (legacy token mode, optional)",
                        "password": "API key (or client secret in token mode)",
                    },
                    "placeholders": {
                        "host": "https://openapi.akool.com",
                        "login": "leave empty to authenticate with x-api-key",
                        "password": "API key from Akool: API Credentials",
                        "port": "0",
                    },
                },
                "conn-fields": {
                    "stream_type": {
                        "label": "Default stream type",
                        "description": (
                            "RTC transport for sessions when an operator does not name one. sim is for "
                            "akool-sim only; trtc is not offered (no Python SDK)."
                        ),
                        # Nullable (an existing connection without the extra stays valid), but None is
                        # not offered: the select would show it as the literal text "null".
                        "schema": {
                            "type": ["string", "null"],
                            "enum": FORM_STREAM_TYPES,
                            "default": FORM_STREAM_TYPES[0],
                            "values_display": {"sim": "sim (akool-sim only)"},
                        },
                    },
                    # Defaults shown in the form are the client's (client/config.py ClientConfig);
                    # a field cleared to empty means the same default.
                    "timeout": {
                        "label": "Read timeout (s)",
                        "description": "Per-request read timeout in seconds.",
                        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
                    },
                    "connect_timeout": {
                        "label": "Connect timeout (s)",
                        "description": "TCP/TLS connect timeout in seconds.",
                        "schema": {"type": ["number", "null"], "minimum": 1, "default": 10},
                    },
                    "max_attempts": {
                        "label": "Max attempts",
                        "description": "Attempts per request for retryable failures (1 = no retry).",
                        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 20, "default": 5},
                    },
                    "speech_rates": {
                        "label": "Speech rates per language",
                        "description": (
                            'Speaking rates for sizing sessions, per language: {"zh": {"han": 4.2}, "*": '
                            '{"letter": 13}}; characters per second at speed 1.0 per character class.'
                        ),
                        "schema": {"type": ["object", "null"]},
                    },
                    "max_retry_wait": {
                        "label": "Max wait between attempts (s)",
                        "description": "Upper bound of one backoff sleep, including Retry-After.",
                        "schema": {"type": ["number", "null"], "minimum": 0, "default": 30},
                    },
                },
            }
        ],
    }
