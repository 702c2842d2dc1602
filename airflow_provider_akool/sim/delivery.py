"""Agora-like delivery of inbound packets: a seeded few are lost, a few arrive late, none reported.

Agora's public send path uses an unreliable, unordered data stream (docs/reference/akool-api.md §4.1, issue 11
item 5), so a packet can vanish or overtake another without any error on either side. Losses
and reorders are bounded per connection and drawn from an RNG seeded by the sim seed and the
session id, so the same run loses the same packets.
"""

from __future__ import annotations

import random
from typing import Literal

Verdict = Literal["deliver", "lose", "hold"]


class LossyDelivery:
    """Decides the fate of each inbound packet of one connection."""

    def __init__(self, seed: int, session_id: str, connection: int) -> None:
        self._rng = random.Random(f"akool-sim-delivery:{seed}:{session_id}:{connection}")
        self.lost = 0
        self.reordered = 0

    def verdict(
        self, drop_rate: float, reorder_rate: float, max_lost: int, max_reordered: int, holding: bool
    ) -> Verdict:
        """``lose`` (never arrives), ``hold`` (arrives after the next packet) or ``deliver``."""
        if drop_rate <= 0 and reorder_rate <= 0:
            return "deliver"  # reliable: draw nothing, so switching the profile keeps the sequence
        draw_lose, draw_hold = self._rng.random(), self._rng.random()
        if draw_lose < drop_rate and self.lost < max_lost:
            self.lost += 1
            return "lose"
        if not holding and draw_hold < reorder_rate and self.reordered < max_reordered:
            self.reordered += 1
            return "hold"
        return "deliver"
