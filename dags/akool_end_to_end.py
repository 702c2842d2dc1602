"""The whole provider in one run: videos -> avatars -> scripted sessions -> S3 archive -> nothing left open.

**Needs**

- an Akool connection `akool_default` (or `akool_conn_id`): API key as password; its `stream_type`
  extra picks the session transport (`sim` against akool-sim) unless the `stream_type` param
  names one;
- an AWS connection `aws_default` (or `aws_conn_id`) that can write to the bucket `s3_bucket`,
  which must exist (default `$AKOOL_ARCHIVE_BUCKET` where the DAG is parsed, else
  `akool-archive`); for a local S3 put its `endpoint_url` in the connection's extra;
- the pool `akool_sessions` for the retelling sessions, created once under Admin > Pools or with
  `airflow pools set akool_sessions 3 "Akool streaming sessions"` (`airflow dags test` ignores
  pools). A scheduler never starts tasks of a missing pool, so `check_pool` fails after 3 minutes
  with a message saying how to create it;
- a triggerer: avatar uploads wait there (`deferrable=True`).

**Does**

1. `check_connections`: the Akool connection answers and the S3 bucket exists (fails early, with
   the reason, before anything is paid for; transient faults are retried by the client, a wrong key
   fails at once). `close_prior_sessions`: closes any session an earlier run left open (a
   retelling task killed with its worker: `max_active_runs=1`, so no other run is speaking).
2. `create_avatar`, one mapped instance per video URL (labelled with the URL): uploads the video,
   or adopts the avatar an earlier run created (ids derive from the task and the URL), and waits
   for it in the triggerer, polling every `avatar_poll_seconds`.
3. `retell`, one mapped instance per ready avatar (labelled with the avatar id): each avatar speaks
   its share of the scripts verbatim in its own session, in the `akool_sessions` pool.
4. `archive_avatars`: the avatars' preview videos and thumbnails (their URLs die after 7 days)
   are copied to S3 with sha256 and a manifest; `store_transcripts` writes each session's
   transcript to S3 as a JSON object, with a manifest in the same format.
5. `close_stale_sessions` (`all_done`): closes any session of this run still open, whatever
   failed before it; `summarise` (`all_done`) logs one line per avatar, session and archived
   object and fails the run unless every step succeeded.

**Trigger** with the defaults, or change the params: the inputs (`video_urls`, `scripts_file`),
where things go (`s3_bucket`, `s3_prefix`, the two connection ids) and the waits
(`avatar_poll_seconds`, `session_duration`; against a sped-up akool-sim give seconds rather than
`auto`, since real-time overheads grow by the time scale in simulated time). `make demo` runs this
DAG against akool-sim and a local S3.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from airflow_provider_akool.operators.archive import AkoolArchiveToS3Operator
from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator
from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
from airflow_provider_akool.operators.sweeper import AkoolCloseStaleSessionsOperator
from airflow_provider_akool.sensors.pool import AkoolPoolGuardSensor
from airflow_provider_akool.sessions.keys import TRANSCRIPT_KEY

DATA = Path(__file__).with_name("data")
VIDEOS = DATA / "e2e_videos.json"
SCRIPTS = DATA / "e2e_scripts.jsonl"
POOL = "akool_sessions"
CREATE_TASK, RETELL_TASK, ARCHIVE_TASK = "create_avatar", "retell", "archive_avatars"
TRANSCRIPTS_TASK, SWEEP_TASK = "store_transcripts", "close_stale_sessions"
PRIOR_SWEEP_TASK = "close_prior_sessions"
# Labels of mapped instances in the UI (the label column holds 250 chars).
URL_LABEL = "{{ task.video_url | truncate(200, true) }}"
AVATAR_LABEL = "{{ task.avatar_id }}"
# Progress goes to the visible part of the task log through the task logger (a child named after the
# DAG); print() output would land in the collapsed "Post Execute" group.
log = logging.getLogger("airflow.task.akool_end_to_end")


def _sample_urls() -> list[str]:
    urls: list[str] = json.loads(VIDEOS.read_text(encoding="utf-8"))["video_urls"]
    return urls


def check_akool(conn_id: str) -> str:
    """One cheap read (avatar list, size 1) through the client, which retries connection errors,
    timeouts, 5xx and 429 with backoff: one transient fault must not fail the run. A wrong key (or an
    account without permission or credit) fails without a retry, naming the connection.

    ``AkoolHook.test_connection`` is not used here: it makes a single attempt on purpose, since it
    backs the UI's Test button, which must answer at once.
    """
    from airflow_provider_akool.fail_fast import fail_fast_on_account_errors
    from airflow_provider_akool.hooks.akool import AkoolHook

    with fail_fast_on_account_errors(conn_id), AkoolHook(akool_conn_id=conn_id).get_client() as client:
        page = client.list_avatars(page=1, size=1)
    return f"Akool connection {conn_id!r} answers ({page.count} streaming avatar(s) visible)"


@dag(
    dag_id="akool_end_to_end",
    schedule=None,
    # Every step is idempotent (avatars adopted, sessions closed, archive skips what it has), so a
    # transient failure is retried rather than failing the run.
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=5)},
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    params={
        "akool_conn_id": Param("akool_default", type="string", minLength=1, description="Akool connection."),
        "aws_conn_id": Param("aws_default", type="string", minLength=1, description="AWS connection (S3Hook)."),
        "s3_bucket": Param(
            os.environ.get("AKOOL_ARCHIVE_BUCKET", "akool-archive"),
            type="string",
            pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            description="Destination bucket (must exist).",
        ),
        "s3_prefix": Param("akool-e2e", type="string", minLength=1, description="First key segment(s)."),
        "video_urls": Param(
            _sample_urls(), type="array", items={"type": "string"}, minItems=1, description="Source video URLs."
        ),
        "scripts_file": Param(str(SCRIPTS), type="string", minLength=1, description="JSON Lines: id, text."),
        "stream_type": Param(
            None, type=["null", "string"], description="agora, livekit or sim; empty: the connection's extra"
        ),
        "language": Param("en", type="string"),
        "speed": Param(1.0, type="number", minimum=0.8, maximum=1.2),
        "session_duration": Param(
            "auto", type=["string", "integer"], description='"auto" (sized from the scripts) or seconds (<= 3600)'
        ),
        "avatar_poll_seconds": Param(30.0, type="number", exclusiveMinimum=0, description="avatar status polls"),
        "avatar_timeout_minutes": Param(120, type="integer", minimum=1),
    },
    tags=["akool", "example", "e2e"],
)
def akool_end_to_end() -> None:
    @task
    def check_connections() -> str:
        """Fail before anything is created when Akool or the bucket is unreachable."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        params = get_current_context()["params"]
        message = check_akool(params["akool_conn_id"])
        if not S3Hook(aws_conn_id=params["aws_conn_id"]).check_for_bucket(params["s3_bucket"]):
            raise RuntimeError(f"S3 bucket {params['s3_bucket']!r} is not reachable through {params['aws_conn_id']!r}")
        return message

    @task
    def avatar_kwargs() -> list[dict[str, Any]]:
        """One ``create_avatar`` instance per distinct URL, with the connection and poll settings."""
        params = get_current_context()["params"]
        urls = list(dict.fromkeys(u.strip() for u in params["video_urls"] if u.strip()))
        return [
            {
                "video_url": url,
                "akool_conn_id": params["akool_conn_id"],
                "poll_interval": float(params["avatar_poll_seconds"]),
                "timeout": float(params["avatar_timeout_minutes"]) * 60.0,
            }
            for url in urls
        ]

    @task
    def session_kwargs(avatars: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Deal the scripts out to the avatars in turn: one session task per avatar."""
        from airflow_provider_akool.streaming.planning import normalise_scripts

        params = get_current_context()["params"]
        path = Path(params["scripts_file"])
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        scripts = [s.to_dict() for s in normalise_scripts([json.loads(line) for line in lines])]
        ready = [a["avatar_id"] for a in avatars if isinstance(a, dict) and a.get("status") == "ready"]
        if not ready:
            raise RuntimeError("no avatar is ready; nothing can speak")
        shares = [scripts[i :: len(ready)] for i in range(len(ready))]
        return [
            {"avatar_id": avatar_id, "scripts": share, "akool_conn_id": params["akool_conn_id"]}
            for avatar_id, share in zip(ready, shares, strict=True)
            if share
        ]

    @task(trigger_rule="all_done")
    def store_transcripts(sessions: list[dict[str, Any]]) -> dict[str, Any]:
        """Each session's transcript as a JSON object in S3 (sha256 in metadata and in a manifest).

        Runs after failed sessions too: what was said before a failure is kept (the retelling task
        pushes its transcript under the ``transcript`` key before failing)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from airflow_provider_akool.archive import run_manifest_key
        from airflow_provider_akool.archive import store_transcripts as store

        context = get_current_context()
        params, ti = context["params"], context["ti"]
        indexes = list(range(len(sessions)))
        manifests = ti.xcom_pull(task_ids=RETELL_TASK, map_indexes=indexes)
        failed = ti.xcom_pull(task_ids=RETELL_TASK, key=TRANSCRIPT_KEY, map_indexes=indexes)
        manifests = [m if m is not None else f for m, f in zip(manifests, failed, strict=True)]
        origins = [f"xcom://{ti.dag_id}/{ti.run_id}/{RETELL_TASK}/{i}" for i in range(len(sessions))]
        prefix = params["s3_prefix"]
        summary = store(
            S3Hook(aws_conn_id=params["aws_conn_id"]).get_conn(),
            bucket=params["s3_bucket"],
            prefix=prefix,
            manifests=zip(origins, manifests, strict=True),
            manifest_key=run_manifest_key(prefix, dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id),
        )
        if summary["counts"]["failed"]:
            raise RuntimeError(f"{summary['counts']['failed']} retelling task(s) left no transcript")
        return summary

    @task(trigger_rule="all_done")
    def summarise(avatar_inputs: list[dict[str, Any]], sessions: list[dict[str, Any]]) -> dict[str, Any]:
        """One line per avatar, session and archived object; fails the run unless everything worked."""
        ti = get_current_context()["ti"]
        problems: list[str] = []
        avatars = ti.xcom_pull(task_ids=CREATE_TASK, map_indexes=list(range(len(avatar_inputs))))
        for kwargs, record in zip(avatar_inputs, avatars, strict=True):
            if isinstance(record, dict) and record.get("status") == "ready":
                log.info("avatar  %s  ready  <- %s", record["avatar_id"], kwargs["video_url"])
            else:
                problems.append(f"avatar for {kwargs['video_url']} is not ready")
        manifests = ti.xcom_pull(task_ids=RETELL_TASK, map_indexes=list(range(len(sessions))))
        for kwargs, manifest in zip(sessions, manifests, strict=True):
            if not isinstance(manifest, dict):
                problems.append(f"retelling with {kwargs['avatar_id']} failed")
                continue
            totals = manifest["totals"]
            log.info(
                "retell  %s  %d/%d spoken in session(s) %s",
                kwargs["avatar_id"],
                totals["spoken"],
                totals["segments"],
                ", ".join(manifest["session_ids"]),
            )
            if manifest["status"] != "completed":
                problems.append(f"retelling with {kwargs['avatar_id']}: {manifest['status']}")
        for task_id in (ARCHIVE_TASK, TRANSCRIPTS_TASK):
            summary = ti.xcom_pull(task_ids=task_id)
            if not isinstance(summary, dict):
                problems.append(f"{task_id} did not finish")
                continue
            counts = ", ".join(f"{n} {s}" for s, n in summary["counts"].items() if n)
            log.info("%s: %s; manifest %s", task_id, counts or "nothing", summary["manifest_uri"])
            if summary["counts"].get("failed"):
                problems.append(f"{task_id}: {summary['counts']['failed']} failed")
        sweep = ti.xcom_pull(task_ids=SWEEP_TASK)
        if isinstance(sweep, dict):
            log.info("sweep: %d stale session(s) closed", len(sweep["closed"]))
        else:
            problems.append("the stale-session sweep did not finish")
        for problem in problems:
            log.error("PROBLEM: %s", problem)
        if problems:  # the leaf task: raising here is what marks the run failed
            raise RuntimeError("; ".join(problems))
        return {"avatars": len(avatars), "sessions": len(sessions), "ok": True}

    avatar_inputs = avatar_kwargs()
    # Sessions earlier runs left open (their retell task SIGKILLed): closed before new ones open.
    # Only earlier runs' session_ids (not this run's, not their orphan candidates; nothing in a backfill).
    close_prior = AkoolCloseStaleSessionsOperator(
        task_id=PRIOR_SWEEP_TASK,
        from_task_ids=[RETELL_TASK],
        include_prior_runs=True,
        akool_conn_id="{{ params.akool_conn_id }}",
    )
    check_connections() >> close_prior >> avatar_inputs
    created = AkoolCreateAvatarOperator.partial(
        task_id=CREATE_TASK, deferrable=True, map_index_template=URL_LABEL
    ).expand_kwargs(avatar_inputs)
    sessions = session_kwargs(created.output)
    retell = AkoolRetellingSessionOperator.partial(
        task_id=RETELL_TASK,
        pool=POOL,
        stream_type="{{ params.stream_type or '' }}",  # blank: the connection's stream_type extra
        language="{{ params.language }}",
        speed="{{ params.speed }}",
        duration="{{ params.session_duration }}",
        map_index_template=AVATAR_LABEL,
    ).expand_kwargs(sessions)
    archive = AkoolArchiveToS3Operator(
        task_id=ARCHIVE_TASK,
        sources=created.output,
        s3_bucket="{{ params.s3_bucket }}",
        s3_prefix="{{ params.s3_prefix }}",
        aws_conn_id="{{ params.aws_conn_id }}",
        akool_conn_id="{{ params.akool_conn_id }}",
    )
    transcripts = store_transcripts(sessions)
    sweep = AkoolCloseStaleSessionsOperator(
        task_id=SWEEP_TASK,
        from_task_ids=[RETELL_TASK],
        akool_conn_id="{{ params.akool_conn_id }}",
        trigger_rule="all_done",
    )
    retell >> [transcripts, sweep]
    sessions >> AkoolPoolGuardSensor(task_id="check_pool", watched_pool=POOL, watched_task_ids=[RETELL_TASK])
    [archive, transcripts, sweep] >> summarise(avatar_inputs, sessions)


akool_end_to_end()
