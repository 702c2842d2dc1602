"""Scripts in several languages, a filtering transport (an avatar that hides or loses things), and the
checks a user makes on a retelling run: every script spoken whole, once, in order, nothing left open."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from session_support import AVATAR, VOICE, async_client

from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.streaming import runner as runner_module
from airflow_provider_akool.streaming.runner import RetellingResult, RetellingRunner, RetellingSettings

# A few sentences per language; every script is several of them (long enough to be measured).
SENTENCES: dict[str, list[str]] = {
    "en": [
        "The harbour light came on at dusk, and the boats came home one by one across the quiet water.",
        "Nobody on the pier said a word while the last of them tied up beside the old stone steps.",
        "Later that evening the market square filled with people, music and the smell of bread.",
    ],
    "zh": [
        "今天早上我们在河边散步，看见很多人在练习太极拳，空气非常清新。",  # noqa: RUF001
        "下午的时候，图书馆里坐满了学生，大家都在安静地准备考试。",  # noqa: RUF001
        "晚上我们一起去市场买了新鲜的水果和蔬菜，然后回家做饭。",  # noqa: RUF001
    ],
    "ja": [
        "今朝は川のそばを散歩して、たくさんの人が体操をしているのを見ました。",
        "午後になると図書館は学生でいっぱいになり、みんな静かに勉強していました。",
        "夜はみんなで市場に行き、新しい果物と野菜を買ってから家で料理をしました。",
    ],
    "ko": [
        "오늘 아침 우리는 강가를 산책하면서 많은 사람들이 운동하는 것을 보았습니다.",
        "오후가 되자 도서관은 조용히 시험을 준비하는 학생들로 가득 찼습니다.",
        "저녁에는 다 함께 시장에 가서 신선한 과일과 채소를 사고 집에서 요리를 했습니다.",
    ],
}
LANGUAGES = tuple(SENTENCES)
SEP = {"en": " ", "zh": "", "ja": "", "ko": " "}

# Rates far faster than akool-sim speaks (it speaks ~15 characters a second, spaces included):
# planning with these is the situation, a model that thinks the avatar quicker than it is.
OPTIMISTIC_RATES = {"letter": 45.0, "han": 45.0, "kana": 45.0, "hangul": 45.0, "punctuation": 45.0, "space": 45.0}


def scripts_in(language: str, count: int, min_chars: int = 300) -> list[dict[str, str]]:
    """``count`` scripts of whole sentences, each at least ``min_chars`` characters (about 20 s at the
    sim's rate), with ids ``<language>-<n>``."""
    pool = SENTENCES[language]
    scripts = []
    for n in range(count):
        sentences: list[str] = []
        while len(SEP[language].join(sentences)) < min_chars:
            sentences.append(pool[(n + len(sentences)) % len(pool)])
        scripts.append({"id": f"{language}-{n}", "text": SEP[language].join(sentences)})
    return scripts


def settings(language: str = "en", **overrides: Any) -> RetellingSettings:
    values: dict[str, Any] = {
        "avatar_id": AVATAR,
        "stream_type": "sim",
        "voice_id": VOICE,
        "language": language,
        "duration": "auto",
        "time_scale": 50.0,
        "fallback_grace": 0.2,
        "taken_timeout": 0.5,
        "rollover_margin": 5.0,
    }
    return RetellingSettings(**{**values, **overrides})


async def run(sim: SimServer, runner: RetellingRunner) -> RetellingResult:
    async with async_client(sim) as client:
        return await runner.run(client)


def spoken_texts(sim: SimServer) -> list[str]:
    """Everything the avatar spoke whole, session after session, in order."""
    return [text for session in sim.state()["sessions"] for text in session["spoken"]]


def assert_spoken_whole_once_in_order(sim: SimServer, result: RetellingResult, scripts: list[dict[str, str]]) -> None:
    """What a user checks: the avatar spoke every segment whole, once, in order (a split script as its
    pieces, which join back into it), and no session was left open or ran out."""
    state = sim.state()
    assert all(r.done for r in result.segments), result.counts()
    assert spoken_texts(sim) == [r.text for r in result.segments], "each segment spoken whole, once, in order"
    assert "".join(r.text for r in result.segments) == "".join(s["text"] for s in scripts)
    assert state["open_sessions"] == [], "no session left open"
    assert all(s["ended_by"] == "close" for s in state["sessions"]), "no session ran out: each was closed"


class FilteredTransport:
    """Wraps a transport: ``outgoing(payload) -> bool`` drops what we send (as if lost on the way),
    ``incoming(payload) -> payload | None`` rewrites or hides what the avatar sends."""

    def __init__(
        self, inner: Any, outgoing: Callable[[bytes], bool] | None, incoming: Callable[[bytes], bytes | None] | None
    ) -> None:
        self._inner = inner
        self._outgoing = outgoing
        self._incoming = incoming

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def send(self, payload: bytes) -> None:
        if self._outgoing is not None and not self._outgoing(payload):
            return
        await self._inner.send(payload)

    async def recv(self, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - the transport interface
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:  # what is hidden does not restart the caller's timeout
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            payload = await self._inner.recv(timeout=left)
            if self._incoming is None:
                return bytes(payload)
            changed = self._incoming(payload)
            if changed is not None:
                return changed


def filter_transport(
    monkeypatch: pytest.MonkeyPatch,
    *,
    outgoing: Callable[[bytes], bool] | None = None,
    incoming: Callable[[bytes], bytes | None] | None = None,
) -> None:
    real = runner_module.create_transport

    def factory(stream_type: str, credentials: dict[str, Any], **options: Any) -> Any:
        return FilteredTransport(real(stream_type, credentials, **options), outgoing, incoming)

    monkeypatch.setattr(runner_module, "create_transport", factory)


def iter_attempts(result: RetellingResult) -> Iterator[dict[str, Any]]:
    for segment in result.segments:
        yield from segment.attempts


async def wait_speaking(sim: SimServer, runner: RetellingRunner, sessions_seen: int = 0) -> str:
    """Wait until the avatar is in the middle of a segment in the run's session number
    ``sessions_seen`` (0-based); return that session's id."""
    import asyncio

    from session_support import session_of

    for _ in range(1000):
        ids = runner.open_session_ids
        if ids and len(runner.result.sessions) > sessions_seen:
            segments = (await asyncio.to_thread(session_of, sim, ids[0]))["segments"]
            if segments and segments[-1]["ended_at"] is None:
                return ids[0]
        await asyncio.sleep(0.005)
    raise AssertionError("the avatar never started speaking")
