"""Pieces of the end-to-end demo (``make demo``, ``make e2e``, ``make e2e-celery``) and of
``dags/akool_end_to_end.py``.

- ``transcripts``: write retelling transcripts to S3 as JSON objects, with a manifest in the
  archive's format (Airflow-free; takes a boto3 S3 client).
- ``processes``: start akool-sim and SeaweedFS (``seaweedfs``: a real S3 server) as subprocesses
  and stop process trees by PID.
- ``report``: read what really happened (akool-sim's ``/_sim/state``, S3), check the invariants
  and print the summary.
- ``e2e``: the same DAG through a real scheduler, dag-processor, triggerer and API server.
- ``celery_e2e`` (with ``backends``: PostgreSQL and Redis; ``celery_meta``: what it reads while
  the run goes on; ``hostname``: one hostname per worker): the same DAG on CeleryExecutor with two
  workers, one of them SIGKILLed mid-session.
"""
