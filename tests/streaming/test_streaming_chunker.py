"""Chunker: every encoded chunk fits, reassembly is exact, cuts land on natural boundaries."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_akool.streaming import (
    AGORA_LIMITS,
    LIVEKIT_LIMITS,
    ChatMessage,
    ChunkingError,
    chunk_text,
    encode,
    reassemble,
)
from airflow_provider_akool.streaming import chunker as chunker_module
from airflow_provider_akool.streaming.limits import transport_limits

AGORA = AGORA_LIMITS.max_message_bytes
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man-woman-girl-boy ZWJ sequence
FLAG_FR = "\U0001f1eb\U0001f1f7"
WAVE_DARK = "\U0001f44b\U0001f3ff"


def assert_valid_chunks(chunks: list[ChatMessage], text: str, budget: int) -> None:
    assert "".join(c.text for c in chunks) == text
    assert reassemble(chunks) == text
    assert [c.idx for c in chunks] == list(range(len(chunks)))
    assert [c.fin for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert len({c.mid for c in chunks}) == 1
    for chunk in chunks:
        payload = encode(chunk)
        assert len(payload) <= budget
        assert json.loads(payload)["pld"]["text"] == chunk.text


def test_short_text_is_one_final_chunk() -> None:
    (chunk,) = chunk_text("Hello.", max_message_bytes=AGORA, mid="m-1")
    assert (chunk.mid, chunk.idx, chunk.fin, chunk.text) == ("m-1", 0, True, "Hello.")


def test_a_fresh_mid_is_generated_when_none_is_given() -> None:
    assert chunk_text("a", max_message_bytes=AGORA)[0].mid != chunk_text("a", max_message_bytes=AGORA)[0].mid


def test_cuts_prefer_sentence_ends() -> None:
    sentence = "The quick brown fox jumps over the lazy dog, again and again. "
    text = sentence * 60
    chunks = chunk_text(text, max_message_bytes=AGORA)
    assert_valid_chunks(chunks, text, AGORA)
    assert len(chunks) > 3
    for chunk in chunks[:-1]:
        assert chunk.text.endswith("again. ")


def test_cuts_fall_back_to_word_boundaries() -> None:
    text = " ".join(f"word{i}" for i in range(1500))
    chunks = chunk_text(text, max_message_bytes=AGORA)
    assert_valid_chunks(chunks, text, AGORA)
    for chunk in chunks[:-1]:
        assert chunk.text.endswith(" ")
    for chunk in chunks[1:]:
        assert not chunk.text[0].isspace()


def test_newlines_count_as_sentence_boundaries() -> None:
    text = ("A heading without a full stop\n" + "filler words " * 10 + "\n") * 40
    chunks = chunk_text(text, max_message_bytes=AGORA)
    assert_valid_chunks(chunks, text, AGORA)
    assert all(c.text.endswith("\n") for c in chunks[:-1])


def test_cjk_sentence_ends_need_no_space() -> None:
    text = "这是一个很长的句子用来测试分块。" * 200
    chunks = chunk_text(text, max_message_bytes=AGORA)
    assert_valid_chunks(chunks, text, AGORA)
    assert all(c.text.endswith("。") for c in chunks[:-1])


def test_long_word_without_spaces_is_cut_at_the_byte_budget() -> None:
    text = "x" * 10_000
    chunks = chunk_text(text, max_message_bytes=AGORA)
    assert_valid_chunks(chunks, text, AGORA)
    assert all(len(encode(c)) >= AGORA - 1 for c in chunks[:-1])


@pytest.mark.parametrize("char", ['"', "\\", "\x01", "\n", "\x7f", "\u2028", "€", "𝄞"])
def test_json_escaping_is_counted_exactly(char: str) -> None:
    text = char * 3000
    chunks = chunk_text(text, max_message_bytes=AGORA)
    assert_valid_chunks(chunks, text, AGORA)
    # Packed to within one escaped code point of the budget.
    assert all(len(encode(c)) > AGORA - 7 for c in chunks[:-1])


@pytest.mark.parametrize(
    "cluster",
    ["e\u0301", "a\u0300\u0323", FAMILY, FLAG_FR, WAVE_DARK, "\u2764\ufe0f", "\r\n", "\u0915\u094d\u0937"],
)
def test_grapheme_clusters_are_not_split(cluster: str) -> None:
    text = cluster * 2000
    chunks = chunk_text(text, max_message_bytes=AGORA)
    assert_valid_chunks(chunks, text, AGORA)
    for chunk in chunks:
        assert chunk.text.startswith(cluster[0])
        assert len(chunk.text) % len(cluster) == 0


def test_one_huge_cluster_is_still_split_correctly() -> None:
    text = "a" + "\u0301" * 5000  # nothing cluster-safe: correctness is code points
    assert_valid_chunks(chunk_text(text, max_message_bytes=AGORA), text, AGORA)


def test_many_chunks_keep_fitting_as_idx_gains_digits() -> None:
    text = "y" * 200_000
    chunks = chunk_text(text, max_message_bytes=120)
    assert len(chunks) > 1000
    assert_valid_chunks(chunks, text, 120)


def test_an_opted_in_livekit_budget_means_few_chunks() -> None:
    text = "Lorem ipsum dolor sit amet. " * 2000
    default = chunk_text(text, max_message_bytes=LIVEKIT_LIMITS.max_message_bytes)  # 960 B, as Akool's demo
    assert_valid_chunks(default, text, LIVEKIT_LIMITS.max_message_bytes)
    opted_in = transport_limits("livekit", max_message_bytes=15_000, bytes_per_second=100_000).max_message_bytes
    chunks = chunk_text(text, max_message_bytes=opted_in)
    assert_valid_chunks(chunks, text, opted_in)
    assert len(chunks) == 4 and len(default) > 60


def test_encoding_work_is_per_chunk_not_per_character(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real_encode = encode

    def counting_encode(message: ChatMessage) -> bytes:
        nonlocal calls
        calls += 1
        return real_encode(message)

    monkeypatch.setattr(chunker_module, "encode", counting_encode)
    chunks = chunk_text("z" * 100_000, max_message_bytes=AGORA)
    assert calls <= len(chunks) + 4  # one check per chunk + one envelope per idx digit count


@pytest.mark.parametrize("text", ["", None])
def test_empty_text_is_refused_naming_it(text: str | None) -> None:
    with pytest.raises(ChunkingError, match="text"):
        chunk_text(text, max_message_bytes=AGORA)  # type: ignore[arg-type]


def test_budget_smaller_than_the_envelope_is_refused() -> None:
    with pytest.raises(ChunkingError, match="max_message_bytes=60"):
        chunk_text("hello", max_message_bytes=60, mid="m")


def test_unpaired_surrogate_is_refused_with_its_position() -> None:
    with pytest.raises(ChunkingError, match="index 3"):
        chunk_text("abc\udc00", max_message_bytes=AGORA)


def test_empty_mid_is_refused() -> None:
    with pytest.raises(ChunkingError, match="mid"):
        chunk_text("x", max_message_bytes=AGORA, mid="")


def test_reassemble_rejects_gaps_and_mixed_mids() -> None:
    chunks = chunk_text("word " * 600, max_message_bytes=AGORA, mid="m")
    with pytest.raises(ChunkingError, match="contiguous"):
        reassemble(chunks[1:])
    other = chunk_text("x", max_message_bytes=AGORA, mid="n")
    with pytest.raises(ChunkingError, match="different mids"):
        reassemble([*chunks, *other])


# --- property tests ---------------------------------------------------------------------------

_pieces = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.text(st.characters(codec="utf-8", categories=["Lo"]), max_size=40),  # CJK and friends
    st.text(st.characters(codec="utf-8", categories=["Mn", "Me", "Cc", "So"]), max_size=10),
    st.sampled_from(
        [
            '"',
            "\\",
            "\x00",
            "\x1f",
            "\n",
            " ",
            "  ",
            ". ",
            "! ",
            "\u3002",
            FAMILY,
            FLAG_FR,
            WAVE_DARK,
            "e\u0301",
            "\u200d",
            "\ufe0f",
            "\U0001f1e6",
            "\r\n",
            "\u2028",
        ]
    ),
    st.integers(50, 1500).map(lambda n: "w" * n),  # very long words without spaces
)
_texts = st.lists(_pieces, min_size=1, max_size=60).map("".join).filter(bool)


@settings(max_examples=250, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts, budget=st.one_of(st.sampled_from([AGORA, 15_000]), st.integers(90, 2000)))
def test_property_chunks_fit_and_reassemble_exactly(text: str, budget: int) -> None:
    chunks = chunk_text(text, max_message_bytes=budget, mid="prop")
    assert_valid_chunks(chunks, text, budget)
    # No degenerate tiny chunks: every cut is in the last quarter of what would have fit.
    for chunk in chunks[:-1]:
        overhead = len(encode(chunk.model_copy(update={"pld": chunk.pld.model_copy(update={"text": ""})})))
        text_bytes = len(encode(chunk)) - overhead
        assert text_bytes >= 0.75 * (budget - overhead - 6) - 1


_clusters = st.one_of(
    st.sampled_from([FAMILY, FLAG_FR, WAVE_DARK, "e\u0301", "a\u0300\u0323", "\u2764\ufe0f", "\r\n", "x", " ", ". "]),
    st.tuples(
        # Regional indicators pair up with their neighbours, so they are not standalone bases.
        st.characters(codec="utf-8", categories=["L", "N", "P", "So"]).filter(
            lambda c: not 0x1F1E6 <= ord(c) <= 0x1F1FF
        ),
        st.text(st.characters(codec="utf-8", categories=["Mn", "Me"]), max_size=4),
    ).map("".join),
)


@settings(max_examples=150, deadline=2000)
@given(clusters=st.lists(_clusters, min_size=1, max_size=600), budget=st.sampled_from([300, AGORA]))
def test_property_cuts_fall_between_grapheme_clusters(clusters: list[str], budget: int) -> None:
    text = "".join(clusters)
    boundaries = {0}
    offset = 0
    for cluster in clusters:
        offset += len(cluster)
        boundaries.add(offset)
    chunks = chunk_text(text, max_message_bytes=budget)
    assert_valid_chunks(chunks, text, budget)
    cut = 0
    for chunk in chunks:
        cut += len(chunk.text)
        assert cut in boundaries, f"cut inside a cluster at {cut}"
