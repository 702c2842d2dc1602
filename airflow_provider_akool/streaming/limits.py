"""Per-transport data-channel limits, in one place (akool-api.md §4.4).

``max_message_bytes`` is the budget for one ENCODED message (the full JSON packet), not for its text.
The rates are what the pacing layer enforces over any one-second window.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AGORA_LIMITS",
    "LIVEKIT_LIMITS",
    "SIM_LIMITS",
    "TRTC_LIMITS",
    "TransportLimits",
    "limits_for",
]


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """Byte and rate limits of one data channel.

    Attributes:
        max_message_bytes: largest encoded message we send (chunker budget and send-time check).
        bytes_per_second: most payload bytes sent in any one-second window.
        messages_per_second: most messages sent in any one-second window.
    """

    max_message_bytes: int
    bytes_per_second: int
    messages_per_second: int

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "bytes_per_second", "messages_per_second"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TransportLimits.{name} must be positive")
        if self.max_message_bytes > self.bytes_per_second:
            # A message larger than one second's budget could never be sent.
            raise ValueError("TransportLimits.max_message_bytes must not exceed bytes_per_second")


# Agora: 1 KB per packet, 6 KB/s, 30 packets/s. We budget 960 bytes per message like Akool's current
# demo, leaving room under the hard 1,024-byte cap.
AGORA_LIMITS = TransportLimits(max_message_bytes=960, bytes_per_second=6000, messages_per_second=30)

# TRTC: 1 KB per custom message, 8 KB/s, 30 calls/s. Listed for completeness: no Python SDK exists.
TRTC_LIMITS = TransportLimits(max_message_bytes=960, bytes_per_second=8000, messages_per_second=30)

# LiveKit reliable data packets may be 15 KiB (15,360 bytes); we keep 360 bytes of headroom. LiveKit
# documents no per-client data rate: the reliable channel is congestion-controlled SCTP. The rates
# below only stop a runaway loop from flooding the room; speech consumes a few hundred bytes per
# second, so they never slow a real session down.
LIVEKIT_LIMITS = TransportLimits(max_message_bytes=15_000, bytes_per_second=1_000_000, messages_per_second=100)

# akool-sim emulates Agora's channel by default (1,024 B hard cap, 6,000 B/s, 30 msg/s).
SIM_LIMITS = AGORA_LIMITS

_BY_STREAM_TYPE = {
    "agora": AGORA_LIMITS,
    "livekit": LIVEKIT_LIMITS,
    "trtc": TRTC_LIMITS,
    "sim": SIM_LIMITS,
}


def limits_for(stream_type: str) -> TransportLimits:
    """Return the limits of a stream type (``agora``, ``livekit``, ``trtc``, ``sim``)."""
    try:
        return _BY_STREAM_TYPE[stream_type]
    except KeyError:
        allowed = ", ".join(sorted(_BY_STREAM_TYPE))
        raise ValueError(f"unknown stream_type {stream_type!r}; allowed: {allowed}") from None
