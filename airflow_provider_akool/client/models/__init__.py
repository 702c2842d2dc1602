"""Pydantic models of Akool requests and responses."""

from airflow_provider_akool.client.models.avatars import (
    AVATAR_ID_PATTERN,
    Avatar,
    AvatarCreated,
    AvatarRecord,
    AvatarState,
    AvatarStatus,
    CreateAvatarRequest,
)
from airflow_provider_akool.client.models.catalog import Language, Voice
from airflow_provider_akool.client.models.common import Page, RequestModel, ResponseModel
from airflow_provider_akool.client.models.knowledge import (
    KnowledgeBase,
    KnowledgeBaseFields,
    KnowledgeDoc,
    UpdateKnowledgeBaseRequest,
)
from airflow_provider_akool.client.models.sessions import (
    MAX_SESSION_SECONDS,
    OPEN_SESSION_STATUSES,
    STREAM_TYPES,
    CloseResult,
    CreateSessionRequest,
    ElevenLabsSettings,
    Session,
    SessionCredentials,
    SessionStatus,
    StreamType,
    TurnDetection,
    VoiceParams,
)

__all__ = [
    "AVATAR_ID_PATTERN",
    "MAX_SESSION_SECONDS",
    "OPEN_SESSION_STATUSES",
    "STREAM_TYPES",
    "Avatar",
    "AvatarCreated",
    "AvatarRecord",
    "AvatarState",
    "AvatarStatus",
    "CloseResult",
    "CreateAvatarRequest",
    "CreateSessionRequest",
    "ElevenLabsSettings",
    "KnowledgeBase",
    "KnowledgeBaseFields",
    "KnowledgeDoc",
    "Language",
    "Page",
    "RequestModel",
    "ResponseModel",
    "Session",
    "SessionCredentials",
    "SessionStatus",
    "StreamType",
    "TurnDetection",
    "UpdateKnowledgeBaseRequest",
    "Voice",
    "VoiceParams",
]
