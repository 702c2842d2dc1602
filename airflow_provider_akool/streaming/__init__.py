"""Airflow-free streaming layer: data-channel protocol v2, chunking, pacing and transports.

Typical use (one session)::

    check_stream_type_supported(stream_type)          # before creating the (paid) session
    transport = create_transport(stream_type, session.credentials)
    async with transport:
        await transport.wait_ready(timeout=60)
        await transport.send(encode(set_params_command(SetParams(mode=1))))
        for chunk in chunk_text(text, max_message_bytes=transport.limits.max_message_bytes):
            await transport.send(encode(chunk))       # paced inside the transport
        async for payload in transport:
            message = decode(payload)
"""

from airflow_provider_akool.streaming.assembly import AssembledChat, ChatAssembler
from airflow_provider_akool.streaming.chunker import chunk_text, reassemble
from airflow_provider_akool.streaming.errors import (
    AvatarLeftError,
    AvatarNotReadyError,
    ChunkingError,
    CredentialsError,
    MessageRejectedError,
    MessageTooLargeError,
    ProtocolError,
    ReceiveTimeoutError,
    StreamingError,
    TransportAuthError,
    TransportClosedError,
    TransportError,
    UnsupportedStreamTypeError,
)
from airflow_provider_akool.streaming.limits import (
    AGORA_LIMITS,
    LIVEKIT_LIMITS,
    SIM_LIMITS,
    TRTC_LIMITS,
    TransportLimits,
    limits_for,
)
from airflow_provider_akool.streaming.pacing import RateLimiter
from airflow_provider_akool.streaming.protocol import (
    ACK_OK,
    AUDIO_END,
    AUDIO_START,
    ChatMessage,
    ChatPayload,
    CommandAck,
    CommandMessage,
    EventMessage,
    Message,
    OutboundMessage,
    SetParams,
    SimErrorMessage,
    SimParticipantMessage,
    TurnDetection,
    UnknownMessage,
    VoiceParams,
    chat_message,
    decode,
    encode,
    interrupt_command,
    new_mid,
    set_params_command,
)
from airflow_provider_akool.streaming.transports import (
    SUPPORTED_STREAM_TYPES,
    AgoraTransport,
    LiveKitTransport,
    SimTransport,
    Transport,
    check_stream_type_supported,
    create_transport,
)

__all__ = [
    "ACK_OK",
    "AGORA_LIMITS",
    "AUDIO_END",
    "AUDIO_START",
    "LIVEKIT_LIMITS",
    "SIM_LIMITS",
    "SUPPORTED_STREAM_TYPES",
    "TRTC_LIMITS",
    "AgoraTransport",
    "AssembledChat",
    "AvatarLeftError",
    "AvatarNotReadyError",
    "ChatAssembler",
    "ChatMessage",
    "ChatPayload",
    "ChunkingError",
    "CommandAck",
    "CommandMessage",
    "CredentialsError",
    "EventMessage",
    "LiveKitTransport",
    "Message",
    "MessageRejectedError",
    "MessageTooLargeError",
    "OutboundMessage",
    "ProtocolError",
    "RateLimiter",
    "ReceiveTimeoutError",
    "SetParams",
    "SimErrorMessage",
    "SimParticipantMessage",
    "SimTransport",
    "StreamingError",
    "Transport",
    "TransportAuthError",
    "TransportClosedError",
    "TransportError",
    "TransportLimits",
    "TurnDetection",
    "UnknownMessage",
    "UnsupportedStreamTypeError",
    "VoiceParams",
    "chat_message",
    "check_stream_type_supported",
    "chunk_text",
    "create_transport",
    "decode",
    "encode",
    "interrupt_command",
    "limits_for",
    "new_mid",
    "reassemble",
    "set_params_command",
]
