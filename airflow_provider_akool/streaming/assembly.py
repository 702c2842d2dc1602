"""Reassemble RECEIVED chat messages (bot replies, STT) that arrive in pieces sharing a ``mid``.

docs/reference/akool-api.md §4.3: pieces carry ``idx`` and ``fin``; the robust reading is "append every piece,
including the ``fin`` one, ordered by ``idx``". A message is complete when the ``fin`` piece and all
lower indexes have arrived; duplicates are ignored. Incomplete messages stay available through
``pending()`` so a runner can still record what it got when a session ends early.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_akool.streaming.protocol import ChatMessage

__all__ = ["AssembledChat", "ChatAssembler"]


@dataclass(frozen=True, slots=True)
class AssembledChat:
    """One reassembled chat message. ``complete`` is False for a partial one from ``pending()``."""

    mid: str | None
    sender: str | None
    text: str
    complete: bool = True


@dataclass
class _Partial:
    pieces: dict[int, str] = field(default_factory=dict)
    last_idx: int | None = None


class ChatAssembler:
    """Collects received chat pieces per (sender, mid)."""

    def __init__(self) -> None:
        self._partials: dict[tuple[str | None, str | None], _Partial] = {}

    def add(self, message: ChatMessage) -> AssembledChat | None:
        """Add one piece; return the whole message once its last piece and every gap arrived."""
        key = (message.pld.from_, message.mid)
        partial = self._partials.setdefault(key, _Partial())
        partial.pieces.setdefault(message.idx, message.text)
        if message.fin and partial.last_idx is None:
            partial.last_idx = message.idx
        last = partial.last_idx
        if last is None or any(i not in partial.pieces for i in range(last + 1)):
            return None
        del self._partials[key]
        text = "".join(partial.pieces[i] for i in range(last + 1))
        return AssembledChat(mid=message.mid, sender=message.pld.from_, text=text)

    def pending(self) -> list[AssembledChat]:
        """Incomplete messages so far (pieces joined in ``idx`` order, gaps skipped)."""
        return [
            AssembledChat(
                mid=mid,
                sender=sender,
                text="".join(partial.pieces[i] for i in sorted(partial.pieces)),
                complete=False,
            )
            for (sender, mid), partial in self._partials.items()
        ]
