"""Every Akool endpoint, declared once and shared by :class:`AkoolClient` and :class:`AsyncAkoolClient`.

Paths and shapes follow docs/reference/akool-api.md; section numbers are given where a quirk is handled.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from airflow_provider_akool.client.calls import Call, Reply, Steps, operation
from airflow_provider_akool.client.config import ClientConfig
from airflow_provider_akool.client.errors import AkoolAlreadyExistsError, AkoolError, AkoolRequestError
from airflow_provider_akool.client.models import (
    Avatar,
    AvatarCreated,
    AvatarRecord,
    CloseResult,
    CreateAvatarRequest,
    CreateSessionRequest,
    KnowledgeBase,
    KnowledgeBaseFields,
    Language,
    Page,
    RequestModel,
    Session,
    UpdateKnowledgeBaseRequest,
    Voice,
)
from airflow_provider_akool.client.models.common import build_request, describe_validation_error
from airflow_provider_akool.client.readiness import AvatarPoll, AvatarWatch, complete_steps, poll_steps

M = TypeVar("M", bound=BaseModel)

V3 = "/api/open/v3"
LIVE = "/api/open/v4/liveAvatar"
KB = "/api/open/v4/knowledge"
SESSION_CLOSED_CODES = frozenset({1216, 1219})


class ListQuery(RequestModel):
    page: int = Field(default=1, ge=1)
    size: int = Field(default=100, ge=1, le=100)


class AvatarListQuery(ListQuery):
    platform: str = Field(default="open", pattern="^(open|aigc)$")


class SessionListQuery(ListQuery):
    status: int | None = Field(default=None, ge=1, le=4)


class VoiceListQuery(ListQuery):
    type: int = Field(default=2, ge=1, le=2)
    support_stream: int | None = Field(default=None, ge=1, le=2)
    name: str | None = None


class KnowledgeListQuery(ListQuery):
    size: int = Field(default=10, ge=1, le=100)
    name: str | None = None


def _data(reply: Reply, call: str) -> Any:
    if "data" not in reply or reply["data"] is None:
        raise AkoolError("Akool response has no data", code=reply.get("code"), endpoint=call)
    return reply["data"]


def _parse(model: type[M], payload: Any, endpoint: str) -> M:
    """Validate a response object; unreadable data becomes an AkoolError naming the fields, never
    a raw pydantic/TypeError (values are not echoed: responses may carry tokens)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise AkoolError(describe_validation_error(f"{endpoint} response", exc), endpoint=endpoint) from None


def _object(data: Any, endpoint: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise AkoolError(
            f"invalid {endpoint} response: data is a {type(data).__name__}, not an object", endpoint=endpoint
        )
    return data


def _items(data: Any, endpoint: str) -> list[Any]:
    if not isinstance(data, list):
        raise AkoolError(f"invalid {endpoint} response: expected a list, got {type(data).__name__}", endpoint=endpoint)
    return data


def _page(model: type[M], data: Any, endpoint: str = "list") -> Page[M]:
    # The knowledge-base list is documented as a bare array, the React demo reads
    # `data.knowledge_list` (§5.1): accept both besides the usual {count, result}.
    if isinstance(data, list):
        items = data
        return Page[model](count=len(items), result=[_parse(model, i, endpoint) for i in items])  # type: ignore[valid-type]
    if isinstance(data, dict):
        items = _items(data.get("result", data.get("knowledge_list", [])) or [], endpoint)
        count = data.get("count", len(items))
        if not isinstance(count, int) or isinstance(count, bool):
            count = len(items)
        return Page[model](  # type: ignore[valid-type]
            count=count,
            result=[_parse(model, i, endpoint) for i in items],
            page=data.get("page") if isinstance(data.get("page"), int) else None,
            size=data.get("size") if isinstance(data.get("size"), int) else None,
        )
    raise AkoolError(
        f"invalid {endpoint} response: unexpected list payload of type {type(data).__name__}", endpoint=endpoint
    )


def _query(model: type[RequestModel], what: str, values: dict[str, Any]) -> dict[str, Any]:
    return build_request(model, what, values).model_dump(exclude_none=True)


class AkoolOperations:
    """The Akool API surface. Subclasses supply ``send`` (sync or async) and ``config``."""

    is_async: bool = False
    config: ClientConfig

    # -- auth ------------------------------------------------------------------------------
    @operation
    def get_token(self) -> Steps[str]:
        """Exchange clientId/clientSecret for a bearer token. The reply is NOT wrapped in data (§1)."""
        body = {"clientId": self.config.client_id, "clientSecret": self.config.client_secret}
        reply = yield Call("POST", f"{V3}/getToken", "getToken", json=body, authenticated=False)
        token = reply.get("token")
        if not isinstance(token, str) or not token:
            raise AkoolError("getToken succeeded without a token", code=reply.get("code"), endpoint="getToken")
        return token

    # -- avatars -----------------------------------------------------------------------------
    @operation
    def create_avatar(self, url: str, avatar_id: str, name: str, url_from: int = 1) -> Steps[AvatarCreated]:
        """Upload a streaming avatar from a video URL (v3 create, type 2).

        Idempotent through the caller-chosen ``avatar_id``: when Akool answers 1222 (already
        exists) — including after a retry whose first response was lost — the existing avatar is
        fetched and returned with ``adopted=True`` instead of failing or creating a second one.
        """
        request = build_request(
            CreateAvatarRequest,
            "avatar create request",
            {"url": url, "avatar_id": avatar_id, "name": name, "url_from": url_from},
        )
        reply = yield Call(
            "POST", f"{V3}/avatar/create", "avatar.create", json=request.to_body(), accept_codes=frozenset({1222})
        )
        if reply.get("code") == 1222:
            existing = yield from self._avatar_detail(request.avatar_id)
            return AvatarCreated(avatar=existing, adopted=True)
        data = _data(reply, "avatar.create")
        return AvatarCreated(
            avatar=_parse(Avatar, {"avatar_id": request.avatar_id, **_object(data, "avatar.create")}, "avatar.create")
        )

    @operation
    def get_avatar_record(self, record_id: str) -> Steps[list[AvatarRecord]]:
        """v3 detail by upload record ``_id``; ``data`` is an array (§2.9)."""
        return (yield from self._avatar_records(record_id))

    def _avatar_records(self, record_id: str) -> Steps[list[AvatarRecord]]:
        if not record_id:
            raise AkoolRequestError("record_id must not be empty")
        reply = yield Call("GET", f"{V3}/avatar/detail", "avatar.record", params={"id": record_id})
        data = _data(reply, "avatar.record")
        items = data if isinstance(data, list) else [data]
        return [_parse(AvatarRecord, item, "avatar.record") for item in items]

    @operation
    def get_avatar(self, avatar_id: str) -> Steps[Avatar]:
        """v4 streaming avatar detail. Readiness: ``Avatar.state`` (status, else available)."""
        return (yield from self._avatar_detail(avatar_id))

    def _avatar_detail(self, avatar_id: str) -> Steps[Avatar]:
        if not avatar_id:
            raise AkoolRequestError("avatar_id must not be empty")
        reply = yield Call("GET", f"{LIVE}/avatar/detail", "avatar.detail", params={"avatar_id": avatar_id})
        return _parse(
            Avatar, {"avatar_id": avatar_id, **_object(_data(reply, "avatar.detail"), "avatar.detail")}, "avatar.detail"
        )

    @operation
    def read_avatar(self, avatar_id: str, *, want: Collection[str] = ("status",)) -> Steps[Avatar]:
        """The v4 detail, completed from the v3 upload record where it leaves readiness (``status``)
        or another wanted field (``create_time``, ``modify_url``) open; see ``readiness.py``."""
        avatar = yield from self._avatar_detail(avatar_id)
        return (yield from complete_steps(self, avatar, want))

    @operation
    def complete_avatar(self, avatar: Avatar, *, want: Collection[str] = ("status",)) -> Steps[Avatar]:
        """An avatar already read (detail or list item), completed like :meth:`read_avatar` does."""
        return (yield from complete_steps(self, avatar, want))

    @operation
    def poll_avatar(self, watch: AvatarWatch) -> Steps[AvatarPoll]:
        """One poll of a wait for an avatar, tolerating transient failures; see ``readiness.poll_steps``."""
        return (yield from poll_steps(self, watch))

    @operation
    def list_avatars(self, page: int = 1, size: int = 100, platform: str = "open") -> Steps[Page[Avatar]]:
        """One page of streaming avatars (size ≤ 100)."""
        params = _query(AvatarListQuery, "avatar list query", {"page": page, "size": size, "platform": platform})
        reply = yield Call("GET", f"{LIVE}/avatar/list", "avatar.list", params=params)
        return _page(Avatar, _data(reply, "avatar.list"), "avatar.list")

    # -- sessions ----------------------------------------------------------------------------
    @operation
    def create_session(self, request: CreateSessionRequest | None = None, /, **fields: Any) -> Steps[Session]:
        """Create a session with ONE attempt; credits for ``duration`` are pre-charged (§2.4).

        Never repeated after a failure that may have applied (timeout, reset, 5xx): that attempt may
        have opened a paid session, and Akool takes no idempotency key. ``sessions.open_session``
        wraps this call with the lost-create reconciliation (it finds and closes what such an
        attempt opened); use it rather than this call to open sessions.
        """
        if request is not None and fields:
            raise AkoolRequestError("pass either a CreateSessionRequest or keyword fields, not both")
        if request is None:
            request = build_request(CreateSessionRequest, "session create request", fields)
        reply = yield Call("POST", f"{LIVE}/session/create", "session.create", json=request.to_body(), idempotent=False)
        return _parse(Session, _data(reply, "session.create"), "session.create")

    @operation
    def get_session(self, session_id: str) -> Steps[Session]:
        """Session detail (credentials there carry no tokens)."""
        if not session_id:
            raise AkoolRequestError("session_id must not be empty")
        reply = yield Call("GET", f"{LIVE}/session/detail", "session.detail", params={"id": session_id})
        return _parse(Session, _data(reply, "session.detail"), "session.detail")

    @operation
    def close_session(self, session_id: str) -> Steps[CloseResult]:
        """Close a session (body ``{"id": ...}``, §2.6); 1216/1219 mean it is already closed.

        One close call; ``sessions.close_session`` repeats it until the close is confirmed.
        """
        if not session_id:
            raise AkoolRequestError("session_id must not be empty")
        reply = yield Call(
            "POST",
            f"{LIVE}/session/close",
            "session.close",
            json={"id": session_id},
            accept_codes=SESSION_CLOSED_CODES,
        )
        if reply.get("code") in SESSION_CLOSED_CODES:
            return CloseResult(session_id=session_id, already_closed=True)
        data = reply.get("data")  # either no data or {session_id, status: "closed", closed_at}
        status = data.get("status") if isinstance(data, dict) else None
        return CloseResult(session_id=session_id, status=str(status) if status is not None else None)

    @operation
    def list_sessions(self, page: int = 1, size: int = 100, status: int | None = None) -> Steps[Page[Session]]:
        """One page of sessions, optionally filtered by status (1..4)."""
        params = _query(SessionListQuery, "session list query", {"page": page, "size": size, "status": status})
        reply = yield Call("GET", f"{LIVE}/session/list", "session.list", params=params)
        return _page(Session, _data(reply, "session.list"), "session.list")

    # -- catalog -----------------------------------------------------------------------------
    @operation
    def list_voices(
        self,
        page: int = 1,
        size: int = 100,
        type: int = 2,
        support_stream: bool | None = None,
        name: str | None = None,
    ) -> Steps[Page[Voice]]:
        """One page of voices; ``type`` 1 = your clones, 2 = Akool voices (§5.2)."""
        stream_flag = None if support_stream is None else (1 if support_stream else 2)
        values = {"page": page, "size": size, "type": type, "support_stream": stream_flag, "name": name}
        params = _query(VoiceListQuery, "voice list query", values)
        reply = yield Call("GET", "/api/open/v4/voice/list", "voice.list", params=params)
        return _page(Voice, _data(reply, "voice.list"), "voice.list")

    @operation
    def list_languages(self) -> Steps[list[Language]]:
        """Languages usable for ``language`` / ``lang`` (§5.3)."""
        reply = yield Call("GET", f"{V3}/language/list", "language.list")
        data = _data(reply, "language.list")
        items = data.get("lang_list", []) if isinstance(data, dict) else data
        return [_parse(Language, item, "language.list") for item in _items(items or [], "language.list")]

    # -- knowledge bases ---------------------------------------------------------------------
    @operation
    def list_knowledge_bases(
        self, page: int = 1, size: int = 10, name: str | None = None
    ) -> Steps[Page[KnowledgeBase]]:
        """One page of knowledge bases, newest first."""
        params = _query(KnowledgeListQuery, "knowledge base list query", {"page": page, "size": size, "name": name})
        reply = yield Call("GET", f"{KB}/list", "knowledge.list", params=params)
        return _page(KnowledgeBase, _data(reply, "knowledge.list"), "knowledge.list")

    @operation
    def create_knowledge_base(self, /, **fields: Any) -> Steps[KnowledgeBase]:
        """Create a knowledge base; a repeat with the same name answers 1233 (already exists)."""
        request = build_request(KnowledgeBaseFields, "knowledge base", fields)
        reply = yield Call("POST", f"{KB}/create", "knowledge.create", json=request.to_body(), idempotent=False)
        return _parse(KnowledgeBase, _data(reply, "knowledge.create"), "knowledge.create")

    @operation
    def get_knowledge_base(self, knowledge_id: str) -> Steps[KnowledgeBase]:
        """Knowledge base detail."""
        return (yield from self._knowledge_detail(knowledge_id))

    def _knowledge_detail(self, knowledge_id: str) -> Steps[KnowledgeBase]:
        if not knowledge_id:
            raise AkoolRequestError("knowledge_id must not be empty")
        reply = yield Call("GET", f"{KB}/detail", "knowledge.detail", params={"id": knowledge_id})
        return _parse(KnowledgeBase, _data(reply, "knowledge.detail"), "knowledge.detail")

    @operation
    def update_knowledge_base(self, /, knowledge_id: str, **fields: Any) -> Steps[KnowledgeBase]:
        """Update fields of a knowledge base and return it as stored."""
        request = build_request(UpdateKnowledgeBaseRequest, "knowledge base update", {"id": knowledge_id, **fields})
        reply = yield Call("POST", f"{KB}/update", "knowledge.update", json=request.to_body())
        data = reply.get("data")
        if isinstance(data, dict) and "_id" in data:
            return _parse(KnowledgeBase, data, "knowledge.update")
        return (yield from self._knowledge_detail(knowledge_id))

    @operation
    def delete_knowledge_base(self, knowledge_id: str) -> Steps[None]:
        """Delete a knowledge base (DELETE with a JSON body, §5.1)."""
        if not knowledge_id:
            raise AkoolRequestError("knowledge_id must not be empty")
        yield Call("DELETE", f"{KB}/delete", "knowledge.delete", json={"id": knowledge_id})
        return None


__all__ = ["AkoolAlreadyExistsError", "AkoolOperations"]
