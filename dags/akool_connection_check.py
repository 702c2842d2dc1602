"""Check an Akool connection and list what it can use: streaming avatars, voices, languages.

**Needs** an Akool connection: `akool_default` unless the `akool_conn_id` param names another
(API key as password; API base URL as host, empty for `https://openapi.akool.com`). No pool, no S3.

**Does**

1. `check_connection` makes the connection form's Test-button check (one cheap read) and fails
   the run with its reason: a wrong key, an unreachable host, a URL that is not Akool's API.
2. `list_catalog` logs the streaming avatars (with their state and voice), the streaming-capable
   voices and the languages, and returns their ids.

**Trigger** with the defaults, or name another connection in `akool_conn_id`. Runs against real
Akool or akool-sim alike.
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

# Progress goes to the visible part of the task log through the task logger (a child named after the
# DAG); print() output would land in the collapsed "Post Execute" group.
log = logging.getLogger("airflow.task.akool_connection_check")


@dag(
    dag_id="akool_connection_check",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    params={
        "akool_conn_id": Param("akool_default", type="string", minLength=1, description="Akool connection to check."),
    },
    tags=["akool", "example"],
)
def akool_connection_check() -> None:
    @task
    def check_connection() -> str:
        """Fail the run early with the hook's reason when the connection does not work."""
        from airflow_provider_akool.hooks.akool import AkoolHook

        conn_id = get_current_context()["params"]["akool_conn_id"]
        ok, message = AkoolHook(akool_conn_id=conn_id).test_connection()
        if not ok:
            raise RuntimeError(message)
        return message

    @task
    def list_catalog(status: str) -> dict[str, Any]:
        """List streaming avatars, streaming-capable voices and languages through the hook."""
        from airflow_provider_akool.hooks.akool import AkoolHook

        conn_id = get_current_context()["params"]["akool_conn_id"]
        client = AkoolHook(akool_conn_id=conn_id).get_client()
        avatars = list(client.paginate(client.list_avatars))
        voices = list(client.paginate(client.list_voices, support_stream=True))
        languages = client.list_languages()
        lines = [status, f"{len(avatars)} streaming avatar(s):"]
        lines += [f"  {a.avatar_id:<32} {a.state:<8} voice={a.voice_id or '-'}" for a in avatars]
        lines.append(f"{len(voices)} streaming voice(s):")
        lines += [f"  {v.voice_id:<32} {v.name or '-'} ({v.language or '?'})" for v in voices]
        lines.append(f"{len(languages)} language(s): " + ", ".join(lang.lang_code for lang in languages))
        for line in lines:
            log.info("%s", line)
        return {
            "avatars": [a.avatar_id for a in avatars],
            "ready_avatars": [a.avatar_id for a in avatars if a.state == "ready"],
            "voices": [v.voice_id for v in voices],
            "languages": [lang.lang_code for lang in languages],
        }

    list_catalog(check_connection())


akool_connection_check()
