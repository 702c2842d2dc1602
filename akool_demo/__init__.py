"""The end-to-end demo and its e2e runs (``make demo``, ``make e2e``, ``make e2e-celery``).

Repository tooling, not part of the provider: it is not in the wheel, and nothing in
``airflow_provider_akool`` may import it (an import contract in ``pyproject.toml``). It is
importable wherever the editable install of the provider is (``make venv`` puts the repository
root on ``sys.path``).

- ``__main__``: ``python -m akool_demo`` runs ``dags/akool_end_to_end.py`` with
  ``airflow dags test`` against akool-sim and SeaweedFS, then checks and prints what happened.
- ``processes``: start akool-sim (``servers``: with config overrides) and SeaweedFS (``seaweedfs``:
  a real S3 server) as subprocesses and stop process trees by PID.
- ``report``: read what really happened (akool-sim's ``/_sim/state``, S3), check the invariants
  and print the summary.
- ``e2e``: the same DAG through a real scheduler, dag-processor, triggerer and API server.
- ``celery_e2e`` (with ``backends``: PostgreSQL and Redis; ``celery_meta``: what it reads while
  the run goes on; ``hostname``: one hostname per worker): the same DAG on CeleryExecutor with two
  workers, one of them SIGKILLed mid-session.
"""
