"""Harness for the chaos runs: a SeaweedFS S3 server, ``airflow dags test`` subprocesses, and the invariants.

Used by ``fault_matrix.py`` (the end-to-end DAG under injected faults) and the chaos tests. akool-sim
runs in this process (a thread) so its state and request log can be read at any time; Airflow runs
in subprocesses on a throw-away AIRFLOW_HOME, configured the way a user would: connections in
``AIRFLOW_CONN_*`` variables, task retries through a cluster policy (``install_retry_policy``).

The invariants are read from outside Airflow only (the sim's admin state and S3, objects re-hashed),
never from XCom, so a bug cannot vouch for itself:

- every source video became at most one avatar (never a duplicate upload);
- no session is left open, and every session was closed by the provider (not by reaching its
  ``duration``), with its unused credit refunded;
- every object under the prefix is complete: its bytes hash to the sha256 a later run trusts
  (``sha256`` metadata, or the ``akool-sha256`` tag for the object's current ETag) and, for archived
  resources, to the bytes at the source; after a successful run there is no unverified object (after
  a failed one an unverified object is a note: the next run uploads it again);
- every manifest is consistent: each ``archived``/``skipped`` entry's object exists with the
  manifest's size and sha256; every object is listed by some manifest (an unlisted complete object
  is reported as a note when the run failed before its manifest was written).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import httpx
from botocore.config import Config
from s3_support import S3Server, aws_connection, verified_sha256

from akool_demo import seaweedfs
from akool_demo.seaweedfs import SeaweedS3

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
E2E_DAG = "akool_end_to_end"
VIDEOS = DAGS / "data" / "e2e_videos.json"
SCRIPTS = DAGS / "data" / "e2e_scripts.jsonl"


# -- services -----------------------------------------------------------------------------------
@contextmanager
def local_s3() -> Iterator[tuple[str, Any]]:
    """A SeaweedFS S3 server on free loopback ports (stopped by PID) and a boto3 client for it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="akool-weed-") as workdir, SeaweedS3.start(Path(workdir)) as weed:
        client = boto3.client(
            "s3", endpoint_url=weed.endpoint_url, config=Config(retries={"max_attempts": 2}), **weed.boto3_credentials()
        )
        yield weed.endpoint_url, client


def aws_conn_json(endpoint: str) -> str:
    """JSON of the AWS connection to a ``local_s3`` server, for an Airflow subprocess's environment."""
    server = S3Server(endpoint, seaweedfs.ACCESS_KEY, seaweedfs.SECRET_KEY, seaweedfs.REGION)
    return json.dumps(aws_connection(server))


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for an Airflow CLI subprocess on the throw-away ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            **extra,
        }
    )
    return env


RETRY_POLICY = """\
# Written by tests/reliability/chaos_support.py: task retries for every task, the way a deployment
# sets them in a cluster policy ([core] default_task_retries did not reach the task instances
# under `airflow dags test` in Airflow 3.3: max_tries stayed 0).
import os
from datetime import timedelta


def task_policy(task):
    retries = int(os.environ.get("AKOOL_CHAOS_RETRIES", "0"))
    if retries and not task.retries:
        task.retries = retries
        task.retry_delay = timedelta(seconds=float(os.environ.get("AKOOL_CHAOS_RETRY_DELAY", "2")))
"""


def install_retry_policy(home: Path) -> None:
    """``$AIRFLOW_HOME/config/airflow_local_settings.py`` giving every task ``$AKOOL_CHAOS_RETRIES`` retries."""
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "airflow_local_settings.py").write_text(RETRY_POLICY)


def migrate(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    install_retry_policy(home)
    result = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=airflow_env(home), capture_output=True, text=True, check=False, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed: {result.stderr[-2000:]}")


def stop_process(process: subprocess.Popen[Any], grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; by PID only."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class DagTestRun:
    """One ``airflow dags test`` subprocess and what the metadata DB says about it afterwards."""

    returncode: int | None
    seconds: float
    log: str
    state: str | None = None
    run_id: str | None = None
    tasks: dict[str, str] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)
    timed_out: bool = False


def dags_test(
    home: Path, env: dict[str, str], dag_id: str, conf: dict[str, Any], log_path: Path, timeout: float
) -> DagTestRun:
    """Run ``airflow dags test dag_id -c conf`` to completion (or ``timeout``) and read the outcome."""
    started = time.monotonic()
    with log_path.open("w") as sink:
        process = subprocess.Popen(
            [AIRFLOW, "dags", "test", dag_id, "-c", json.dumps(conf)], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_process(process)
    run = DagTestRun(process.returncode, time.monotonic() - started, str(log_path), timed_out=timed_out)
    latest_run(home, dag_id, run)
    return run


def latest_run(home: Path, dag_id: str, into: DagTestRun) -> None:
    """Fill state, task states and try numbers of the newest run of ``dag_id`` from the sqlite DB."""
    with sqlite3.connect(home / "airflow.db") as db:
        row = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id=? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        if row is None:
            return
        into.run_id, into.state = row
        for task_id, map_index, state, try_number in db.execute(
            "SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id=? AND run_id=?",
            (dag_id, into.run_id),
        ):
            name = task_id if map_index < 0 else f"{task_id}[{map_index}]"
            into.tasks[name] = str(state)
            into.tries[name] = int(try_number or 0)


# -- invariants ---------------------------------------------------------------------------------
@dataclass
class Violation:
    invariant: str
    detail: str


@dataclass
class Findings:
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def violate(self, invariant: str, detail: str) -> None:
        self.violations.append(Violation(invariant, detail))

    def to_dict(self) -> dict[str, Any]:
        return {"violations": [asdict(v) for v in self.violations], "notes": self.notes, "stats": self.stats}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _objects(s3: Any, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.strip("/") + "/"):
        for item in page.get("Contents", []):
            found[item["Key"]] = item
    return found


def check_invariants(
    *,
    sim_state: dict[str, Any],
    s3: Any,
    bucket: str,
    prefix: str,
    video_urls: list[str],
    run_ok: bool,
    requests: list[dict[str, Any]] | None = None,
) -> Findings:
    """Every invariant of the module docstring, from the sim's state (and request log) and S3 only."""
    findings = Findings()
    # Avatars: at most one per source video (a retry or re-run adopts, never re-uploads).
    uploads = Counter(a.get("source_url") for a in sim_state["avatars"] if a.get("source_url") in set(video_urls))
    for url, count in uploads.items():
        if count > 1:
            findings.violate("avatar created once", f"{count} avatars for {url}")
    findings.stats["avatars"] = sum(uploads.values())
    findings.stats["avatars_ready"] = sum(
        1 for a in sim_state["avatars"] if a.get("source_url") in set(video_urls) and a.get("status") == 3
    )

    # Sessions: none open; each closed by the provider, with its unused credit refunded.
    sessions = sim_state["sessions"]
    if sim_state["open_sessions"]:
        findings.violate("0 sessions open", ", ".join(sim_state["open_sessions"]))
    refunds = {e["session_id"] for e in sim_state["credits"]["entries"] if e["kind"] == "refund"}
    # When the provider's close reached the sim before the session's end but was held there (a
    # stall), the session ran out while waiting: at a high time scale a few real seconds are minutes
    # of session time. That is the time scale, not a leak.
    close_sent: dict[str, int] = {}
    for entry in requests or []:
        body = entry["body"] if isinstance(entry.get("body"), dict) else {}
        if entry["path"].endswith("/session/close") and body.get("id"):
            close_sent.setdefault(body["id"], entry["at"])
    for s in sessions:
        if s["closed_at"] is None:
            continue
        if s["ended_by"] != "close":
            end = s["opened_at"] + s["duration"] * 1000
            if s["_id"] in close_sent and close_sent[s["_id"]] < end:
                findings.notes.append(
                    f"{s['_id']}: its close arrived before its end but was stalled past it (time-scale artifact)"
                )
                continue
            findings.violate(
                "every session closed by the provider",
                f"{s['_id']} ran to its duration ({s['duration']} s): pre-charge not refunded"
                + ("" if s["_id"] in close_sent else "; the provider never asked to close it"),
            )
        elif s["_id"] not in refunds and s["closed_at"] - s["opened_at"] < s["duration"] * 1000:
            findings.violate("credits refunded for every closed session", f"{s['_id']} closed without a refund")
    findings.stats["sessions"] = len(sessions)
    findings.stats["spoken"] = sum(len(s["spoken"]) for s in sessions)
    findings.stats["precharged"] = round(sum(s["precharged"] or 0 for s in sessions), 4)
    findings.stats["refunded"] = round(sum(s["refunded"] or 0 for s in sessions), 4)
    findings.stats["faults"] = dict(sim_state["faults"]["counts"])

    # S3: every object complete (bytes = metadata sha256 = source), manifests consistent.
    objects = _objects(s3, bucket, prefix)
    manifests = {k for k in objects if "/manifests/" in k and k.endswith(".json")}
    listed: set[str] = set()
    sources: dict[str, str] = {}
    with httpx.Client(timeout=30.0, trust_env=False) as http:
        for key in sorted(manifests):
            try:
                manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                entries = manifest["entries"]
            except Exception as exc:
                findings.violate("manifest consistent", f"{key}: unreadable ({type(exc).__name__}: {exc})")
                continue
            for entry in entries:
                if entry.get("key"):
                    listed.add(entry["key"])
                if entry.get("status") not in ("archived", "skipped"):
                    if entry.get("key") in objects:
                        findings.notes.append(
                            f"{key}: {entry.get('name')} is {entry.get('status')} but its object "
                            "exists (checked for completeness below)"
                        )
                    continue
                if entry.get("key") not in objects:
                    findings.violate(
                        "manifest consistent", f"{key}: {entry.get('key')} listed as {entry['status']} but absent"
                    )
                    continue
                body = s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read()
                if entry.get("size") is not None and entry["size"] != len(body):
                    findings.violate("manifest consistent", f"{entry['key']}: size {len(body)} != {entry['size']}")
                if entry.get("sha256") and entry["sha256"] != _sha256(body):
                    findings.violate("manifest consistent", f"{entry['key']}: sha256 differs from the manifest")
                url = str(entry.get("source_url") or "")
                if url.startswith(("http://", "https://")) and "REDACTED" not in url:
                    sources[entry["key"]] = url
        for key in sorted(objects):
            if key in manifests:
                continue
            response = s3.get_object(Bucket=bucket, Key=key)
            body = response["Body"].read()
            meta = {k.lower(): v for k, v in response.get("Metadata", {}).items()}
            source_url = sources.get(key) or unquote(meta.get("source-url", ""))
            source_sha = None
            if source_url.startswith(("http://", "https://")) and "REDACTED" not in source_url:
                source = http.get(source_url)
                source_sha = _sha256(source.content) if source.status_code == 200 else None
            if source_sha is not None and source_sha != _sha256(body):
                findings.violate(
                    "every S3 object complete",
                    f"{key}: PARTIAL or corrupt: differs from its source ({len(body)} bytes)",
                )
            trusted = verified_sha256(s3, bucket, key)
            if trusted is None:
                what = "content = source" if source_sha == _sha256(body) else "content unverified"
                message = f"{key}: object not verified, no sha256 a later run trusts ({what}, {len(body)} bytes)"
                if run_ok:
                    findings.violate("every S3 object complete", message)
                else:
                    findings.notes.append(f"{message}; the next run uploads it again")
            elif trusted != _sha256(body):
                findings.violate("every S3 object complete", f"{key}: bytes do not match their recorded sha256")
            if key not in listed:
                if run_ok:
                    findings.violate("manifest consistent", f"{key}: listed by no manifest")
                else:  # the run failed before (re)writing the manifest that would list it
                    findings.notes.append(f"{key}: listed by no manifest (run failed)")
    uploads_left = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    findings.stats["objects"] = len(objects) - len(manifests)
    findings.stats["manifests"] = len(manifests)
    findings.stats["dangling_multipart_uploads"] = len(uploads_left)
    return findings


def e2e_inputs() -> tuple[list[str], list[str]]:
    urls = json.loads(VIDEOS.read_text(encoding="utf-8"))["video_urls"]
    lines = SCRIPTS.read_text(encoding="utf-8").splitlines()
    return urls, [json.loads(line)["text"] for line in lines if line.strip()]
