"""Which requests get a fault, and which one: a seeded RNG over the configured kinds."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from .config import FAULT_KINDS, SimConfig
from .files import FILES_PREFIX

ADMIN_PREFIX = "/_sim/"
# Kinds that make sense for a file download, and for an API call.
_FILE_KINDS = frozenset({"http_500", "http_503", "http_429", "reset", "stall", "truncate"})
_API_KINDS = frozenset(FAULT_KINDS) - {"truncate"}


class FaultInjector:
    """Decides per request, deterministically for a given seed and request order."""

    def __init__(self, config: SimConfig) -> None:
        self._config = config
        self._rng = random.Random(f"akool-sim-faults:{config.seed}")
        self.counts: Counter[str] = Counter()

    def configure(
        self,
        rate: float,
        kinds: list[str] | None = None,
        paths: list[str] | None = None,
        seed: int | None = None,
    ) -> None:
        updates: dict[str, Any] = {"fault_rate": rate}
        if kinds is not None:
            updates["fault_kinds"] = kinds
        if paths is not None:
            updates["fault_paths"] = paths
        # Validate everything before changing anything.
        checked = self._config.with_overrides(**updates)
        self._config.fault_rate = checked.fault_rate
        self._config.fault_kinds = checked.fault_kinds
        self._config.fault_paths = checked.fault_paths
        if seed is not None:
            self._rng = random.Random(f"akool-sim-faults:{seed}")

    def eligible(self, path: str) -> bool:
        if path.startswith(ADMIN_PREFIX) and not path.startswith(FILES_PREFIX):
            return False
        return any(path.startswith(prefix) for prefix in self._config.fault_paths)

    def pick(self, path: str) -> str | None:
        """The fault to inject into this request, or None."""
        if self._config.fault_rate <= 0 or not self.eligible(path):
            return None
        allowed = _FILE_KINDS if path.startswith(FILES_PREFIX) else _API_KINDS
        kinds = [k for k in self._config.fault_kinds if k in allowed]
        if not kinds or self._rng.random() >= self._config.fault_rate:
            return None
        kind = self._rng.choice(kinds)
        self.counts[kind] += 1
        return kind

    def snapshot(self) -> dict[str, Any]:
        return {
            "rate": self._config.fault_rate,
            "kinds": list(self._config.fault_kinds),
            "paths": list(self._config.fault_paths),
            "counts": dict(self.counts),
            "total": sum(self.counts.values()),
        }
