"""Per-transport data-channel limits, in one place (docs/reference/akool-api.md §4.4).

``max_message_bytes`` is the budget for one ENCODED message (the full JSON packet), not for its text.
The rates are what the pacing layer enforces over any one-second window. ``transport_limits`` applies
a user's opt-in overrides within what the service allows; ``check_set_params_fits`` refuses a
set-params command that no message of the transport could carry (it is never chunked).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from airflow_provider_akool._session_caps import RetellingInputError
from airflow_provider_akool.streaming.protocol import SetParams, encode, new_mid, set_params_command

__all__ = [
    "AGORA_LIMITS",
    "LIVEKIT_LIMITS",
    "SIM_LIMITS",
    "TRTC_LIMITS",
    "TransportLimits",
    "check_set_params_fits",
    "limits_for",
    "transport_limits",
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

# LiveKit: Akool's own demo chunks at 960 bytes and paces at 960 * 6 = 5,760 B/s on LiveKit too
# (§4.4), so that is what the avatar side is known to take. LiveKit's reliable packets may be 15 KiB
# (15,360 bytes) and it documents no per-client rate; larger values are opt-in (transport_limits).
LIVEKIT_LIMITS = TransportLimits(max_message_bytes=960, bytes_per_second=5760, messages_per_second=30)

# akool-sim emulates Agora's channel by default (1,024 B hard cap, 6,000 B/s, 30 msg/s).
SIM_LIMITS = AGORA_LIMITS

_BY_STREAM_TYPE = {
    "agora": AGORA_LIMITS,
    "livekit": LIVEKIT_LIMITS,
    "trtc": TRTC_LIMITS,
    "sim": SIM_LIMITS,
}


# What the service itself allows (§4.4): the most an opt-in override may ask for, per stream type.
# (max message bytes, bytes per second). LiveKit documents no rate; 1 MB/s only guards a runaway
# loop. akool-sim enforces whatever limits it was started with and answers sim-error beyond them.
_CEILINGS: dict[str, tuple[int, int]] = {
    "agora": (1024, 6000),
    "trtc": (1024, 8000),
    "livekit": (15_360, 1_000_000),
    "sim": (15_360, 1_000_000),
}
# Smallest message budget that still carries a chat envelope (~95 bytes) and some text.
MIN_MESSAGE_BYTES = 256


def limits_for(stream_type: str) -> TransportLimits:
    """Return the limits of a stream type (``agora``, ``livekit``, ``trtc``, ``sim``)."""
    try:
        return _BY_STREAM_TYPE[stream_type]
    except KeyError:
        allowed = ", ".join(sorted(_BY_STREAM_TYPE))
        raise ValueError(f"unknown stream_type {stream_type!r}; allowed: {allowed}") from None


def transport_limits(
    stream_type: str, *, max_message_bytes: int | None = None, bytes_per_second: int | None = None
) -> TransportLimits:
    """The limits of ``stream_type`` with opt-in overrides, or RetellingInputError naming the field.

    An override may go up to what the service allows (Agora 1,024 B and 6,000 B/s; LiveKit 15,360 B
    per reliable message) and down to 256 B per message; a message may not exceed one second's bytes.
    """
    base = limits_for(stream_type)
    ceiling_bytes, ceiling_rate = _CEILINGS[stream_type]
    for name, value, ceiling in (
        ("max_message_bytes", max_message_bytes, ceiling_bytes),
        ("bytes_per_second", bytes_per_second, ceiling_rate),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise RetellingInputError(f"{name}: must be a whole number of bytes or None (got {value!r})")
        if not MIN_MESSAGE_BYTES <= value <= ceiling:
            raise RetellingInputError(
                f"{name}: {value} is outside {MIN_MESSAGE_BYTES}..{ceiling} for stream_type {stream_type!r}"
            )
    size = base.max_message_bytes if max_message_bytes is None else max_message_bytes
    rate = base.bytes_per_second if bytes_per_second is None else bytes_per_second
    if size > rate:
        raise RetellingInputError(
            f"max_message_bytes: {size} exceeds bytes_per_second {rate}; raise bytes_per_second too"
        )
    return dataclasses.replace(base, max_message_bytes=size, bytes_per_second=rate)


def check_set_params_fits(params: SetParams, limits: TransportLimits, stream_type: str) -> int:
    """Return the encoded size of the set-params command, or raise RetellingInputError if it is
    larger than one message of the transport: commands are sent unchunked (§4.4).

    Splitting it is not an option: the docs do not say whether a second set-params merges into
    the first or replaces it (§4.2), and under "replaces" all but the last part would be lost.
    """
    size = len(encode(set_params_command(params, mid=new_mid())))
    if size <= limits.max_message_bytes:
        return size
    data = params.to_data()
    pron_map = (data.get("vparams") or {}).get("pron_map")
    if pron_map:
        ceiling = _CEILINGS[stream_type][0]
        larger = f" or raise max_message_bytes (up to {ceiling})" if size <= ceiling else ""
        raise RetellingInputError(
            f"pron_map: with its {len(pron_map)} entries the set-params message is {size} bytes encoded, over "
            f"the {limits.max_message_bytes}-byte message limit of stream_type {stream_type!r} (set-params "
            f"cannot be split); shorten pron_map{larger}"
        )
    raise RetellingInputError(
        f"set-params: the message is {size} bytes encoded, over the {limits.max_message_bytes}-byte message "
        f"limit of stream_type {stream_type!r}; shorten background_url, voice_id or language"
    )
