"""Have a streaming avatar speak a batch of scripts verbatim, several sessions at a time, and leave none open.

**Needs**

- an Akool connection `akool_default`: API key as password; its `stream_type` extra picks the
  transport (`sim` against akool-sim);
- the pool `akool_sessions`: its slots are the sessions open at once. Create it before the first
  run, under Admin > Pools or with `airflow pools set akool_sessions 10 "Akool streaming sessions"`
  (`airflow dags test` ignores pools). A scheduler never starts tasks of a missing pool (they stay
  "scheduled" with an empty log), so `check_pool` watches them and fails after 3 minutes with a
  message saying how to create it; once the pool exists they start by themselves;
- the scripts: a JSON Lines file, one `{"id": ..., "text": ...}` object per line
  (`data/retelling_scripts.jsonl` beside this file unless the `scripts_file` param names another).

**Does**

1. `close_prior_sessions` closes any session an earlier run left open (its retelling task killed
   together with the worker, SIGKILL, so that no handler ran). It reads earlier runs'
   `session_ids` only, never this run's (nor earlier runs' orphan candidates, which may be other
   callers' sessions), and does nothing in a backfill; `max_active_runs=1`, so no other run is
   speaking meanwhile.
2. `load_scripts` reads and checks the file; `plan_batches` groups the scripts into at least
   `batches` batches of similar speaking time, each small enough for one session of
   `session_minutes` (at most 60).
3. `retell`, one mapped instance per batch (labelled with its script ids), speaks the batch in its
   own session in the pool, and closes the session whatever happens.
4. `close_stale_sessions` (runs whatever failed before it) closes any session of this run still
   open; `summarise` logs one line per batch and fails the run unless every script was spoken.

**Trigger** with the defaults (the sample scripts, avatar `dvp_Tristan_cloth2_1080P` with its own
voice), or change the params in the trigger form; an empty `voice_id` means the avatar's default
voice. Runs against real Akool or akool-sim alike; only the `akool_default` connection differs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
from airflow_provider_akool.operators.sweeper import AkoolCloseStaleSessionsOperator
from airflow_provider_akool.sensors.pool import AkoolPoolGuardSensor

SAMPLE = Path(__file__).with_name("data") / "retelling_scripts.jsonl"
POOL = "akool_sessions"
RETELL_TASK = "retell"
PRIOR_SWEEP_TASK = "close_prior_sessions"
# A retell instance's label in the UI: the ids of its batch's scripts (the label column holds 250).
BATCH_LABEL = "{{ task.scripts | map(attribute='id') | join(', ') | truncate(120, true) }}"
# Progress goes to the visible part of the task log through the task logger (a child named after the
# DAG); print() output would land in the collapsed "Post Execute" group.
log = logging.getLogger("airflow.task.akool_retelling_batch")


@dag(
    dag_id="akool_retelling_batch",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    params={
        "scripts_file": Param(str(SAMPLE), type="string", minLength=1, description="JSON Lines: id, text."),
        "avatar_id": Param("dvp_Tristan_cloth2_1080P", type="string", minLength=1, description="Streaming avatar."),
        "voice_id": Param(None, type=["null", "string"], description="Voice id; empty: the avatar's default voice."),
        "language": Param("en", type="string", description="Language code of the scripts."),
        "speed": Param(1.0, type="number", minimum=0.8, maximum=1.2),
        "duration": Param("auto", type=["string", "integer"], description='"auto" or seconds (<= 3600)'),
        "batches": Param(4, type="integer", minimum=1, description="at least this many sessions"),
        "session_minutes": Param(60, type="integer", minimum=1, maximum=60),
    },
    tags=["akool", "example"],
)
def akool_retelling_batch() -> None:
    @task
    def load_scripts() -> list[dict[str, Any]]:
        """Read and validate the JSON Lines file (blank lines are skipped)."""
        from airflow_provider_akool.streaming.planning import normalise_scripts

        path = Path(get_current_context()["params"]["scripts_file"])
        items: list[Any] = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{path.name} line {number}: not JSON ({exc})") from None
        return [segment.to_dict() for segment in normalise_scripts(items)]

    @task
    def plan_batches(scripts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Batches of similar speaking time, each fitting one session."""
        from airflow_provider_akool.streaming.planning import Segment, check_speed, group_into_batches

        params = get_current_context()["params"]
        speed = check_speed(params["speed"])
        segments = [Segment(s["id"], s["text"]) for s in scripts]
        batches = group_into_batches(
            segments,
            speed=speed,
            min_batches=int(params["batches"]),
            session_seconds=int(params["session_minutes"]) * 60,
        )
        for number, batch in enumerate(batches, start=1):
            log.info("batch %d: %d script(s): %s", number, len(batch), ", ".join(s.id for s in batch))
        return [[s.to_dict() for s in batch] for batch in batches]

    @task(trigger_rule="all_done")
    def summarise(batches: list[list[dict[str, Any]]]) -> dict[str, Any]:
        """One line per batch; fails the run unless every script was spoken."""
        ti = get_current_context()["ti"]
        indexes = list(range(len(batches)))
        manifests = ti.xcom_pull(task_ids=RETELL_TASK, map_indexes=indexes)
        spoken = 0
        for index, manifest in zip(indexes, manifests, strict=True):
            if isinstance(manifest, dict):
                totals = manifest["totals"]
                spoken += totals["spoken"]
                log.info(
                    "batch %d: %d/%d spoken, sessions %s",
                    index + 1,
                    totals["spoken"],
                    totals["segments"],
                    ", ".join(manifest["session_ids"]),
                )
            else:
                log.error("batch %d: failed", index + 1)
        total = sum(len(b) for b in batches)
        log.info("%d/%d script(s) spoken", spoken, total)
        if spoken < total:  # a leaf task: this is what marks the run failed
            raise RuntimeError(f"only {spoken} of {total} script(s) were spoken; see the retell task logs")
        return {"spoken": spoken, "scripts": total}

    close_prior = AkoolCloseStaleSessionsOperator(
        task_id=PRIOR_SWEEP_TASK,
        from_task_ids=[RETELL_TASK],
        include_prior_runs=True,
        retries=2,
        retry_delay=pendulum.duration(seconds=10),
    )
    scripts = load_scripts()
    close_prior >> scripts
    batches = plan_batches(scripts)
    retell = AkoolRetellingSessionOperator.partial(
        task_id=RETELL_TASK,
        pool=POOL,
        avatar_id="{{ params.avatar_id }}",
        voice_id="{{ params.voice_id or '' }}",  # blank: the avatar's default voice
        language="{{ params.language }}",
        speed="{{ params.speed }}",
        duration="{{ params.duration }}",
        map_index_template=BATCH_LABEL,
    ).expand(scripts=batches)
    sweep = AkoolCloseStaleSessionsOperator(
        task_id="close_stale_sessions",
        from_task_ids=[RETELL_TASK],
        trigger_rule="all_done",
    )
    retell >> [sweep, summarise(batches)]
    batches >> AkoolPoolGuardSensor(task_id="check_pool", watched_pool=POOL, watched_task_ids=[RETELL_TASK])


akool_retelling_batch()
