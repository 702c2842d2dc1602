"""Fuzzing the parsers that see untrusted input, bounded in examples and time (hypothesis).

1. Data-channel messages from the avatar: ``streaming.protocol.decode`` never raises, whatever the
   bytes; what it returns is None, an ``UnknownMessage`` or a typed message; the chat reassembler
   and the speaker's message handler (the code that consumes decoded messages) never raise either.
2. API responses: every client operation, driven through an ``httpx.MockTransport`` that answers
   each request with an arbitrary status, ``Retry-After`` header and body (random bytes, random JSON,
   or an Akool envelope around random data), either returns its typed result or raises an error of
   the ``AkoolError`` family. Anything else (pydantic ``ValidationError``, ``TypeError``,
   ``KeyError`` ...) is a crash. Sync and async clients, API-key and token mode.

Each property is capped by ``max_examples`` and a per-example deadline; the whole file runs in
about 20-40 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_akool.client import AkoolClient, AkoolError, AsyncAkoolClient, ClientConfig
from airflow_provider_akool.client.auth import TOKENS
from airflow_provider_akool.sessions.opening import aopen_session, open_session
from airflow_provider_akool.streaming.assembly import ChatAssembler
from airflow_provider_akool.streaming.protocol import ChatMessage, UnknownMessage, _Model, decode
from airflow_provider_akool.streaming.speaker import Speaker, SpeakerTimings
from airflow_provider_akool.streaming.transcript import SegmentRecord

FUZZ = settings(
    max_examples=300,
    deadline=timedelta(milliseconds=2000),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# -- JSON values shaped like the protocol and the API ---------------------------------------------
KEYS = st.sampled_from(
    [
        "v",
        "type",
        "mid",
        "idx",
        "fin",
        "pld",
        "text",
        "from",
        "cmd",
        "code",
        "msg",
        "event",
        "reason",
        "identity",
        "data",
        "_id",
        "id",
        "status",
        "count",
        "result",
        "page",
        "size",
        "token",
        "credentials",
        "avatar_id",
        "available",
        "create_time",
        "url",
        "sim_token",
        "sim_url",
        "stream_urls",
        "lang_list",
        "knowledge_list",
        "voice_id",
        "name",
        "thumbnailUrl",
        "session_id",
        "closed_at",
        "agora_token",
        "x",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            2,
            "2",
            2.0,
            1000,
            "chat",
            "event",
            "command",
            "cmd",
            "sim-error",
            "sim-participant",
            "audio_start",
            "audio_end",
            "bot",
            "published",
            "left",
            "",
            "\ud800",
            1e308,
        ]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(KEYS | st.text(max_size=8), children, max_size=8),
    max_leaves=40,
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", errors="surrogatepass")


MESSAGE_LIKE = st.fixed_dictionaries(
    {
        "v": st.sampled_from([2, 2.0, "2", 1, True, None]),
        "type": st.sampled_from(["chat", "event", "command", "cmd", "sim-error", "sim-participant", "other", 7]),
        "pld": JSON,
    },
    optional={"mid": SCALARS, "idx": SCALARS, "fin": SCALARS},
)
PAYLOADS = (
    st.binary(max_size=300)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", errors="surrogatepass"))
    | JSON.map(_dumps)
    | MESSAGE_LIKE.map(_dumps)
)


# -- 1. data channel ---------------------------------------------------------------------------------
@FUZZ
@given(payload=PAYLOADS)
def test_decode_never_raises_and_returns_a_known_shape(payload: bytes) -> None:
    for form in (payload, bytearray(payload), memoryview(payload), payload.decode("utf-8", errors="replace")):
        message = decode(form)
        assert message is None or isinstance(message, UnknownMessage | _Model)


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_decode_survives_deep_nesting(depth: int) -> None:
    assert isinstance(decode(b"[" * depth + b"]" * depth), UnknownMessage)
    nested = b'{"v":2,"type":"chat","pld":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    assert decode(nested) is None or isinstance(decode(nested), UnknownMessage | _Model)


@FUZZ
@given(payloads=st.lists(PAYLOADS | MESSAGE_LIKE.map(lambda m: _dumps({**m, "v": 2})), max_size=30))
def test_speaker_handles_any_sequence_of_received_payloads(payloads: list[bytes]) -> None:
    speaker = Speaker(transport=object(), timings=SpeakerTimings())  # type: ignore[arg-type]
    record = SegmentRecord(0, "seg-0001", "Hello there.", 1.0)
    speaker._current = record  # as while a segment is being spoken
    speaker._by_mid["m1"] = record
    assembler = ChatAssembler()
    for payload in payloads:
        speaker._handle(payload)
        message = decode(payload)
        if isinstance(message, ChatMessage):
            assembler.add(message)
    assert isinstance(assembler.pending(), list)
    assert isinstance(record.bot_text, str)


# -- 2. API responses ------------------------------------------------------------------------------
CODES = (
    st.sampled_from([1000, 1000, 1000, 1003, 1005, 1008, 1101, 1102, 1104, 1214, 1215, 1216, 1219, 1222, 1233, 9999])
    | st.integers()
    | SCALARS
)
ENVELOPE = st.fixed_dictionaries({"code": CODES}, optional={"msg": SCALARS, "data": JSON, "token": SCALARS})
OK_ENVELOPE = st.fixed_dictionaries({"code": st.just(1000), "data": JSON}, optional={"msg": SCALARS})
BODIES = (
    OK_ENVELOPE.map(_dumps)
    | OK_ENVELOPE.map(_dumps)
    | ENVELOPE.map(_dumps)
    | JSON.map(_dumps)
    | st.binary(max_size=80)
    | st.just(b"")
    | st.just(b"<html>502 Bad Gateway</html>")
)
STATUSES = st.sampled_from([200, 200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 409, 429, 500, 502, 503, 599])
RETRY_AFTER = (
    st.none()
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "0",
            "1",
            "-5",
            "1e309",
            "nan",
            "inf",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "soon",
        ]
    )
)
RESPONSES = st.tuples(STATUSES, RETRY_AFTER, BODIES)

SYNC_OPERATIONS: dict[str, Callable[[AkoolClient], Any]] = {
    "list_avatars": lambda c: c.list_avatars(),
    "get_avatar": lambda c: c.get_avatar("dvp_Tristan_cloth2_1080P"),
    "get_avatar_record": lambda c: c.get_avatar_record("rec1"),
    "create_avatar": lambda c: c.create_avatar(url="https://h.example/v.mp4", avatar_id="abc1", name="n"),
    "create_session": lambda c: c.create_session(avatar_id="dvp", duration=60, stream_type="sim", mode_type=1),
    "open_session": lambda c: open_session(c, avatar_id="dvp", duration=60, stream_type="sim", mode_type=1),
    "get_session": lambda c: c.get_session("s1"),
    "close_session": lambda c: c.close_session("s1"),
    "list_sessions": lambda c: c.list_sessions(status=2),
    "paginate_sessions": lambda c: list(c.paginate(c.list_sessions, status=1)),
    "list_voices": lambda c: c.list_voices(),
    "list_languages": lambda c: c.list_languages(),
    "list_knowledge_bases": lambda c: c.list_knowledge_bases(),
    "get_knowledge_base": lambda c: c.get_knowledge_base("kb1"),
    "delete_knowledge_base": lambda c: c.delete_knowledge_base("kb1"),
}
MAX_REQUESTS = 200


class RunawayClient(BaseException):
    """More requests than any operation should need: an unbounded loop over hostile responses."""


def _handler(data: st.DataObject, counter: list[int]) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        counter[0] += 1
        if counter[0] > MAX_REQUESTS:
            raise RunawayClient(f"{counter[0]} requests for one operation (last: {request.url.path})")
        status, retry_after, body = data.draw(RESPONSES)
        headers = [(b"Content-Type", b"application/json")]
        if retry_after is not None and "\r" not in retry_after and "\n" not in retry_after:
            # Raw bytes: a server may send any (even non-ASCII) header value.
            headers.append((b"Retry-After", retry_after.encode("utf-8", errors="surrogatepass")))
        return httpx.Response(status, headers=headers, content=body)

    return handle


def _config(token_mode: bool) -> ClientConfig:
    # One attempt plus one retry, with no waiting: the retry path (and Retry-After parsing) runs too.
    common: dict[str, Any] = {
        "base_url": "https://fuzz.invalid",
        "max_attempts": 2,
        "max_retry_wait": 0.0,
        "backoff_base": 0.0,
    }
    if token_mode:
        return ClientConfig(client_id="fuzz-client", client_secret="fuzz-secret", **common)
    return ClientConfig(api_key="fuzz-key", **common)


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(SYNC_OPERATIONS)), token_mode=st.booleans())
def test_every_sync_operation_returns_or_raises_a_typed_error(data: st.DataObject, name: str, token_mode: bool) -> None:
    TOKENS.clear()
    counter = [0]
    http = httpx.Client(base_url="https://fuzz.invalid", transport=httpx.MockTransport(_handler(data, counter)))
    with AkoolClient(_config(token_mode), http_client=http) as client, contextlib.suppress(AkoolError):
        SYNC_OPERATIONS[name](client)


ASYNC_OPERATIONS: dict[str, Callable[[AsyncAkoolClient], Any]] = {
    "create_session": lambda c: c.create_session(avatar_id="dvp", duration=60, stream_type="sim", mode_type=1),
    "open_session": lambda c: aopen_session(c, {"avatar_id": "dvp", "duration": 60, "stream_type": "sim"}),
    "get_session": lambda c: c.get_session("s1"),
    "close_session": lambda c: c.close_session("s1"),
    "get_avatar": lambda c: c.get_avatar("dvp_Tristan_cloth2_1080P"),
    "get_avatar_record": lambda c: c.get_avatar_record("rec1"),
}


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(ASYNC_OPERATIONS)), token_mode=st.booleans())
def test_every_async_operation_returns_or_raises_a_typed_error(
    data: st.DataObject, name: str, token_mode: bool
) -> None:
    TOKENS.clear()
    counter = [0]
    handle = _handler(data, counter)

    async def ahandle(request: httpx.Request) -> httpx.Response:
        return handle(request)

    async def main() -> None:
        http = httpx.AsyncClient(base_url="https://fuzz.invalid", transport=httpx.MockTransport(ahandle))
        async with AsyncAkoolClient(_config(token_mode), http_client=http) as client:
            with contextlib.suppress(AkoolError):
                await ASYNC_OPERATIONS[name](client)

    asyncio.run(main())


# -- minimal reproductions of what the fuzzing found (deterministic) ---------------------------------
MALFORMED_SUCCESS = [
    ("get_avatar", {"code": 1000, "data": []}),  # TypeError: 'list' object is not a mapping
    ("create_avatar", {"code": 1000, "data": "x"}),  # TypeError
    ("get_avatar_record", {"code": 1000, "data": [1]}),  # pydantic ValidationError
    ("create_session", {"code": 1000, "data": {"_id": 5}}),  # ValidationError
    ("open_session", {"code": 1000, "data": {"_id": 5}}),  # ValidationError (lists, then create)
    ("get_session", {"code": 1000, "data": {}}),  # ValidationError: _id missing
    ("list_sessions", {"code": 1000, "data": {"result": [{}]}}),  # ValidationError
    ("list_languages", {"code": 1000, "data": {"lang_list": 5}}),  # TypeError: int is not iterable
    ("get_knowledge_base", {"code": 1000, "data": []}),  # ValidationError
]


@pytest.mark.parametrize(("name", "body"), MALFORMED_SUCCESS, ids=[n for n, _ in MALFORMED_SUCCESS])
def test_a_success_envelope_with_malformed_data_raises_a_typed_error(name: str, body: dict[str, Any]) -> None:
    """``code: 1000`` with data of the wrong shape must be an ``AkoolError`` naming the endpoint, not a crash."""
    http = httpx.Client(
        base_url="https://fuzz.invalid", transport=httpx.MockTransport(lambda _: httpx.Response(200, json=body))
    )
    with AkoolClient(_config(False), http_client=http) as client, pytest.raises(AkoolError):
        SYNC_OPERATIONS[name](client)
