"""Daily sweep: copy every Akool avatar and voice resource to S3 before its 7 days run out.

**Needs**

- an Akool connection `akool_default` (API key as password), or the one named in `akool_conn_id`;
- an AWS connection `aws_default` (or `aws_conn_id`) that can write to the bucket, which must
  exist: `s3_bucket`, by default `$AKOOL_ARCHIVE_BUCKET` as set where the DAG is parsed, else
  `akool-archive`. For a local S3 put its `endpoint_url` in the connection's extra.

**Does**

Akool's generated resources (avatar preview videos and thumbnails, voice previews) expire 7 days
after creation. Once a day `archive_all` lists all avatars and voices through the Akool API and
archives every resource URL that is not archived yet: objects already in the bucket with the
same content are skipped, so a quiet day uploads 0 bytes. Each run writes a manifest to
`<prefix>/manifests/akool_archive_sweep/<run_id>/archive_all.json` and returns a summary via
XCom; the task fails (and retries) when a resource could not be copied, naming each one; a
resource that expired before it was reached is recorded as `expired` without failing the run.

Every newly archived object is announced as an Asset event through `AssetAlias("akool_archive")`:
a downstream DAG scheduled with `schedule=[AssetAlias("akool_archive")]` (or on one object's
`Asset("s3://<bucket>/<key>")`) runs when something new lands.

**Trigger**: it runs daily; press Trigger to run it now with the defaults, or point it at another
bucket, prefix or connections in the params. Pointing it at real Akool and real S3 instead of
akool-sim and a local S3 means changing the connections, not this file.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_akool.operators.archive import AkoolArchiveToS3Operator


@dag(
    dag_id="akool_archive_sweep",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    params={
        "s3_bucket": Param(
            os.environ.get("AKOOL_ARCHIVE_BUCKET", "akool-archive"),
            type="string",
            pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            description="Destination bucket.",
        ),
        "s3_prefix": Param("akool", type="string", description="First key segment(s) of every object."),
        "aws_conn_id": Param("aws_default", type="string", minLength=1, description="AWS connection (S3Hook)."),
        "akool_conn_id": Param("akool_default", type="string", minLength=1, description="Akool connection."),
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=15)},
    tags=["akool", "archive", "example"],
)
def akool_archive_sweep() -> None:
    AkoolArchiveToS3Operator(
        task_id="archive_all",
        all_avatars=True,
        all_voices=True,
        avatar_platforms=["open", "aigc"],
        voice_types=[1, 2],
        s3_bucket="{{ params.s3_bucket }}",
        s3_prefix="{{ params.s3_prefix }}",
        aws_conn_id="{{ params.aws_conn_id }}",
        akool_conn_id="{{ params.akool_conn_id }}",
        max_concurrency=4,
        execution_timeout=timedelta(hours=6),
    )


akool_archive_sweep()
