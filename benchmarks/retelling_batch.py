"""Benchmark: multilingual retelling scripts, two speaking-time arms, against a time-scaled akool-sim.

    python benchmarks/retelling_batch.py                      # 40 scripts in en,zh,ja,ko, 4 sessions, sim at 20x
    python benchmarks/retelling_batch.py --languages en,zh --scripts 20

akool-sim runs as a subprocess (``python -m airflow_provider_akool.sim``) so its event loop does not
compete with the sessions' for the GIL; it times speech with its OWN model (sim/speech.py), so the
ideal below is what the sim actually spoke, not the client's estimate. The scripts (deterministic,
from ``--seed``) are spread round-robin over ``--languages``; each language's scripts are grouped
with ``group_into_batches`` as the example DAG does, and each batch is spoken by one
``RetellingRunner`` (``duration="auto"``, the session ``language`` set); ``--concurrency`` batches run
at once. The same scripts run twice, each arm against a fresh sim with the same settings:

  model     the default RetellingSettings (rates per writing system, sizing = expected x 1.3)
  flat15    the old assumption: every character class 15 chars/s, sizing margin 1.05

Figures per arm (and per language):
  whole            scripts every piece of which the sim spoke uncut (sim state, ``cut_by`` null)
  sessions, rollovers, cuts, recovered, unconfirmed   from the transcripts' totals
  credits          pre-charged (sim ledger) vs credits for the speech the sim actually spoke
                   (sum of ended_at - started_at over its segments)
  wall / ideal     ideal = the sim's actual speaking time / concurrency / time scale
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
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_provider_akool.client import AsyncAkoolClient, ClientConfig
from airflow_provider_akool.streaming import runner as runner_module
from airflow_provider_akool.streaming.limits import SIM_LIMITS
from airflow_provider_akool.streaming.planning import DurationPolicy, Segment, group_into_batches
from airflow_provider_akool.streaming.runner import RetellingFailedError, RetellingRunner, RetellingSettings
from airflow_provider_akool.streaming.speech import CharClass, SpeakingTimeModel, SpeechRates

AVATAR = "dvp_Tristan_cloth2_1080P"
API_KEY = "sim-api-key"
WORDS = [
    "the",
    "harbour",
    "light",
    "river",
    "morning",
    "station",
    "archive",
    "signal",
    "weather",
    "garden",
    "museum",
    "engine",
    "people",
    "quiet",
    "northern",
    "careful",
    "bright",
    "window",
    "market",
    "bridge",
    "letter",
    "island",
    "summer",
    "evening",
    "history",
    "small",
    "across",
    "under",
    "before",
    "after",
    "while",
    "during",
    "always",
    "rarely",
    "slowly",
    "carefully",
    "together",
]
# Phrase lists per language: a sentence is a few phrases joined without spaces (CJK) or with spaces
# (ko), closed by the language's full stop; clauses are separated by its comma.
PHRASES: dict[str, list[str]] = {
    "zh": [
        "今天早上",
        "我们在车站",
        "看见了",
        "一座老桥",
        "河边的灯光",
        "博物馆里",
        "很多人",
        "安静地",
        "等待着",
        "天气很好",
        "北方的城市",
        "小心地",
        "打开窗户",
        "市场上",
        "一封信",
        "夏天的晚上",
        "历史",
        "慢慢地",
        "一起走过",
        "岛上的花园",
    ],
    "ja": [
        "今朝",
        "駅の前で",
        "古い橋を",
        "見ました",
        "川のそばの",
        "明かりが",
        "博物館には",
        "たくさんの人が",
        "静かに",
        "待っています",
        "天気がいい",
        "北の町で",
        "気をつけて",
        "窓を開けて",
        "市場で",
        "手紙を",
        "夏の夕方",
        "ゆっくりと",
        "一緒に",
        "島の庭園",
    ],
    "ko": [
        "오늘 아침",
        "역 앞에서",
        "오래된 다리를",
        "보았습니다",
        "강가의 불빛이",
        "박물관에는",
        "많은 사람들이",
        "조용히",
        "기다립니다",
        "날씨가 좋은",
        "북쪽 도시에서",
        "조심스럽게",
        "창문을 열고",
        "시장에서",
        "편지를",
        "여름 저녁",
        "천천히",
        "함께",
        "섬의 정원",
        "역사를",
    ],
}
FULL_STOP = {"zh": "。", "ja": "。", "ko": "."}
COMMA = {"zh": "，", "ja": "、", "ko": ","}  # noqa: RUF001 - CJK forms on purpose
# Characters per script relative to --min-chars/--max-chars: a Han/kana/Hangul character is worth
# about three Latin letters of speech, so the scripts are of comparable length in time.
CHAR_SCALE = {"en": 1.0, "zh": 1 / 3, "ja": 1 / 2.5, "ko": 1 / 2.5}


def flat15_settings(**common: Any) -> RetellingSettings:
    """The old assumption: every character 15 chars/s, sessions sized at 1.05 x that."""
    rates = SpeechRates({c: 15.0 for c in CharClass if c is not CharClass.SILENT})
    policy = DurationPolicy(speech=SpeakingTimeModel(rates=rates, sizing_margin=1.05))
    return RetellingSettings(duration_policy=policy, **common)


ARMS = {
    "model": lambda **common: RetellingSettings(**common),
    "flat15": flat15_settings,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def sim_process(time_scale: float, profile: str = "default", seed: int = 1) -> Iterator[str]:
    command = [
        sys.executable,
        "-m",
        "airflow_provider_akool.sim",
        "--port",
        "0",
        "--time-scale",
        str(time_scale),
        "--profile",
        profile,
        "--seed",
        str(seed),
    ]
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


def make_sentence(rng: random.Random, language: str) -> str:
    if language == "en":
        return " ".join(rng.choices(WORDS, k=rng.randint(6, 14))).capitalize() + "."
    phrases = rng.choices(PHRASES[language], k=rng.randint(3, 6))
    joiner = " " if language == "ko" else ""
    cut = rng.randint(1, len(phrases) - 1)
    return joiner.join(phrases[:cut]) + COMMA[language] + joiner + joiner.join(phrases[cut:]) + FULL_STOP[language]


def make_script(rng: random.Random, language: str, target: int) -> str:
    sentences: list[str] = []
    joiner = "" if language in ("zh", "ja") else " "
    while len(joiner.join(sentences)) < target:
        sentences.append(make_sentence(rng, language))
    return joiner.join(sentences)


def make_scripts(
    count: int, min_chars: int, max_chars: int, seed: int, languages: list[str] | None = None
) -> list[tuple[str, Segment]]:
    """``count`` (language, script) pairs, round-robin over ``languages``; deterministic from ``seed``."""
    rng = random.Random(seed)
    languages = languages or ["en"]
    scripts = []
    for n in range(count):
        language = languages[n % len(languages)]
        scale = CHAR_SCALE.get(language, 1.0)
        target = round(rng.randint(min_chars, max_chars) * scale)
        scripts.append((language, Segment(f"{language}-{n + 1:03d}", make_script(rng, language, target))))
    return scripts


def sim_state(url: str) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{url}/_sim/state", timeout=30).json()
    return state


def client_for(url: str) -> AsyncAkoolClient:
    return AsyncAkoolClient(ClientConfig(base_url=url, api_key=API_KEY, timeout=30.0))


@dataclass
class ArmResult:
    wall: float
    manifests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per language
    failures: int = 0


async def run_arm(
    url: str, arm: str, batches: list[tuple[str, list[Segment]]], concurrency: int, time_scale: float
) -> ArmResult:
    gate = asyncio.Semaphore(concurrency)
    result = ArmResult(wall=0.0)

    async def one(language: str, batch: list[Segment]) -> None:
        settings = ARMS[arm](
            avatar_id=AVATAR, stream_type="sim", duration="auto", time_scale=time_scale, language=language
        )
        async with gate:
            runner = RetellingRunner(settings, [s.to_dict() for s in batch])
            try:
                outcome = await runner.run(client)
            except RetellingFailedError as exc:
                log(f"  {arm} {language}: run failed: {exc}")
                result.failures += 1
                outcome = exc.result
            result.manifests.setdefault(language, []).append(outcome.to_manifest())

    async with client_for(url) as client:
        started = time.monotonic()
        await asyncio.gather(*(one(lang, b) for lang, b in batches))
        result.wall = time.monotonic() - started
    return result


def arm_figures(
    scripts: list[tuple[str, Segment]], state: dict[str, Any], run: ArmResult, language: str | None
) -> dict[str, float]:
    """Figures for one arm, over every language (None) or one."""
    chosen = [seg for lang, seg in scripts if language in (None, lang)]
    sessions = [s for s in state["sessions"] if language in (None, s["language"])]
    segments = [seg for s in sessions for seg in s["segments"] if seg["ended_at"] is not None]
    uncut = {seg["text"] for seg in segments if seg["cut_by"] is None}
    spoken_ms = sum(seg["ended_at"] - seg["started_at"] for seg in segments)
    manifests = [m for lang, ms in run.manifests.items() if language in (None, lang) for m in ms]
    pieces: dict[str, list[str]] = {}
    for manifest in manifests:
        for record in manifest["segments"]:
            root = record["id"].split("#", 1)[0]
            pieces.setdefault(root, []).append(record["text"])
    whole = sum(1 for seg in chosen if pieces.get(seg.id) and all(t in uncut for t in pieces[seg.id]))
    totals = [m["totals"] for m in manifests]
    per_minute = state["config"]["credits_per_minute"]
    return {
        "scripts": len(chosen),
        "whole": whole,
        "sessions": len(sessions),
        "rollovers": sum(t["rollovers"] for t in totals),
        "cuts": sum(t["cuts"] for t in totals),
        "recovered": sum(t["recovered"] for t in totals),
        "unconfirmed": sum(t["unconfirmed"] for t in totals),
        "estimated": sum(t["estimated_seconds"] for t in totals),
        "spoken": spoken_ms / 1000.0,
        "precharged": sum(s["precharged"] for s in sessions),
        "spent": sum(s["precharged"] - s["refunded"] for s in sessions),
        "speech_credits": spoken_ms / 1000.0 / 60.0 * per_minute,
    }


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
        text = make_scripts(1, chars, chars, seed=99)[0][1]
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


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scripts", type=int, default=40)
    parser.add_argument("--languages", default="en,zh,ja,ko")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--min-chars", type=int, default=400)
    parser.add_argument("--max-chars", type=int, default=1400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", default="default", help="akool-sim data-channel profile for both arms")
    parser.add_argument("--pacing-chars", type=int, default=12000)
    parser.add_argument("--pacing-time-scale", type=float, default=100.0)
    args = parser.parse_args(argv)
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    unknown = [lang for lang in languages if lang != "en" and lang not in PHRASES]
    if unknown:
        parser.error(f"no phrase list for {unknown}; known: en, {', '.join(PHRASES)}")

    scripts = make_scripts(args.scripts, args.min_chars, args.max_chars, args.seed, languages)
    per_language = max(1, args.concurrency // len(languages))
    batches = [
        (lang, batch)
        for lang in languages
        for batch in group_into_batches([s for l2, s in scripts if l2 == lang], min_batches=per_language)
    ]
    log(
        f"{len(scripts)} scripts in {','.join(languages)}, {sum(len(s.text) for _, s in scripts)} chars, "
        f"{len(batches)} batches, {args.concurrency} at once, sim at {args.time_scale:g}x"
    )

    figures: dict[str, dict[str | None, dict[str, float]]] = {}
    walls: dict[str, float] = {}
    failures: dict[str, int] = {}
    dropped: dict[str, int] = {}
    left_open: dict[str, int] = {}
    for arm in ARMS:
        with sim_process(args.time_scale, args.profile, args.seed) as url:
            run = asyncio.run(run_arm(url, arm, batches, args.concurrency, args.time_scale))
            state = sim_state(url)
        walls[arm], failures[arm] = run.wall, run.failures
        dropped[arm] = sum(state["channel"]["violation_counts"].values())
        left_open[arm] = len(state["open_sessions"])
        figures[arm] = {lang: arm_figures(scripts, state, run, lang) for lang in [None, *languages]}
        log(f"{arm}: done in {run.wall:.1f} s; {figures[arm][None]['whole']} scripts whole")

    with sim_process(args.pacing_time_scale) as url:
        pacing = asyncio.run(measure_pacing(url, args.pacing_chars, args.pacing_time_scale))
        pacing_state = sim_state(url)
    cap = SIM_LIMITS.bytes_per_second
    pacing_dropped = sum(pacing_state["channel"]["violation_counts"].values())

    model, flat = figures["model"], figures["flat15"]

    def row(name: str, key: str, lang: str | None = None, fmt: str = "{:.0f}") -> tuple[str, ...]:
        a, b = model[lang][key], flat[lang][key]
        return (name, fmt.format(a), fmt.format(b), _ratio(b, a))

    def derived(name: str, value: Any, lang: str | None = None) -> tuple[str, ...]:
        a, b = value("model", lang), value("flat15", lang)
        return (name, f"{a:.3f}", f"{b:.3f}", _ratio(b, a))

    def ideal(arm: str) -> float:
        return figures[arm][None]["spoken"] / args.concurrency / args.time_scale

    rows: list[tuple[str, ...]] = [
        row("scripts spoken whole (sim: no cut)", "whole"),
        row("sessions opened", "sessions"),
        row("rollovers", "rollovers"),
        row("cut segments", "cuts"),
        row("recovered (spoken again after a cut)", "recovered"),
        row("unconfirmed", "unconfirmed"),
        row("client's estimated speech (sim s)", "estimated"),
        row("speech the sim spoke (sim s)", "spoken"),
        row("credits pre-charged", "precharged", fmt="{:.2f}"),
        row("credits spent after refunds", "spent", fmt="{:.2f}"),
        row("credits for the spoken speech", "speech_credits", fmt="{:.2f}"),
        derived(
            "**pre-charged / spoken speech**",
            lambda arm, lang: figures[arm][lang]["precharged"] / figures[arm][lang]["speech_credits"],
        ),
        (
            "ideal wall (spoken / concurrency / scale, s)",
            f"{ideal('model'):.2f}",
            f"{ideal('flat15'):.2f}",
            _ratio(ideal("flat15"), ideal("model")),
        ),
        ("wall (s)", f"{walls['model']:.2f}", f"{walls['flat15']:.2f}", _ratio(walls["flat15"], walls["model"])),
        (
            "**wall / ideal**",
            f"{walls['model'] / ideal('model'):.3f}",
            f"{walls['flat15'] / ideal('flat15'):.3f}",
            _ratio(walls["flat15"] / ideal("flat15"), walls["model"] / ideal("model")),
        ),
        (
            "runs failed / sessions left open / messages dropped",
            f"{failures['model']} / {left_open['model']} / {dropped['model']}",
            f"{failures['flat15']} / {left_open['flat15']} / {dropped['flat15']}",
            "",
        ),
    ]
    for lang in languages:
        rows += [
            (
                f"{lang}: whole / scripts",
                f"{model[lang]['whole']:.0f} / {model[lang]['scripts']:.0f}",
                f"{flat[lang]['whole']:.0f} / {flat[lang]['scripts']:.0f}",
                _ratio(flat[lang]["whole"], model[lang]["whole"]),
            ),
            row(f"{lang}: sessions", "sessions", lang),
            (
                f"{lang}: rollovers / cuts / recovered",
                "{rollovers:.0f} / {cuts:.0f} / {recovered:.0f}".format(**model[lang]),
                "{rollovers:.0f} / {cuts:.0f} / {recovered:.0f}".format(**flat[lang]),
                "",
            ),
            derived(
                f"{lang}: pre-charged / spoken speech",
                lambda arm, lang: figures[arm][lang]["precharged"] / figures[arm][lang]["speech_credits"],
                lang,
            ),
        ]
    print("| figure | model | flat15 | flat15 / model |\n|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print()
    print("| pacing (one long script, model arm) | value |\n|---|---|")
    for name, value in [
        (f"pacing: {pacing['messages']} messages, {pacing['bytes']} B", f"cap {cap} B/s"),
        ("**pacing sustained / cap** (target >= 0.9)", f"**{pacing['sustained'] / cap:.3f}**"),
        ("pacing busiest 1 s window / cap (<= 1)", f"{pacing['busiest'] / cap:.3f}"),
        ("messages dropped by the sim (pacing)", f"{pacing_dropped}"),
    ]:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
