"""Turn a list of source videos into Akool streaming avatars and report which are usable.

The URLs come from ``data/sample_videos.json`` beside this file, or from the ``video_urls`` param
of a manual run. One mapped ``AkoolCreateAvatarOperator`` per URL uploads the video (or adopts the
avatar a previous run created: ids are derived from the task and the URL, so re-running never
uploads twice) and waits in the triggerer (``deferrable=True``: the deployment needs a triggerer).
The last task lists ready and failed avatars and runs even when some uploads failed.

Runs against real Akool or akool-sim alike; only the ``akool_default`` connection differs.
Set ``AKOOL_AVATAR_POLL_SECONDS`` to poll faster than every 30 s (e.g. against a sped-up sim).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator

SAMPLE = Path(__file__).with_name("data") / "sample_videos.json"
POLL_SECONDS = float(os.environ.get("AKOOL_AVATAR_POLL_SECONDS", "30"))
CREATE_TASK = "create_avatar"
DEMO_MARK = "AKOOL-DEMO|"


def _sample_urls() -> list[str]:
    urls: list[str] = json.loads(SAMPLE.read_text(encoding="utf-8"))["video_urls"]
    return urls


@dag(
    dag_id="akool_avatars_from_videos",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "video_urls": Param(_sample_urls(), type="array", items={"type": "string"}, minItems=1),
    },
    tags=["akool", "example"],
)
def akool_avatars_from_videos() -> None:
    @task
    def video_urls() -> list[str]:
        """The URLs to upload, without duplicates (one avatar per distinct URL)."""
        urls = get_current_context()["params"]["video_urls"]
        if not isinstance(urls, list) or not all(isinstance(u, str) and u.strip() for u in urls):
            raise ValueError("params.video_urls: must be a non-empty list of URL strings")
        return list(dict.fromkeys(u.strip() for u in urls))

    @task(trigger_rule="all_done")
    def summarise(urls: list[str]) -> dict[str, Any]:
        """Ready and failed avatars, one line per URL in the task log."""
        ti = get_current_context()["ti"]
        indexes = list(range(len(urls)))
        ids = ti.xcom_pull(task_ids=CREATE_TASK, key="avatar_id", map_indexes=indexes)
        records = ti.xcom_pull(task_ids=CREATE_TASK, map_indexes=indexes)
        ready: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for url, avatar_id, record in zip(urls, ids, records, strict=True):
            if isinstance(record, dict) and record.get("status") == "ready":
                ready.append(record)
                print(DEMO_MARK, f"ready   {record['avatar_id']}  expires {record['expires_at']}  <- {url}")
            else:
                failed.append({"url": url, "avatar_id": avatar_id})
                print(DEMO_MARK, f"failed  {avatar_id or '(not created)'}  <- {url}")
        print(DEMO_MARK, f"{len(ready)} ready, {len(failed)} failed of {len(urls)} video(s)")
        return {"ready": ready, "failed": failed}

    urls = video_urls()
    created = AkoolCreateAvatarOperator.partial(
        task_id=CREATE_TASK,
        deferrable=True,
        poll_interval=POLL_SECONDS,
        timeout=2 * 3600,
    ).expand(video_url=urls)
    summary = summarise(urls)
    created >> summary


akool_avatars_from_videos()
