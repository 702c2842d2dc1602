"""Benchmark: 1,000 concurrent AkoolAvatarTrigger waits in one event loop against akool-sim.

    python benchmarks/avatar_triggers.py                      # 1,000 waits of 5-60 s, poll every 5 s
    python benchmarks/avatar_triggers.py --poll 2 --min-wait 2 --max-wait 16   # a harder rate

akool-sim runs as a subprocess (``python -m airflow_provider_akool.sim``); this process plays the
triggerer. Set-up (not measured) uploads the avatars with an API-key client, spread over
``max_wait - min_wait`` seconds, with the sim's clock scaled so processing takes ``max_wait``
real seconds: when every trigger starts at once, the avatars become ready at times spread evenly
between ``min_wait`` and ``max_wait``. The triggers authenticate in token mode (client id +
secret -> getToken) through an Airflow connection in an env var, as a triggerer would.

Measured from the moment the triggers start until the last event:
  peak RSS over idle   RSS sampled every 10 ms, minus RSS just before the start (everything
                       imported, set-up finished, garbage collected)
  CPU seconds          user + system time of this process (the sim's CPU is not included)
  requests per avatar  status requests the sim logged per avatar, against the least a poller
                       that polls every ``poll`` seconds can make: ceil(wait / poll) + 1
  getToken calls       from the sim's request log and its token count
Airflow logging is set to WARNING (AIRFLOW__LOGGING__LOGGING_LEVEL) so the output stays readable.
Prints a markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import psutil

# Airflow's structlog set-up ignores stdlib logger levels; its own level must be set before import.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

CONN_ID = "akool_bench"
QUEUE_AND_PROCESSING = 20.0 + 90.0  # akool-sim's default avatar timings, simulated seconds
DETAIL = "/api/open/v4/liveAvatar/avatar/detail"
RECORD = "/api/open/v3/avatar/detail"
TOKEN = "/api/open/v3/getToken"


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def start_sim(time_scale: float) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "airflow_provider_akool.sim", "--port", "0", "--time-scale", str(time_scale)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    prefix = "akool-sim listening on "
    if not line.startswith(prefix):
        proc.terminate()
        raise RuntimeError(f"akool-sim did not start: {line!r}")
    return proc, line[len(prefix) :]


class RssSampler(threading.Thread):
    """Peak resident set size of this process, sampled every 10 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.stop.wait(0.01)


def upload_avatars(url: str, api_key: str, count: int, window: float) -> dict[str, int]:
    """Upload ``count`` avatars evenly over ``window`` seconds; returns avatar_id -> create_time (ms)."""
    from airflow_provider_akool.client import AsyncAkoolClient, ClientConfig

    async def run() -> dict[str, int]:
        created: dict[str, int] = {}
        started = time.monotonic()
        async with AsyncAkoolClient(ClientConfig(base_url=url, api_key=api_key)) as client:
            gate = asyncio.Semaphore(16)

            async def one(i: int) -> None:
                await asyncio.sleep(max(0.0, started + window * i / max(1, count - 1) - time.monotonic()))
                avatar_id = f"bench{i:05d}"
                async with gate:
                    result = await client.create_avatar(
                        url=f"https://media.example.com/{avatar_id}.mp4", avatar_id=avatar_id, name=avatar_id
                    )
                assert result.avatar.create_time is not None
                created[avatar_id] = result.avatar.create_time

            await asyncio.gather(*(one(i) for i in range(count)))
        late = time.monotonic() - started - window
        if late > 1:
            say(f"warning: uploads finished {late:.1f} s behind schedule; waits are shorter than asked")
        return created

    return asyncio.run(run())


async def wait_all(created: dict[str, int], poll: float, limit: float) -> dict[str, tuple[str, float]]:
    from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

    deadline = time.time() + limit

    async def one(avatar_id: str, create_time: int) -> tuple[str, tuple[str, float]]:
        trigger = AkoolAvatarTrigger(
            avatar_id=avatar_id, deadline=deadline, akool_conn_id=CONN_ID, poll_interval=poll, create_time=create_time
        )
        async for event in trigger.run():
            return avatar_id, (str(event.payload["status"]), time.monotonic())
        raise AssertionError("trigger returned without an event")

    results = await asyncio.gather(*(one(a, c) for a, c in created.items()))
    return dict(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--avatars", type=int, default=1000)
    parser.add_argument("--poll", type=float, default=5.0, help="trigger poll interval, seconds")
    parser.add_argument("--min-wait", type=float, default=5.0, help="shortest wait until ready, seconds")
    parser.add_argument("--max-wait", type=float, default=60.0, help="longest wait until ready, seconds")
    args = parser.parse_args()
    window = args.max_wait - args.min_wait
    time_scale = QUEUE_AND_PROCESSING / args.max_wait

    proc, url = start_sim(time_scale)
    try:
        admin = httpx.Client(base_url=f"{url}/_sim", timeout=60)
        config = admin.get("/state").json()["config"]
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "akool", "host": url, "login": config["client_id"], "password": "sim-client-secret"}
        )
        # Import everything the triggers use before measuring the idle process.
        import airflow.triggers.base  # noqa: F401

        import airflow_provider_akool.hooks.akool
        import airflow_provider_akool.triggers.avatar  # noqa: F401

        say(f"uploading {args.avatars} avatars over {window:.0f} s (sim time scale {time_scale:.3f}) ...")
        created = upload_avatars(url, "sim-api-key", args.avatars, window)
        admin.delete("/requests")
        tokens_before = admin.get("/state").json()["tokens"]["issued"]
        gc.collect()

        process = psutil.Process()
        idle_rss = process.memory_info().rss
        sampler = RssSampler()
        sampler.start()
        cpu_before = process.cpu_times()
        state = admin.get("/state").json()
        sim_now_ms, start = state["now_ms"], time.monotonic()
        seq_before = state["requests"]
        say(f"starting {args.avatars} triggers (poll {args.poll} s) ...")
        events = asyncio.run(wait_all(created, args.poll, limit=args.max_wait * 3 + 60))
        elapsed = time.monotonic() - start
        cpu_after = process.cpu_times()
        sampler.stop.set()
        sampler.join()

        state = admin.get("/state").json()
        log = admin.get("/requests").json()
        logged_all = len(log) == state["requests"] - seq_before
        per_avatar: Counter[str] = Counter()
        for entry in log:
            if entry["path"] == DETAIL:
                per_avatar[entry["query"].get("avatar_id", "")] += 1
            elif entry["path"] == RECORD:
                per_avatar["(v3 record)"] += 1
        token_calls = sum(1 for entry in log if entry["path"] == TOKEN)
    finally:
        proc.terminate()
        proc.wait(10)

    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    statuses = Counter(status for status, _ in events.values())
    over: list[int] = []
    detection: list[float] = []
    waits: list[float] = []
    for avatar_id, create_ms in created.items():
        ready_sim_ms = create_ms + QUEUE_AND_PROCESSING * 1000
        wait = max(0.0, (ready_sim_ms - sim_now_ms) / 1000 / time_scale)
        waits.append(wait)
        minimum = math.ceil(wait / args.poll) + 1
        over.append(per_avatar[avatar_id] - minimum)
        detection.append(events[avatar_id][1] - start - wait)
    over_counts = Counter(over)

    rows = [
        ("avatars / outcome", f"{args.avatars} / " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))),
        ("waits until ready", f"{min(waits):.1f}-{max(waits):.1f} s (median {statistics.median(waits):.1f} s)"),
        ("poll interval", f"{args.poll} s"),
        ("wall time of the waits", f"{elapsed:.1f} s"),
        ("peak RSS over idle", f"{(sampler.peak - idle_rss) / 2**20:.1f} MiB (idle {idle_rss / 2**20:.0f} MiB)"),
        ("CPU seconds (user + sys)", f"{cpu:.2f}"),
        ("status requests", f"{sum(per_avatar.values())} (v3 record reads: {per_avatar['(v3 record)']})"),
        ("requests per avatar - minimum (avatars)", ", ".join(f"{k:+d}: {v}" for k, v in sorted(over_counts.items()))),
        ("worst avatar vs minimum", f"{max(over):+d} (target <= +1)"),
        ("ready -> event delay", f"mean {statistics.mean(detection):.2f} s, max {max(detection):.2f} s"),
        ("status requests per second", f"{sum(per_avatar.values()) / elapsed:.0f}"),
        ("CPU per status request", f"{cpu / max(1, sum(per_avatar.values())) * 1000:.1f} ms"),
        ("getToken calls", f"{token_calls} (sim tokens issued: {state['tokens']['issued'] - tokens_before})"),
        ("sim request log complete", "yes" if logged_all else "NO: counts are lower bounds"),
        ("load average (1 min) at the end", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"),
    ]
    print("| Measure | Value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
