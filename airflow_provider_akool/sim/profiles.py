"""Named presets for the data-channel behaviours the Akool docs leave open (docs/reference/akool-api.md, "Gaps").

A profile is a set of values for PROFILE_FIELDS; every field it does not name takes its default,
so switching profiles never leaves a behaviour of the previous one behind. The fields stay
settable one by one, so a test can also combine variants the presets do not.
"""

from __future__ import annotations

from typing import Any

# The behaviour fields a profile governs, with their well-behaved (profile "default") values.
DEFAULTS: dict[str, Any] = {
    "emit_audio_events": True,
    "bot_echo": "mid",
    "event_mid": "client",
    "busy_chat": "queue",
    "pre_join_messages": "buffer",
    "packet_drop_rate": 0.0,
    "packet_reorder_rate": 0.0,
    "session_end": "cut",
}
PROFILE_FIELDS: frozenset[str] = frozenset(DEFAULTS)

_LOSSY = {"packet_drop_rate": 0.05, "packet_reorder_rate": 0.1}

PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "no_audio_events": {"emit_audio_events": False},
    "echo_own_mid": {"bot_echo": "own_mid"},
    "events_own_mid": {"event_mid": "own"},
    "no_echo": {"bot_echo": "none"},
    "interrupting": {"busy_chat": "interrupt"},
    "drop_before_join": {"pre_join_messages": "drop"},
    "agora_delivery": dict(_LOSSY),
    "finish_at_end": {"session_end": "finish"},
    # Every adverse variant that can coexist with the others.
    "hostile": {
        "emit_audio_events": False,
        "bot_echo": "own_mid",
        "event_mid": "own",
        "busy_chat": "interrupt",
        "pre_join_messages": "drop",
        **_LOSSY,
        "session_end": "cut",
    },
}


def profile_values(name: str) -> dict[str, Any]:
    """All PROFILE_FIELDS for profile ``name``; a clear error names the known profiles."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known profiles: {sorted(PROFILES)}")
    return {**DEFAULTS, **PROFILES[name]}
