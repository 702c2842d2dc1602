"""Voices (v4 voice list) and languages (v3 language list) used to configure sessions."""

from __future__ import annotations

from pydantic import Field

from airflow_provider_akool.client.models.common import ResponseModel


class Voice(ResponseModel):
    """An item of ``GET /api/open/v4/voice/list`` (§5.2)."""

    id: str | None = Field(default=None, alias="_id")
    voice_id: str
    name: str | None = None
    gender: str | None = None
    language: str | None = None
    locale: str | None = None
    preview: str | None = None
    voice_model_name: str | None = None
    support_stream: bool | None = None
    status: int | None = None
    create_time: int | None = None
    duration: int | None = None


class Language(ResponseModel):
    """An item of ``data.lang_list`` from ``GET /api/open/v3/language/list`` (§5.3)."""

    lang_code: str
    lang_name: str | None = None
    url: str | None = None
