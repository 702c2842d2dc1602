"""What makes one avatar voice differ from another, and one utterance from the next.

Each voice speaks at its own pace: a factor on the speaking rate taken from a hash of the voice
id (the same voice is always as fast), unless the config names it explicitly. Each segment then
gets a seeded random jitter, so no two segments take exactly their model time.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping


def voice_factor(voice_key: str, explicit: Mapping[str, float], low: float, high: float) -> float:
    """Rate factor of one voice (above 1 is faster): ``explicit[voice_key]`` or a stable value in [low, high]."""
    if voice_key in explicit:
        return float(explicit[voice_key])
    digest = hashlib.sha256(voice_key.encode("utf-8")).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return low + (high - low) * fraction


def segment_jitter(seed: int, session_id: str, index: int, amount: float) -> float:
    """A duration factor in [1 - amount, 1 + amount], the same for the same seed, session and segment."""
    if amount <= 0:
        return 1.0
    rng = random.Random(f"akool-sim-jitter:{seed}:{session_id}:{index}")
    return 1.0 + rng.uniform(-amount, amount)
