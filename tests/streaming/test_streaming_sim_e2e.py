"""The streaming pieces against the real akool-sim (an independent reading of docs/reference/akool-api.md §4).

Sessions are created with plain httpx so this test depends on the sim only, not on the client.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airflow_provider_akool.streaming import (
    AUDIO_END,
    AvatarLeftError,
    ChatAssembler,
    ChatMessage,
    CommandAck,
    EventMessage,
    SetParams,
    SimErrorMessage,
    TransportAuthError,
    VoiceParams,
    chunk_text,
    create_transport,
    decode,
    encode,
    set_params_command,
)

pytest.importorskip("fastapi")

API_KEY = {"x-api-key": "sim-api-key"}


def create_session(base_url: str) -> dict[str, Any]:
    body = {"avatar_id": "dvp_Tristan_cloth2_1080P", "duration": 3600, "stream_type": "sim", "mode_type": 1}
    with httpx.Client(base_url=base_url, headers=API_KEY, timeout=10) as client:
        reply = client.post("/api/open/v4/liveAvatar/session/create", json=body).json()
    assert reply["code"] == 1000, reply
    data: dict[str, Any] = reply["data"]
    return data


def close_session(base_url: str, session_id: str) -> None:
    with httpx.Client(base_url=base_url, headers=API_KEY, timeout=10) as client:
        client.post("/api/open/v4/liveAvatar/session/close", json={"id": session_id})


async def test_retelling_round_trip_through_the_sim(akool_sim_factory: Any) -> None:
    # Time scale 300: the one-hour session lasts 12 s, the ~10 KB text is spoken in about 2 s.
    akool_sim = akool_sim_factory(time_scale=300)
    session = create_session(akool_sim.url)
    # ~10 KB: about two seconds of sending at Agora's 6 KB/s, so pacing is exercised (no sim-error).
    text = "Good morning. Today we look at the numbers, one by one. " * 180 + "Danke, 谢谢, merci 🙏🏽."
    transport = create_transport("sim", session["credentials"])
    try:
        async with transport:
            await transport.wait_ready(timeout=10)
            await transport.send(encode(set_params_command(SetParams(mode=1, vparams=VoiceParams(speed=1.2)))))
            chunks = chunk_text(text, max_message_bytes=transport.limits.max_message_bytes)
            assert len(chunks) > 10
            for chunk in chunks:
                await transport.send(encode(chunk))

            assembler = ChatAssembler()
            acks: list[CommandAck] = []
            spoken = None
            while True:
                message = decode(await transport.recv(timeout=10))
                assert not isinstance(message, SimErrorMessage), message
                if isinstance(message, CommandAck):
                    acks.append(message)
                elif isinstance(message, ChatMessage):
                    spoken = assembler.add(message) or spoken
                elif isinstance(message, EventMessage) and message.pld.event == AUDIO_END:
                    break
        assert [ack.ok for ack in acks] == [True]
        assert spoken is not None and spoken.text == text
    finally:
        close_session(akool_sim.url, session["_id"])


async def test_session_close_makes_the_avatar_leave(akool_sim: Any) -> None:
    session = create_session(akool_sim.url)
    async with create_transport("sim", session["credentials"]) as transport:
        await transport.wait_ready(timeout=10)
        close_session(akool_sim.url, session["_id"])
        remaining = [decode(payload) async for payload in transport]  # ends when the avatar leaves
        assert remaining[-1] is not None and getattr(remaining[-1], "type", None) == "sim-participant"
        with pytest.raises(AvatarLeftError):
            await transport.recv(timeout=10)


async def test_wrong_token_is_refused_by_the_sim(akool_sim: Any) -> None:
    session = create_session(akool_sim.url)
    try:
        credentials = {**session["credentials"], "sim_token": "not-the-token"}
        async with create_transport("sim", credentials) as transport:
            with pytest.raises(TransportAuthError):
                await transport.wait_ready(timeout=10)
    finally:
        close_session(akool_sim.url, session["_id"])
