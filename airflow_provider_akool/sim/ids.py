"""Deterministic identifiers shaped like Akool's (24 hex digits, like MongoDB ObjectIds)."""

from __future__ import annotations

import random
import secrets

SIM_UID = 100001
SIM_TEAM_ID = "6600000000000000000000aa"


class IdFactory:
    """Record ids from a seeded RNG, so runs with the same seed name things the same way."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"akool-sim-ids:{seed}")

    def object_id(self) -> str:
        return f"{self._rng.getrandbits(96):024x}"

    def number(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)


def secret_token(nbytes: int = 24) -> str:
    """An unguessable secret (bearer tokens, RTC tokens); deliberately not seeded."""
    return secrets.token_urlsafe(nbytes)
