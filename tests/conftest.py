"""Test-session set-up: a throw-away AIRFLOW_HOME, the repo's dags/ folder, no example DAGs.

Environment must be set before anything imports airflow, hence module level.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_HOME = tempfile.mkdtemp(prefix="akool-airflow-home-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)

os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "60")
os.environ.pop("AIRFLOW_CONN_AKOOL_DEFAULT", None)

sys.path.insert(0, str(ROOT / "tests"))

pytest_plugins = ["airflow_support", "s3_support"]
