"""Turn a list of source videos into Akool streaming avatars and report which are usable.

**Needs**

- an Akool connection `akool_default` (API key as password);
- a triggerer: each upload waits for its avatar in the triggerer (`deferrable=True`);
- optionally the environment variable `AKOOL_AVATAR_POLL_SECONDS` on the DAG processor and
  workers: seconds between avatar status polls (default 30; less against a sped-up akool-sim).

**Does**

1. `video_urls` takes the URLs from the `video_urls` param (default: `data/sample_videos.json`
   beside this file), without duplicates.
2. `create_avatar`, one mapped instance per URL (labelled with the URL), uploads the video or
   adopts the avatar a previous run created (ids derive from the task and the URL, so re-running
   never uploads twice), then waits until the avatar is ready or has failed.
3. `summarise` runs even when some uploads failed and logs one line per URL: ready (with the
   date its preview expires) or failed.

**Trigger** with the defaults (the sample list; against akool-sim the URL containing `fail`
shows a failed avatar), or put your own video URLs in the `video_urls` param. Runs against real
Akool or akool-sim alike; only the `akool_default` connection differs.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator

SAMPLE = Path(__file__).with_name("data") / "sample_videos.json"
POLL_SECONDS = float(os.environ.get("AKOOL_AVATAR_POLL_SECONDS", "30"))
CREATE_TASK = "create_avatar"
# A create_avatar instance's label in the UI: its source URL (the label column holds 250 chars).
URL_LABEL = "{{ task.video_url | truncate(200, true) }}"
# Progress goes to the visible part of the task log through the task logger (a child named after the
# DAG); print() output would land in the collapsed "Post Execute" group.
log = logging.getLogger("airflow.task.akool_avatars_from_videos")


def _sample_urls() -> list[str]:
    urls: list[str] = json.loads(SAMPLE.read_text(encoding="utf-8"))["video_urls"]
    return urls


@dag(
    dag_id="akool_avatars_from_videos",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    params={
        "video_urls": Param(
            _sample_urls(), type="array", items={"type": "string"}, minItems=1, description="Source video URLs."
        ),
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
                log.info("ready   %s  expires %s  <- %s", record["avatar_id"], record["expires_at"], url)
            else:
                failed.append({"url": url, "avatar_id": avatar_id})
                log.warning("failed  %s  <- %s", avatar_id or "(not created)", url)
        log.info("%d ready, %d failed of %d video(s)", len(ready), len(failed), len(urls))
        return {"ready": ready, "failed": failed}

    urls = video_urls()
    created = AkoolCreateAvatarOperator.partial(
        task_id=CREATE_TASK,
        deferrable=True,
        poll_interval=POLL_SECONDS,
        timeout=2 * 3600,
        map_index_template=URL_LABEL,
    ).expand(video_url=urls)
    summary = summarise(urls)
    created >> summary


akool_avatars_from_videos()
