"""Have a streaming avatar speak a batch of scripts verbatim, several sessions at a time, and leave none open.

Scripts come from a JSON Lines file, one ``{"id": ..., "text": ...}`` object per line
(``data/retelling_scripts.jsonl`` beside this file by default; ``scripts_file`` param to change).
``plan_batches`` groups them into ``batches`` batches of similar speaking time, each small enough
for one session (``session_minutes``, at most 60); one mapped ``AkoolRetellingSessionOperator``
speaks each batch in its own session. The last task closes any session of this run that is still
open, whatever happened before it (``trigger_rule="all_done"``); the first one closes any session an
earlier run left open (its retelling task killed together with the worker, SIGKILL, so that no
handler ran; ``max_active_runs=1``, so no other run is speaking meanwhile). It reads the earlier
runs' ``session_ids`` only, never this run's (nor earlier runs' orphan candidates, which may be
other callers' sessions), and does nothing in a backfill run.

Concurrency: the mapped session tasks run in the Airflow pool ``akool_sessions``; its slot count
is the number of sessions open at once. Create it before the first run: Admin > Pools in the UI, or
``airflow pools set akool_sessions 10 "Akool streaming sessions"``. A scheduler never starts tasks
of a missing pool (they stay "scheduled" with an empty log), so ``check_pool`` watches them and
fails after 3 minutes with a message saying how to create the pool; once it exists they start by
themselves. ``airflow dags test`` does not look at pools at all.

Runs against real Akool or akool-sim alike; only the ``akool_default`` connection differs (its
``stream_type`` extra picks the transport: ``sim`` for akool-sim).
"""

from __future__ import annotations

import json
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
DEMO_MARK = "AKOOL-DEMO|"


@dag(
    dag_id="akool_retelling_batch",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "scripts_file": Param(str(SAMPLE), type="string", minLength=1),
        "avatar_id": Param("dvp_Tristan_cloth2_1080P", type="string", minLength=1),
        "voice_id": Param("", type="string", description="empty: the avatar's default voice"),
        "language": Param("en", type="string"),
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
            print(DEMO_MARK, f"batch {number}: {len(batch)} script(s): {', '.join(s.id for s in batch)}")
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
                print(DEMO_MARK, f"batch {index + 1}: {totals['spoken']}/{totals['segments']} spoken, "
                      f"sessions {', '.join(manifest['session_ids'])}")
            else:
                print(DEMO_MARK, f"batch {index + 1}: failed")
        total = sum(len(b) for b in batches)
        print(DEMO_MARK, f"{spoken}/{total} script(s) spoken")
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
        voice_id="{{ params.voice_id }}",
        language="{{ params.language }}",
        speed="{{ params.speed }}",
        duration="{{ params.duration }}",
    ).expand(scripts=batches)
    sweep = AkoolCloseStaleSessionsOperator(
        task_id="close_stale_sessions",
        from_task_ids=[RETELL_TASK],
        trigger_rule="all_done",
    )
    retell >> [sweep, summarise(batches)]
    batches >> AkoolPoolGuardSensor(task_id="check_pool", watched_pool=POOL, watched_task_ids=[RETELL_TASK])


akool_retelling_batch()
