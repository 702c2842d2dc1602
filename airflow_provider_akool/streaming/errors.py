"""Typed errors of the streaming layer.

Every error a caller may want to react to differently has its own class, so a runner can decide
"retry with a new session", "give up" or "fix the input" from the type alone. Messages never carry
credentials: transports build them from field names, close codes and SDK return codes, and pass any
third-party text through :func:`redact` first.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AvatarLeftError",
    "AvatarNotReadyError",
    "ChunkingError",
    "CredentialsError",
    "MessageRejectedError",
    "MessageTooLargeError",
    "ProtocolError",
    "ReceiveTimeoutError",
    "StreamingError",
    "TransportAuthError",
    "TransportClosedError",
    "TransportError",
    "UnsupportedStreamTypeError",
    "redact",
]

_REDACTED = "***"
# Shorter values are too likely to collide with ordinary words to be replaced blindly.
_MIN_SECRET_LENGTH = 4


class StreamingError(Exception):
    """Base class of everything the streaming layer raises on purpose."""


class ProtocolError(StreamingError):
    """A message cannot be encoded as a v2 data-channel packet (e.g. text that is not UTF-8)."""


class ChunkingError(StreamingError, ValueError):
    """Text cannot be split into chat messages (empty text, unencodable text, budget too small)."""


class CredentialsError(StreamingError, ValueError):
    """Session credentials lack a field the transport needs. The message names the field only."""


class UnsupportedStreamTypeError(StreamingError, ValueError):
    """The stream type is unknown, has no Python SDK, or its optional SDK is not installed."""


class TransportError(StreamingError):
    """The RTC/WebSocket transport failed (connect, send, receive)."""


class TransportClosedError(TransportError):
    """The connection is closed: by us, by the peer, or because the avatar left.

    ``code`` is the transport's close code when it has one (WebSocket close code for the sim).
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransportAuthError(TransportClosedError):
    """The peer refused our token (sim close code 4401). Retrying with the same token is pointless."""


class AvatarLeftError(TransportClosedError):
    """The avatar participant left the room; no more avatar messages will arrive."""


class AvatarNotReadyError(TransportError, TimeoutError):
    """The avatar did not publish its media within the allowed time."""


class ReceiveTimeoutError(TransportError, TimeoutError):
    """No payload arrived within the allowed time."""


class MessageRejectedError(TransportError):
    """The transport refused to send one message. ``code`` is the SDK's return code if it has one."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MessageTooLargeError(MessageRejectedError):
    """A message exceeds the transport's per-message byte limit; it was not sent."""


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Return ``text`` with every occurrence of each secret replaced by ``***``.

    Used on text we do not control (SDK and library exception messages) before it reaches an
    exception or a log line, because such text may echo a URL or token we passed in.
    """
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret, _REDACTED)
    return text
