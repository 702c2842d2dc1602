"""Knowledge bases (v4, docs/reference/akool-api.md §5.1): limits, unique names, codes 1232/1233."""

from __future__ import annotations

from typing import Any

from .clock import SimClock
from .envelope import KB_EXISTS, KB_NOT_FOUND, AkoolError, as_int, as_str, invalid, need_str
from .ids import SIM_TEAM_ID, SIM_UID, IdFactory

MAX_DOC_BYTES = 104_857_600
MAX_TOTAL_DOC_BYTES = 524_288_000
_TEXT_LIMITS = {"name": 100, "prologue": 2000, "prompt": 10000}


def _docs(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise invalid("docs", "must be an array of {name, url, size}")
    docs: list[dict[str, Any]] = []
    total = 0
    for i, doc in enumerate(value):
        if not isinstance(doc, dict):
            raise invalid(f"docs[{i}]", "must be an object with name, url, size")
        name = need_str(doc.get("name"), f"docs[{i}].name")
        url = need_str(doc.get("url"), f"docs[{i}].url")
        size = as_int(doc.get("size"), f"docs[{i}].size", default=0)
        if size < 0 or size > MAX_DOC_BYTES:
            raise invalid(f"docs[{i}].size", f"must be between 0 and {MAX_DOC_BYTES} bytes")
        total += size
        docs.append({"name": name, "url": url, "size": size})
    if total > MAX_TOTAL_DOC_BYTES:
        raise invalid("docs", f"total size must be at most {MAX_TOTAL_DOC_BYTES} bytes")
    return docs


def _urls(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise invalid("urls", "must be an array of strings")
    return list(value)


class KnowledgeStore:
    def __init__(self, clock: SimClock, ids: IdFactory) -> None:
        self._clock = clock
        self._ids = ids
        self._items: dict[str, dict[str, Any]] = {}

    def _fields(self, body: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key, limit in _TEXT_LIMITS.items():
            if key in body:
                fields[key] = as_str(body[key], key, max_len=limit) or ""
        if "docs" in body:
            fields["docs"] = _docs(body["docs"])
        if "urls" in body:
            fields["urls"] = _urls(body["urls"])
        return fields

    def _check_name_free(self, name: str, exclude: str | None = None) -> None:
        if name and any(kb["name"] == name and kb["_id"] != exclude for kb in self._items.values()):
            raise AkoolError(KB_EXISTS, f"knowledge base named '{name}' already exists")

    def get(self, kb_id: str) -> dict[str, Any]:
        kb = self._items.get(kb_id)
        if kb is None:
            raise AkoolError(KB_NOT_FOUND, "knowledge base not found")
        return kb

    def exists(self, kb_id: str) -> bool:
        return kb_id in self._items

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        fields = self._fields(body)
        self._check_name_free(fields.get("name", ""))
        now = self._clock.now_ms()
        kb: dict[str, Any] = {
            "_id": self._ids.object_id(),
            "team_id": SIM_TEAM_ID,
            "uid": SIM_UID,
            "user_type": 2,
            "from": 2,
            "name": "",
            "prologue": "",
            "prompt": "",
            "docs": [],
            "urls": [],
            "create_time": now,
            "update_time": now,
        }
        kb.update(fields)
        self._items[kb["_id"]] = kb
        return kb

    def update(self, kb_id: str, body: dict[str, Any]) -> dict[str, Any]:
        kb = self.get(kb_id)
        fields = self._fields(body)
        if "name" in fields:
            self._check_name_free(fields["name"], exclude=kb_id)
        kb.update(fields)
        kb["update_time"] = self._clock.now_ms()
        return kb

    def delete(self, kb_id: str) -> None:
        self.get(kb_id)
        del self._items[kb_id]

    def find(self, name: str | None) -> list[dict[str, Any]]:
        """Newest first, optionally filtered by a name fragment."""
        items = list(reversed(self._items.values()))  # insertion order is creation order
        if name:
            items = [kb for kb in items if name.lower() in kb["name"].lower()]
        return items

    def snapshot(self) -> list[dict[str, Any]]:
        return [dict(kb) for kb in self._items.values()]
