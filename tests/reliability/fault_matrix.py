"""Fault matrix: the end-to-end DAG against akool-sim with injected faults, invariants checked after each run.

    .venv/bin/python tests/reliability/fault_matrix.py --rates 0.1,0.2 --seeds 20 --out chaos-results

For each (rate, seed): a fresh akool-sim (in this process) injecting every fault kind — http_500,
http_503, http_429 + Retry-After, code_1005, reset, stall, lost_response on the API and the
served files, truncate on the files — at that rate from that seed; a fresh bucket on one SeaweedFS S3
server; ``airflow dags test akool_end_to_end`` in a subprocess on one throw-away AIRFLOW_HOME.
Retries are configured as a deployment would, without changing the DAG: a cluster policy
(``airflow_local_settings.task_policy``) gives every task ``--retries`` retries 2 s apart
(``[core] default_task_retries`` did not reach the task instances under ``airflow dags test``);
the Akool connection's ``timeout`` extra is shorter than a stall.

After each run the faults are switched off and the invariants of ``chaos_support`` are checked
from the sim's state and S3. One JSON line per run goes to ``<out>/runs.jsonl`` as soon as it is
known, the summary to ``<out>/summary.json``; the run logs stay in ``<out>/logs``. The exit status
is 1 if any invariant was violated (a failed DAG run alone is not a violation: failing cleanly is
allowed, leaking is not).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: s3_support
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_support import (
    E2E_DAG,
    airflow_env,
    aws_conn_json,
    check_invariants,
    dags_test,
    e2e_inputs,
    local_s3,
    migrate,
)
from task_support import akool_conn_json

ALL_KINDS = ["http_500", "http_503", "http_429", "code_1005", "reset", "stall", "lost_response", "truncate"]
TIME_SCALE = 20.0
STALL_SECONDS = 6.0
CLIENT_TIMEOUT = 4.0
SESSION_SECONDS = 600


def one_run(
    *, rate: float, seed: int, home: Path, endpoint: str, s3: Any, out: Path, retries: int, timeout: float
) -> dict[str, Any]:
    from airflow_provider_akool.sim.runner import SimServer

    bucket = f"chaos-{int(rate * 100):02d}-{seed:03d}-{int(time.time()) % 100000}"
    s3.create_bucket(Bucket=bucket)
    urls, _ = e2e_inputs()
    with SimServer(
        time_scale=TIME_SCALE,
        seed=seed,
        fault_rate=rate,
        fault_kinds=ALL_KINDS,
        fault_paths=["/api/", "/_sim/files/"],
        stall_seconds=STALL_SECONDS,
    ) as sim:
        env = airflow_env(
            home,
            AIRFLOW_CONN_AKOOL_CHAOS=akool_conn_json(sim, max_retry_wait=None, timeout=CLIENT_TIMEOUT),
            AIRFLOW_CONN_AWS_CHAOS=aws_conn_json(endpoint),
            AKOOL_CHAOS_RETRIES=str(retries),
            AKOOL_CHAOS_RETRY_DELAY="2",
        )
        conf = {
            "akool_conn_id": "akool_chaos",
            "aws_conn_id": "aws_chaos",
            "s3_bucket": bucket,
            "s3_prefix": "chaos",
            "avatar_poll_seconds": 0.5,
            "avatar_timeout_minutes": 10,
            # At time scale 20 a 60 s session lives 3 real seconds, less than one stalled call (6 s):
            # a create that lands late could start and end unseen between two listings. 600 s
            # (30 real seconds) keeps a session's life longer than a stall, as real sessions are.
            "session_duration": SESSION_SECONDS,
        }
        log = out / "logs" / f"rate{int(rate * 100):02d}-seed{seed:03d}.log"
        run = dags_test(home, env, E2E_DAG, conf, log, timeout=timeout)
        sim.set_faults(0.0)
        state = sim.state()
        findings = check_invariants(
            sim_state=state,
            s3=s3,
            bucket=bucket,
            prefix="chaos",
            video_urls=urls,
            run_ok=run.state == "success",
            requests=sim.requests(),
        )
    retried = {task: tries for task, tries in run.tries.items() if tries > 1}
    return {
        "rate": rate,
        "seed": seed,
        "bucket": bucket,
        "dag_state": run.state,
        "timed_out": run.timed_out,
        "seconds": round(run.seconds, 1),
        "tasks": run.tasks,
        "retried": retried,
        "faults_injected": state["faults"]["total"],
        **findings.to_dict(),
        "log": run.log,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rates", default="0.1,0.2", help="comma-separated fault rates")
    parser.add_argument("--seeds", type=int, default=20, help="seeds per rate (1..N)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--retries", type=int, default=3, help="task retries (cluster policy)")
    parser.add_argument("--run-timeout", type=float, default=900.0, help="seconds before a run is stopped")
    parser.add_argument("--budget-minutes", type=float, default=240.0, help="stop starting runs after this")
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="akool-chaos-")))
    args = parser.parse_args(argv)

    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    out: Path = args.out
    (out / "logs").mkdir(parents=True, exist_ok=True)
    home = out / "airflow-home"
    started = time.monotonic()
    migrate(home)
    results: list[dict[str, Any]] = []
    planned = [(rate, seed) for seed in seeds for rate in rates]  # interleaved: a cut-off run keeps both rates
    with local_s3() as (endpoint, s3), (out / "runs.jsonl").open("a") as sink:
        for rate, seed in planned:
            if time.monotonic() - started > args.budget_minutes * 60:
                print(
                    f"time budget of {args.budget_minutes} min used up; {len(planned) - len(results)} run(s) "
                    "not started",
                    flush=True,
                )
                break
            result = one_run(
                rate=rate,
                seed=seed,
                home=home,
                endpoint=endpoint,
                s3=s3,
                out=out,
                retries=args.retries,
                timeout=args.run_timeout,
            )
            results.append(result)
            sink.write(json.dumps(result) + "\n")
            sink.flush()
            verdict = "OK " if not result["violations"] else "VIOLATION"
            print(
                f"{verdict} rate={rate:.2f} seed={seed:3d} dag={result['dag_state']} "
                f"{result['seconds']:6.1f}s faults={result['faults_injected']} "
                f"retried={sum(t - 1 for t in result['retried'].values())} "
                f"violations={len(result['violations'])}",
                flush=True,
            )
            for violation in result["violations"]:
                print(f"    - {violation['invariant']}: {violation['detail']}", flush=True)
    summary = summarise(results, time.monotonic() - started)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"results in {out}")
    return 1 if summary["runs_with_violations"] else 0


def summarise(results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    by_rate: dict[str, dict[str, Any]] = {}
    for rate in sorted({r["rate"] for r in results}):
        runs = [r for r in results if r["rate"] == rate]
        by_rate[f"{rate:.2f}"] = {
            "runs": len(runs),
            "dag_success": sum(r["dag_state"] == "success" for r in runs),
            "dag_failed": sum(r["dag_state"] != "success" for r in runs),
            "runs_with_violations": sum(bool(r["violations"]) for r in runs),
            "faults_injected": sum(r["faults_injected"] for r in runs),
            "task_retries": sum(t - 1 for r in runs for t in r["retried"].values()),
            "mean_seconds": round(sum(r["seconds"] for r in runs) / len(runs), 1),
        }
    kinds: Counter[str] = Counter()
    for r in results:
        kinds.update(r["stats"].get("faults", {}))
    return {
        "runs": len(results),
        "runs_with_violations": sum(bool(r["violations"]) for r in results),
        "violations": Counter(v["invariant"] for r in results for v in r["violations"]),
        "by_rate": by_rate,
        "faults_by_kind": dict(kinds),
        "dangling_multipart_uploads": sum(r["stats"].get("dangling_multipart_uploads", 0) for r in results),
        "total_minutes": round(seconds / 60, 1),
    }


if __name__ == "__main__":
    sys.exit(main())
