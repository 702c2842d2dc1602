"""Knowledge bases (v4): objects and create/update requests with the documented limits (§5.1)."""

from __future__ import annotations

from pydantic import Field

from airflow_provider_akool.client.models.common import RequestModel, ResponseModel


class KnowledgeDoc(RequestModel):
    name: str | None = None
    url: str
    size: int | None = Field(default=None, ge=0, le=104_857_600)


class KnowledgeBase(ResponseModel):
    id: str = Field(alias="_id")
    name: str | None = None
    prologue: str | None = None
    prompt: str | None = None
    docs: list[KnowledgeDoc] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)
    create_time: int | None = None
    update_time: int | None = None


class KnowledgeBaseFields(RequestModel):
    """Fields shared by create and update. ``prologue`` limit follows the current docs (2000)."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    prologue: str | None = Field(default=None, max_length=2000)
    prompt: str | None = Field(default=None, max_length=10_000)
    docs: list[KnowledgeDoc] | None = None
    urls: list[str] | None = None


class UpdateKnowledgeBaseRequest(KnowledgeBaseFields):
    id: str = Field(min_length=1)
