"""Protocol v2: encoding is compact real UTF-8; decoding is typed, tolerant and never raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from airflow_provider_akool.streaming import (
    ChatAssembler,
    ChatMessage,
    CommandAck,
    CommandMessage,
    EventMessage,
    ProtocolError,
    SetParams,
    SimErrorMessage,
    SimParticipantMessage,
    UnknownMessage,
    VoiceParams,
    chat_message,
    decode,
    encode,
    interrupt_command,
    set_params_command,
)


def test_encode_is_compact_utf8_without_ascii_escapes() -> None:
    payload = encode(chat_message('Grüße "du" 你好 👋', mid="m-1", idx=2, fin=False))
    assert (
        payload
        == ('{"v":2,"type":"chat","mid":"m-1","idx":2,"fin":false,"pld":{"text":"Grüße \\"du\\" 你好 👋"}}').encode()
    )


def test_chat_round_trip() -> None:
    message = chat_message("hello", mid="m", idx=0, fin=True)
    assert decode(encode(message)) == message


def test_received_bot_chat_keeps_sender_and_unknown_fields() -> None:
    raw = {
        "v": 2,
        "type": "chat",
        "mid": "a",
        "idx": 1,
        "fin": True,
        "pld": {"from": "bot", "text": "hi", "meta": {"x": 1}},
        "trace": "t-9",
    }
    message = decode(json.dumps(raw))
    assert isinstance(message, ChatMessage)
    assert message.pld.from_ == "bot"
    assert message.text == "hi"
    assert message.model_extra == {"trace": "t-9"}
    assert message.pld.model_extra == {"meta": {"x": 1}}


@pytest.mark.parametrize("kind", ["command", "cmd"])
def test_command_ack_accepted_with_either_type(kind: str) -> None:
    ok = decode(
        json.dumps({"v": 2, "type": kind, "mid": "c1", "pld": {"cmd": "set-params", "code": 1000, "msg": "OK"}})
    )
    failed = decode(json.dumps({"v": 2, "type": kind, "pld": {"cmd": "interrupt", "code": 1201, "msg": "bad"}}))
    assert isinstance(ok, CommandAck) and ok.ok and ok.pld.cmd == "set-params" and ok.mid == "c1"
    assert isinstance(failed, CommandAck) and not failed.ok and failed.pld.msg == "bad"


@pytest.mark.parametrize("event", ["audio_start", "audio_end", "something_new"])
def test_events_are_typed_including_unknown_names(event: str) -> None:
    message = decode(json.dumps({"v": 2, "type": "event", "mid": "e", "pld": {"event": event}}))
    assert isinstance(message, EventMessage)
    assert message.pld.event == event


def test_sim_control_messages() -> None:
    published = decode(b'{"v":2,"type":"sim-participant","pld":{"event":"published","identity":"akool-avatar"}}')
    left = decode(b'{"v":2,"type":"sim-participant","pld":{"event":"left","identity":"akool-avatar"}}')
    error = decode(b'{"v":2,"type":"sim-error","pld":{"reason":"rate_limited","mid":"m7"}}')
    assert isinstance(published, SimParticipantMessage) and published.pld.event == "published"
    assert isinstance(left, SimParticipantMessage) and left.pld.identity == "akool-avatar"
    assert isinstance(error, SimErrorMessage) and error.pld.reason == "rate_limited" and error.pld.mid == "m7"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"v":1,"type":"chat","mid":"m","idx":0,"fin":true,"pld":{"text":"x"}}',
        b'{"type":"chat"}',
        b'{"v":"2","type":"chat"}',
        b'{"v":true,"type":"chat"}',
    ],
)
def test_other_versions_are_ignored(payload: bytes) -> None:
    assert decode(payload) is None


def test_a_bot_chat_without_mid_is_still_a_chat() -> None:
    # Whether the avatar's bot text carries our mid is undocumented (docs/reference/akool-api.md §4.3).
    message = decode(b'{"v":2,"type":"chat","idx":0,"fin":true,"pld":{"from":"bot","text":"Hello."}}')
    assert isinstance(message, ChatMessage) and message.mid is None and message.text == "Hello."


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"hello avatar", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000, "not JSON"),
        (b'{"v":2,"type":"mystery","pld":{}}', "unknown message type 'mystery'"),
        (b'{"v":2,"type":"chat","pld":{"text":"x"}}', "invalid chat message: fin, idx"),
        (b'{"v":2,"type":"cmd","pld":{"cmd":"x"}}', "unknown message type 'cmd'"),
    ],
)
def test_untrusted_payloads_become_unknown_messages(payload: bytes, reason: str) -> None:
    message = decode(payload)
    assert isinstance(message, UnknownMessage)
    assert message.reason.startswith(reason)
    assert len(message.raw) <= 2048


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_decode_never_raises_on_arbitrary_input(payload: bytes | str) -> None:
    decode(payload)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["chat", "command", "cmd", "event", "sim-participant", "sim-error", "x"]),
    fields=st.dictionaries(st.sampled_from(["mid", "idx", "fin", "pld", "extra"]), _json_values),
)
def test_decode_never_raises_on_v2_shaped_junk(kind: str, fields: dict[str, object]) -> None:
    result = decode(json.dumps({"v": 2, "type": kind, **fields}))
    assert result is not None


def test_set_params_strips_empty_values_like_the_demo() -> None:
    params = SetParams(
        lang="en",
        mode=1,
        bgurl="",
        vid=None,
        vparams=VoiceParams(vid="voice-1", speed=1.1, pron_map={}, stt_language=""),
    )
    message = set_params_command(params, mid="sp-1")
    assert json.loads(encode(message)) == {
        "v": 2,
        "type": "command",
        "mid": "sp-1",
        "pld": {"cmd": "set-params", "data": {"lang": "en", "mode": 1, "vparams": {"vid": "voice-1", "speed": 1.1}}},
    }


def test_set_params_drops_vparams_that_end_up_empty() -> None:
    data = set_params_command(SetParams(mode=1, vparams=VoiceParams(vurl=""))).pld.data
    assert data == {"mode": 1}


@pytest.mark.parametrize("speed", [0.79, 1.21])
def test_speed_out_of_range_is_refused_naming_the_field(speed: float) -> None:
    with pytest.raises(ValidationError, match="speed"):
        VoiceParams(speed=speed)


def test_interrupt_has_no_data_and_a_fresh_mid() -> None:
    first, second = interrupt_command(), interrupt_command()
    assert isinstance(first, CommandMessage)
    assert json.loads(encode(first))["pld"] == {"cmd": "interrupt"}
    assert first.mid != second.mid


def test_encoding_an_unpaired_surrogate_is_a_typed_error() -> None:
    with pytest.raises(ProtocolError, match="surrogate"):
        encode(chat_message("bad \ud800 text", mid="m"))


def test_assembler_joins_pieces_by_idx_and_reports_partials() -> None:
    assembler = ChatAssembler()

    def bot(idx: int, text: str, fin: bool, mid: str = "r1") -> ChatMessage:
        message = decode(
            json.dumps(
                {"v": 2, "type": "chat", "mid": mid, "idx": idx, "fin": fin, "pld": {"from": "bot", "text": text}}
            )
        )
        assert isinstance(message, ChatMessage)
        return message

    assert assembler.add(bot(1, "lo ", False)) is None
    assert assembler.add(bot(2, "world", True)) is None  # idx 0 still missing
    assert assembler.add(bot(0, "other", False, mid="r2")) is None
    done = assembler.add(bot(0, "Hel", False))
    assert done is not None and done.text == "Hello world" and done.sender == "bot" and done.complete
    pending = assembler.pending()
    assert [(p.mid, p.text, p.complete) for p in pending] == [("r2", "other", False)]
