"""Split text into v2 chat chunks whose ENCODED JSON fits a transport's byte budget.

Why not the demo's algorithm (docs/reference/akool-api.md §4.4): it slices UTF-16 code units (can split a surrogate
pair) and re-encodes on every halving step. Here every code point gets its exact cost inside the
JSON string (UTF-8 length, or the escape length for ``"``, ``\\`` and control characters), prefix
sums of those costs give the longest fitting chunk with one binary search, and only the chunk's last
quarter is scanned for a nicer cut: a sentence end, else a word boundary, else the byte limit - never
between a base character and its combining marks / emoji joiners when a cluster-safe cut exists
there. Total work is O(n log n); concatenating the chunks' texts by ``idx`` gives the input back
exactly.
"""

from __future__ import annotations

import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import accumulate

from airflow_provider_akool.streaming.errors import ChunkingError
from airflow_provider_akool.streaming.protocol import ChatMessage, chat_message, encode, new_mid

__all__ = ["chunk_text", "reassemble"]

# Cost of each ASCII character inside a JSON string as json.dumps(ensure_ascii=False) writes it:
# control characters become \u00XX (6 bytes) except the five with a short escape (2 bytes).
_ASCII_COST = [6] * 32 + [1] * 96
for _ch in '\b\f\n\r\t"\\':
    _ASCII_COST[ord(_ch)] = 2
del _ch

# Sentence ends that are followed by whitespace in running text, and ones that are not (CJK):
# . ! ? ; ellipsis, ideographic full stop, fullwidth ! ?, halfwidth full stop, Arabic ?, Devanagari dandas.
_TERMINATORS = frozenset(".!?;\u2026\u3002\uff01\uff1f\uff61\u061f\u0964\u0965")
_TERMINATORS_NO_SPACE = frozenset("\u3002\uff01\uff1f\uff61\u2026")
# Closing quotes/brackets allowed between a terminator and the following whitespace: `He said "Hi." Then`.
_CLOSERS = frozenset("\"')]}\u00bb\u201d\u2019\u300d\u300f\uff09")
_MAX_CLOSERS = 4
_ZWJ = "\u200d"
_MAX_REGIONAL_RUN = 64


def chunk_text(text: str, *, max_message_bytes: int, mid: str | None = None) -> list[ChatMessage]:
    """Split ``text`` into chat messages sharing one ``mid``, each encoding to <= ``max_message_bytes``.

    ``idx`` runs from 0, ``fin`` is set on the last chunk only, and no whitespace is dropped.

    Raises:
        ChunkingError: ``text`` is empty or not valid Unicode, ``mid`` is empty, or the budget
            cannot hold even one character next to the message envelope.
    """
    if not isinstance(text, str) or not text:
        raise ChunkingError("text must be a non-empty string")
    if mid is None:
        mid = new_mid()
    elif not mid:
        raise ChunkingError("mid must be a non-empty string")
    if max_message_bytes <= 0:
        raise ChunkingError("max_message_bytes must be positive")

    prefix = _prefix_costs(text)
    n = len(text)
    chunks: list[ChatMessage] = []
    overheads: dict[int, int] = {}
    start = 0
    while start < n:
        idx = len(chunks)
        digits = len(str(idx))
        if digits not in overheads:
            overheads[digits] = _envelope_overhead(mid, idx)
        text_budget = max_message_bytes - overheads[digits]
        end = bisect_right(prefix, prefix[start] + text_budget, start, n + 1) - 1
        if end <= start:
            raise ChunkingError(
                f"max_message_bytes={max_message_bytes} leaves {max(text_budget, 0)} bytes for text "
                f"after the envelope of chunk {idx}; too small for the character at index {start}"
            )
        cut = end if end == n else _choose_cut(text, prefix, start, end)
        message = chat_message(text[start:cut], mid=mid, idx=idx, fin=cut == n)
        # Cheap safety net (one encode per chunk): the cost model must match the real encoder.
        if len(encode(message)) > max_message_bytes:
            raise ChunkingError(f"internal error: chunk {idx} encodes above {max_message_bytes} bytes")
        chunks.append(message)
        start = cut
    return chunks


def reassemble(chunks: Iterable[ChatMessage]) -> str:
    """Join chunks of one message by ``idx``.

    Raises:
        ChunkingError: no chunks, mixed ``mid``, duplicate or missing ``idx``, or ``fin`` misplaced.
    """
    ordered = sorted(chunks, key=lambda c: c.idx)
    if not ordered:
        raise ChunkingError("no chunks to reassemble")
    if len({c.mid for c in ordered}) != 1:
        raise ChunkingError("chunks belong to different mids")
    if [c.idx for c in ordered] != list(range(len(ordered))):
        raise ChunkingError("chunk idx values are not contiguous from 0")
    if not ordered[-1].fin or any(c.fin for c in ordered[:-1]):
        raise ChunkingError("fin must be set on the last chunk only")
    return "".join(c.text for c in ordered)


def _prefix_costs(text: str) -> array[int]:
    """Prefix sums of each code point's encoded cost; ``prefix[i]`` = bytes of ``text[:i]``."""
    costs: list[int] = []
    append = costs.append
    for i, ch in enumerate(text):
        code = ord(ch)
        if code < 0x80:
            append(_ASCII_COST[code])
        elif code < 0x800:
            append(2)
        elif code < 0x10000:
            if 0xD800 <= code <= 0xDFFF:
                raise ChunkingError(f"text is not valid Unicode: unpaired surrogate at index {i}")
            append(3)
        else:
            append(4)
    return array("q", accumulate(costs, initial=0))


def _envelope_overhead(mid: str, idx: int) -> int:
    """Bytes of a chat message with empty text; ``fin=False`` is the longer of the two spellings."""
    return len(encode(chat_message("", mid=mid, idx=idx, fin=False)))


def _choose_cut(text: str, prefix: array[int], start: int, end: int) -> int:
    """Pick a cut in ``(start, end]`` with ``end < len(text)``: sentence, word, cluster-safe, or ``end``."""
    used = prefix[end] - prefix[start]
    threshold = prefix[start] + (3 * used + 3) // 4  # first byte offset of the last quarter
    lo = max(bisect_left(prefix, threshold, start + 1, end + 1), start + 1)
    boundary = _text_boundary(text, start, lo, end)
    if boundary is not None:
        return boundary
    for p in range(end, lo - 1, -1):
        if _cluster_safe(text, p):
            return p
    return end


def _text_boundary(text: str, start: int, lo: int, end: int) -> int | None:
    """Largest sentence boundary in ``[lo, end]``, else the largest word boundary, else None.

    A word boundary is the end of a whitespace run (the whitespace stays with the earlier chunk).
    It is a sentence boundary when the run holds a newline or follows a terminator (optionally
    followed by closing quotes). Each position is visited once, so the scan is linear.
    """
    best_word: int | None = None
    p = end
    while p >= lo:
        prev = text[p - 1]
        if prev.isspace() and not text[p].isspace():
            run_start = p - 1
            has_newline = prev == "\n"
            while run_start > start and text[run_start - 1].isspace():
                run_start -= 1
                has_newline = has_newline or text[run_start] == "\n"
            if _cluster_safe(text, p):
                if has_newline or _ends_sentence(text, start, run_start):
                    return p
                if best_word is None:
                    best_word = p
            p = run_start
            continue
        if prev in _TERMINATORS_NO_SPACE and _cluster_safe(text, p):
            return p
        p -= 1
    return best_word


def _ends_sentence(text: str, start: int, run_start: int) -> bool:
    """True if the text before ``run_start`` ends with a terminator (closing quotes allowed)."""
    r = run_start - 1
    skipped = 0
    while r > start and text[r] in _CLOSERS and skipped < _MAX_CLOSERS:
        r -= 1
        skipped += 1
    return r >= start and text[r] in _TERMINATORS


def _cluster_safe(text: str, p: int) -> bool:
    """Cheap approximation of "``p`` is not inside a grapheme cluster" (UAX #29's common cases)."""
    before, after = text[p - 1], text[p]
    if before == "\r" and after == "\n":
        return False
    if before == _ZWJ or after == _ZWJ:
        return False
    code = ord(after)
    if (
        0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences (subdivision flags)
    ):
        return False
    if unicodedata.category(after) in ("Mn", "Mc", "Me"):
        return False
    if _is_regional(after) and _is_regional(before):
        # Flags are pairs of regional indicators: only cut after an even number of them.
        run = 0
        q = p - 1
        while q >= 0 and _is_regional(text[q]) and run < _MAX_REGIONAL_RUN:
            run += 1
            q -= 1
        return run % 2 == 0
    return True


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF
