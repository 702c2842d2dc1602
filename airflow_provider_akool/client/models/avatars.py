"""Streaming avatars: upload request (v3), avatar records (v3 detail) and v4 list/detail items."""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

from pydantic import Field, field_validator

from airflow_provider_akool.client.models.common import RequestModel, ResponseModel

AVATAR_ID_PATTERN = r"^[a-zA-Z0-9]+$"


class AvatarStatus(IntEnum):
    """Upload processing status (docs/reference/akool-api.md §2.1, §3)."""

    QUEUEING = 1
    PROCESSING = 2
    READY = 3
    FAILED = 4


AvatarState = Literal["pending", "ready", "failed"]


class CreateAvatarRequest(RequestModel):
    """Body of ``POST /api/open/v3/avatar/create`` (all five fields required by the spec)."""

    url: str = Field(min_length=1, description="http(s) link to the source video")
    avatar_id: str = Field(min_length=1, max_length=128, pattern=AVATAR_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    type: Literal[2] = 2
    url_from: Literal[1, 2] = 1

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class _AvatarFields(ResponseModel):
    id: str | None = Field(default=None, alias="_id")
    uid: int | str | None = None
    type: int | None = None
    from_: int | None = Field(default=None, alias="from")
    name: str | None = None
    url: str | None = None
    modify_url: str | None = None
    thumbnail_url: str | None = Field(default=None, alias="thumbnailUrl")
    voice_id: str | None = None
    gender: str | None = None
    status: int | None = None
    available: bool | None = None
    platform: str | None = None
    create_time: int | None = None

    @property
    def state(self) -> AvatarState:
        """Readiness: status 4 is failed; ``available: false`` vetoes use even at status 3;
        otherwise ``status`` decides when present, else ``available`` (§2.1 note, §3)."""
        if self.status == AvatarStatus.FAILED:
            return "failed"
        if self.available is False:
            return "pending"
        if self.status is not None:
            return "ready" if self.status == AvatarStatus.READY else "pending"
        return "ready" if self.available else "pending"


class Avatar(_AvatarFields):
    """A streaming avatar as returned by v3 create and v4 list/detail."""

    avatar_id: str


class AvatarRecord(_AvatarFields):
    """An item of ``GET /api/open/v3/avatar/detail?id=<record _id>`` (data is an array, §2.9)."""

    avatar_id: str | None = None


class AvatarCreated(ResponseModel):
    """Outcome of create_avatar: the avatar and whether an existing one was adopted (1222)."""

    avatar: Avatar
    adopted: bool = False
