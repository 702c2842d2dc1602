"""Benchmark: a batch of retelling scripts through concurrent sessions against a time-scaled akool-sim.

    python benchmarks/retelling_batch.py                      # 100 scripts, 10 sessions, sim at 10x
    python benchmarks/retelling_batch.py --time-scale 20      # faster, real-time overheads weigh more

akool-sim runs as a subprocess (``python -m airflow_provider_akool.sim``) so its event loop does not
compete with the sessions' for the GIL. The scripts (deterministic, from ``--seed``) are grouped
with ``group_into_batches`` exactly as the example DAG does, and each batch is spoken by one
``RetellingRunner`` with ``duration="auto"``; ``--concurrency`` batches run at once (the DAG's pool).

Figures:
  wall / ideal     ideal = sum of estimated speaking time / concurrency, in real seconds (target <= 1.1)
  credits          pre-charged credits vs credits for the speaking time, and vs credits finally spent
                   after refunds (target <= 1.15 for the first with duration auto)
  pacing           a second sim at ``--pacing-time-scale``: one long script through the runner, send
                   timestamps recorded at the transport; sustained rate and the busiest 1 s window vs
                   the 6,000 B/s cap (target >= 0.9x, never above), and messages the sim dropped
Prints a markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx

from airflow_provider_akool.client import AsyncAkoolClient, ClientConfig
from airflow_provider_akool.streaming import runner as runner_module
from airflow_provider_akool.streaming.limits import SIM_LIMITS
from airflow_provider_akool.streaming.planning import Segment, estimate_speaking_seconds, group_into_batches
from airflow_provider_akool.streaming.runner import RetellingRunner, RetellingSettings

AVATAR = "dvp_Tristan_cloth2_1080P"
API_KEY = "sim-api-key"
WORDS = [
    "the", "harbour", "light", "river", "morning", "station", "archive", "signal", "weather", "garden",
    "museum", "engine", "people", "quiet", "northern", "careful", "bright", "window", "market", "bridge",
    "letter", "island", "summer", "evening", "history", "small", "across", "under", "before", "after",
    "while", "during", "always", "rarely", "slowly", "carefully", "together",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def sim_process(time_scale: float) -> Iterator[str]:
    command = [sys.executable, "-m", "airflow_provider_akool.sim", "--port", "0", "--time-scale", str(time_scale)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if "listening on " not in line:
            raise RuntimeError(f"akool-sim did not start: {line!r}")
        yield line.rsplit(" ", 1)[-1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def make_scripts(count: int, min_chars: int, max_chars: int, seed: int) -> list[Segment]:
    rng = random.Random(seed)
    scripts = []
    for n in range(count):
        target = rng.randint(min_chars, max_chars)
        sentences: list[str] = []
        while sum(len(s) + 1 for s in sentences) < target:
            words = rng.choices(WORDS, k=rng.randint(6, 14))
            sentences.append(" ".join(words).capitalize() + ".")
        scripts.append(Segment(f"script-{n + 1:03d}", " ".join(sentences)[:target].rstrip() + "."))
    return scripts


def sim_state(url: str) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{url}/_sim/state", timeout=30).json()
    return state


def client_for(url: str) -> AsyncAkoolClient:
    return AsyncAkoolClient(ClientConfig(base_url=url, api_key=API_KEY, timeout=30.0))


async def run_batches(url: str, batches: list[list[Segment]], concurrency: int, time_scale: float) -> float:
    gate = asyncio.Semaphore(concurrency)
    settings = RetellingSettings(avatar_id=AVATAR, stream_type="sim", duration="auto", time_scale=time_scale)

    async def one(batch: list[Segment]) -> None:
        async with gate:
            runner = RetellingRunner(settings, [s.to_dict() for s in batch])
            await runner.run(client)

    async with client_for(url) as client:
        started = time.monotonic()
        await asyncio.gather(*(one(b) for b in batches))
        return time.monotonic() - started


async def measure_pacing(url: str, chars: int, time_scale: float) -> dict[str, float]:
    """Send one long script through the runner and record every transmit at the transport."""
    sends: list[tuple[float, int]] = []
    real_factory = runner_module.create_transport

    def recording_factory(stream_type: str, credentials: dict[str, Any], **options: Any) -> Any:
        transport = real_factory(stream_type, credentials, **options)
        transmit = transport._transmit

        async def recorded(payload: bytes) -> None:
            await transmit(payload)
            sends.append((time.monotonic(), len(payload)))

        transport._transmit = recorded  # type: ignore[method-assign]
        return transport

    runner_module.create_transport = recording_factory  # type: ignore[assignment]
    try:
        text = make_scripts(1, chars, chars, seed=99)[0]
        settings = RetellingSettings(avatar_id=AVATAR, stream_type="sim", duration=3600, time_scale=time_scale)
        async with client_for(url) as client:
            await RetellingRunner(settings, [text.to_dict()]).run(client)
    finally:
        runner_module.create_transport = real_factory
    chat = sends[1:]  # the first send is set-params
    span = chat[-1][0] - chat[0][0]
    sustained = sum(size for _, size in chat[:-1]) / span
    busiest = max(sum(s for t, s in chat if start <= t < start + 1.0) for start, _ in chat)
    return {"messages": len(chat), "bytes": sum(s for _, s in chat), "sustained": sustained, "busiest": busiest}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scripts", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--min-chars", type=int, default=400)
    parser.add_argument("--max-chars", type=int, default=1400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pacing-chars", type=int, default=12000)
    parser.add_argument("--pacing-time-scale", type=float, default=100.0)
    args = parser.parse_args(argv)

    scripts = make_scripts(args.scripts, args.min_chars, args.max_chars, args.seed)
    batches = group_into_batches(scripts, min_batches=args.concurrency)
    speaking = sum(estimate_speaking_seconds(s.text) for s in scripts)
    ideal = speaking / args.concurrency / args.time_scale
    log(f"{len(scripts)} scripts, {sum(len(s.text) for s in scripts)} chars, {speaking:.0f} s of speech "
        f"in {len(batches)} batches; ideal wall {ideal:.1f} s at {args.time_scale:g}x")

    with sim_process(args.time_scale) as url:
        wall = asyncio.run(run_batches(url, batches, args.concurrency, args.time_scale))
        state = sim_state(url)
    credits = state["credits"]
    per_minute = state["config"]["credits_per_minute"]
    needed = speaking / 60.0 * per_minute
    spoken = sum(len(s["spoken"]) for s in state["sessions"])
    log(f"batch done in {wall:.1f} s; {spoken} scripts spoken; open sessions {state['open_sessions']}")

    with sim_process(args.pacing_time_scale) as url:
        pacing = asyncio.run(measure_pacing(url, args.pacing_chars, args.pacing_time_scale))
        pacing_state = sim_state(url)
    cap = SIM_LIMITS.bytes_per_second
    dropped = sum(pacing_state["channel"]["violation_counts"].values())
    dropped_batch = sum(state["channel"]["violation_counts"].values())

    rows = [
        ("scripts / sessions / concurrency", f"{len(scripts)} / {len(state['sessions'])} / {args.concurrency}"),
        ("scripts spoken (sim state)", f"{spoken}"),
        ("sessions left open", f"{len(state['open_sessions'])}"),
        ("sim time scale", f"{args.time_scale:g}x"),
        ("estimated speech (sim s)", f"{speaking:.0f}"),
        ("ideal wall (s)", f"{ideal:.2f}"),
        ("wall (s)", f"{wall:.2f}"),
        ("**wall / ideal** (target <= 1.1)", f"**{wall / ideal:.3f}**"),
        ("credits pre-charged", f"{credits['precharged_total']:.2f}"),
        ("credits for the speech", f"{needed:.2f}"),
        ("**pre-charged / speech** (target <= 1.15)", f"**{credits['precharged_total'] / needed:.3f}**"),
        ("credits spent after refunds", f"{credits['spent_total']:.2f}"),
        ("pre-charged / spent", f"{credits['precharged_total'] / credits['spent_total']:.3f}"),
        ("messages dropped by the sim (batch)", f"{dropped_batch}"),
        (f"pacing: {pacing['messages']} messages, {pacing['bytes']} B", f"cap {cap} B/s"),
        ("**pacing sustained / cap** (target >= 0.9)", f"**{pacing['sustained'] / cap:.3f}**"),
        ("pacing busiest 1 s window / cap (<= 1)", f"{pacing['busiest'] / cap:.3f}"),
        ("messages dropped by the sim (pacing)", f"{dropped}"),
    ]
    print("| figure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
