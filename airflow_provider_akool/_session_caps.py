"""Cost caps of a retelling task: defaults and validation, defined once.

At the package root, free of imports (no Airflow, no streaming package): ``operators.session`` checks its
caps at DAG parse time, and ``streaming.planning`` applies them when the plan is known.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "CONFIRMATION_RULES",
    "DEFAULT_MAX_TOTAL_SESSION_SECONDS",
    "MAX_SESSION_SECONDS",
    "RetellingInputError",
    "check_session_cap",
]

# Akool's limit for one session's duration (docs/reference/akool-api.md §2.4).
MAX_SESSION_SECONDS = 3600
# Default cost cap of one retelling task: the sum of its sessions' pre-charged durations (4 hours,
# about 160,000 characters of English or 48,000 of Chinese at speed 1.0, sized by streaming.speech).
DEFAULT_MAX_TOTAL_SESSION_SECONDS = 4 * MAX_SESSION_SECONDS
# What a segment completed by estimate alone does to a run: ``require_confirmation``.
CONFIRMATION_RULES: tuple[str, ...] = ("warn", "fail", "off")


class RetellingInputError(ValueError):
    """Bad retelling input, found before anything was created. The message starts with the field."""


def check_session_cap(name: str, value: Any) -> int | None:
    """A cost cap parameter: None (no cap) or a whole number >= 1, else RetellingInputError naming it."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not number.is_integer() or number < 1:
        raise RetellingInputError(f"{name}: must be a whole number >= 1, or None for no cap (got {value!r})")
    return int(number)
