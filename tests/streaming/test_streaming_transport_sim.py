"""SimTransport against a tiny local WebSocket peer that follows the akool-sim data-channel contract."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.asyncio.server import ServerConnection, serve

from airflow_provider_akool.streaming import (
    AUDIO_END,
    AvatarLeftError,
    AvatarNotReadyError,
    ChatAssembler,
    ChatMessage,
    CommandAck,
    CredentialsError,
    EventMessage,
    MessageTooLargeError,
    ReceiveTimeoutError,
    SetParams,
    SimErrorMessage,
    SimParticipantMessage,
    SimTransport,
    TransportAuthError,
    TransportClosedError,
    TransportError,
    chunk_text,
    decode,
    encode,
    set_params_command,
)

TOKEN = "sim-secret-token-0123456789"


@dataclass
class Peer:
    """Plays the avatar: publishes, acks set-params, answers chat, can reject or leave."""

    publish: bool = True
    reject_chat: bool = False
    leave_after_answer: bool = False
    frames: list[str | bytes] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.paths.append(ws.request.path)
        if parse_qs(urlsplit(ws.request.path).query).get("token") != [TOKEN]:
            await ws.close(4401, "unauthorized")
            return
        if self.publish:
            await send(ws, "sim-participant", pld={"event": "published", "identity": "akool-avatar"})
        pieces: dict[str, dict[int, str]] = {}
        async for frame in ws:
            self.frames.append(frame)
            message = json.loads(frame)
            mid = message.get("mid")
            if message["type"] == "command" and message["pld"]["cmd"] == "set-params":
                await send(ws, "command", mid=mid, pld={"cmd": "set-params", "code": 1000, "msg": "OK"})
            elif message["type"] == "chat" and self.reject_chat:
                await send(ws, "sim-error", pld={"reason": "rate_limited", "mid": mid})
            elif message["type"] == "chat":
                pieces.setdefault(mid, {})[message["idx"]] = message["pld"]["text"]
                if message["fin"]:
                    text = "".join(pieces[mid][i] for i in sorted(pieces[mid]))
                    await self.answer(ws, mid, text)

    async def answer(self, ws: ServerConnection, mid: str, text: str) -> None:
        await send(ws, "event", mid=mid, pld={"event": "audio_start"})
        half = len(text) // 2
        await send(ws, "chat", mid=mid, idx=0, fin=False, pld={"from": "bot", "text": text[:half]})
        await send(ws, "chat", mid=mid, idx=1, fin=True, pld={"from": "bot", "text": text[half:]})
        await send(ws, "event", mid=mid, pld={"event": "audio_end"})
        if self.leave_after_answer:
            await send(ws, "sim-participant", pld={"event": "left", "identity": "akool-avatar"})
            await ws.close(1000, "session over")


async def send(ws: ServerConnection, kind: str, **fields: object) -> None:
    await ws.send(json.dumps({"v": 2, "type": kind, **fields}, ensure_ascii=False))


@pytest.fixture
def peer() -> Peer:
    return Peer()


@pytest.fixture
async def sim_url(peer: Peer) -> AsyncIterator[str]:
    async with serve(peer.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/data-channel/s-1"


def credentials(url: str, token: str = TOKEN) -> dict[str, str]:
    return {"sim_url": url, "sim_token": token}


async def next_message(transport: SimTransport) -> object:
    """Next decoded payload, skipping sim presence frames."""
    while True:
        message = decode(await transport.recv(timeout=5))
        if not isinstance(message, SimParticipantMessage):
            return message


async def test_full_exchange_set_params_chunked_text_and_audio_end(peer: Peer, sim_url: str) -> None:
    text = "Welcome to the quarterly review. " * 60 + "Grüße, 你好 👋🏽!"
    async with SimTransport(credentials(sim_url)) as transport:
        await transport.wait_ready(timeout=5)
        assert transport.is_ready and transport.delivers_audio_events

        await transport.send(encode(set_params_command(SetParams(mode=1, lang="en"), mid="sp")))
        ack = await next_message(transport)
        assert isinstance(ack, CommandAck) and ack.ok and ack.mid == "sp"

        chunks = chunk_text(text, max_message_bytes=transport.limits.max_message_bytes, mid="story-1")
        assert len(chunks) > 1
        for chunk in chunks:
            await transport.send(encode(chunk))

        assembler = ChatAssembler()
        events: list[str] = []
        spoken = None
        while AUDIO_END not in events:
            message = await next_message(transport)
            if isinstance(message, EventMessage):
                events.append(message.pld.event)
            elif isinstance(message, ChatMessage):
                spoken = assembler.add(message) or spoken
        assert events == ["audio_start", "audio_end"]
        assert spoken is not None and spoken.text == text and spoken.sender == "bot"

    assert transport.is_closed
    # One WebSocket text frame per packet, each within the emulated Agora hard limit.
    assert all(isinstance(frame, str) for frame in peer.frames)
    assert all(len(frame.encode()) <= 1024 for frame in peer.frames if isinstance(frame, str))
    assert len(peer.frames) == 1 + len(chunks)


async def test_existing_query_parameters_are_kept(peer: Peer, sim_url: str) -> None:
    async with SimTransport(credentials(sim_url + "?session=s-1")) as transport:
        await transport.wait_ready(timeout=5)
    assert parse_qs(urlsplit(peer.paths[0]).query) == {"session": ["s-1"], "token": [TOKEN]}


async def test_wrong_token_is_a_typed_auth_error_without_the_token(sim_url: str) -> None:
    bad_token = "wrong-token-abcdef"
    async with SimTransport(credentials(sim_url, token=bad_token)) as transport:
        with pytest.raises(TransportAuthError) as caught:
            await transport.wait_ready(timeout=5)
    assert caught.value.code == 4401
    assert bad_token not in str(caught.value)


async def test_avatar_that_never_publishes_times_out(peer: Peer, sim_url: str) -> None:
    peer.publish = False
    async with SimTransport(credentials(sim_url)) as transport:
        with pytest.raises(AvatarNotReadyError, match=r"0\.2 s"):
            await transport.wait_ready(timeout=0.2)


async def test_avatar_leaving_ends_the_stream_after_pending_payloads(peer: Peer, sim_url: str) -> None:
    peer.leave_after_answer = True
    async with SimTransport(credentials(sim_url)) as transport:
        await transport.wait_ready(timeout=5)
        await transport.send(encode(chunk_text("Bye.", max_message_bytes=960)[0]))
        received = [decode(payload) async for payload in transport]
        assert isinstance(received[-1], SimParticipantMessage) and received[-1].pld.event == "left"
        assert any(isinstance(m, EventMessage) and m.pld.event == AUDIO_END for m in received)
        with pytest.raises(AvatarLeftError):
            await transport.recv(timeout=1)
        with pytest.raises(TransportClosedError):
            await transport.send(b'{"v":2}')


async def test_sim_errors_reach_the_caller(peer: Peer, sim_url: str) -> None:
    peer.reject_chat = True
    async with SimTransport(credentials(sim_url)) as transport:
        await transport.wait_ready(timeout=5)
        await transport.send(encode(chunk_text("Hi.", max_message_bytes=960, mid="m-9")[0]))
        error = await next_message(transport)
        assert isinstance(error, SimErrorMessage)
        assert (error.pld.reason, error.pld.mid) == ("rate_limited", "m-9")


async def test_oversized_message_is_refused_before_sending(peer: Peer, sim_url: str) -> None:
    async with SimTransport(credentials(sim_url)) as transport:
        await transport.wait_ready(timeout=5)
        with pytest.raises(MessageTooLargeError, match="961 bytes"):
            await transport.send(b"x" * 961)
    assert peer.frames == []


async def test_recv_timeout_is_typed(sim_url: str) -> None:
    async with SimTransport(credentials(sim_url)) as transport:
        await transport.wait_ready(timeout=5)
        assert isinstance(decode(await transport.recv(timeout=1)), SimParticipantMessage)
        with pytest.raises(ReceiveTimeoutError):
            await transport.recv(timeout=0.05)


async def test_close_is_idempotent_and_final(sim_url: str) -> None:
    transport = SimTransport(credentials(sim_url))
    await transport.connect()
    await transport.close()
    await transport.close()
    assert transport.is_closed
    with pytest.raises(TransportClosedError, match="closed by client"):
        await transport.recv(timeout=0.1)
    with pytest.raises(TransportClosedError):
        await transport.connect()


async def test_unreachable_sim_is_a_transport_error_without_the_token() -> None:
    transport = SimTransport(credentials("ws://127.0.0.1:9/data-channel"), open_timeout=2)
    with pytest.raises(TransportError) as caught:
        await transport.connect()
    assert TOKEN not in str(caught.value)
    assert "ws://127.0.0.1:9/data-channel" in str(caught.value)
    await transport.close()


async def test_token_never_reaches_logs_or_repr(sim_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with SimTransport(credentials(sim_url)) as transport:
        await transport.wait_ready(timeout=5)
        assert TOKEN not in repr(transport)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("airflow_provider_akool")]
    assert any("token=***" in message for message in ours)
    assert all(TOKEN not in message for message in ours)


@pytest.mark.parametrize(
    ("creds", "field_name"),
    [
        ({"sim_token": TOKEN}, "sim_url"),
        ({"sim_url": "ws://h/x"}, "sim_token"),
        ({"sim_url": "http://h/x", "sim_token": TOKEN}, "sim_url"),
        ({"sim_url": "ws://h/x", "sim_token": ""}, "sim_token"),
    ],
)
def test_bad_credentials_name_the_field_not_the_value(creds: dict[str, str], field_name: str) -> None:
    with pytest.raises(CredentialsError, match=field_name) as caught:
        SimTransport(creds)
    assert TOKEN not in str(caught.value)


async def test_send_before_connect_is_refused() -> None:
    transport = SimTransport(credentials("ws://127.0.0.1:9/x"))
    with pytest.raises(TransportError, match="connect"):
        await transport.send(b"{}")
    await asyncio.sleep(0)
