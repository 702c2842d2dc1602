"""Airflow names whose import path differs between the oldest supported Airflow (3.1) and 3.3.

Airflow 3.1's task SDK does not yet export ``conf``, the task-control exceptions or
``amask_secret``; they live in ``airflow.configuration`` / ``airflow.exceptions`` there and the
task runner of 3.1 catches those very classes. Newer Airflow re-exports the SDK classes from
``airflow.exceptions`` (deprecated), so trying the SDK first keeps one class object per version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type-checked against the pinned (newest) Airflow
    from airflow.sdk import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
        TaskDeferred,
    )
    from airflow.sdk.log import amask_secret
else:
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf
    try:
        from airflow.sdk.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowRescheduleException,
            AirflowSensorTimeout,
            AirflowSkipException,
            AirflowTaskTimeout,
            TaskDeferred,
        )
    except ImportError:  # Airflow 3.1
        from airflow.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowRescheduleException,
            AirflowSensorTimeout,
            AirflowSkipException,
            AirflowTaskTimeout,
            TaskDeferred,
        )
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # Airflow 3.1: only the sync masker; ClientCore accepts a sync on_secret
        from airflow.sdk.log import mask_secret as amask_secret


def has_task_state_store() -> bool:
    """Whether this Airflow offers ``context["task_state_store"]`` (3.3+): per task instance state that
    every try of it shares. Older versions keep such state in an Airflow Variable instead."""
    try:
        from airflow.sdk.execution_time import context
    except ImportError:
        return False
    return hasattr(context, "TaskStateStoreAccessor")


# Airflow's secrets maskers (the task SDK's, and core's in the API server), same path in 3.1-3.3.
_MASKER_MODULES = (
    "airflow.sdk._shared.secrets_masker.secrets_masker",
    "airflow._shared.secrets_masker.secrets_masker",
)


def never_mask(*words: str) -> None:
    """Declare ``words`` ordinary words to Airflow's secrets maskers, so they are passed over quietly.

    Airflow masks every value of a connection's extra each time it fetches the connection, and warns
    "Skipping masking for a secret as it's too short" for a short one before it looks at the key: a
    harmless ``stream_type: sim`` put that warning in every task log. Its skip list is checked first.
    Only short, public words belong here: they are never masked anyway, so nothing is unmasked.
    """
    import importlib

    for name in _MASKER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        skip = getattr(module, "SECRETS_TO_SKIP_MASKING", None)
        if isinstance(skip, set):
            skip.update(word.lower() for word in words)


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "TaskDeferred",
    "amask_secret",
    "conf",
    "has_task_state_store",
    "never_mask",
]
