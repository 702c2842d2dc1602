"""Streaming avatars: seeded official ones and uploads whose status advances with simulated time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clock import SimClock
from .config import SimConfig
from .files import FileStore
from .ids import SIM_UID, IdFactory

OFFICIAL = 2  # `from` value for official avatars (docs/reference/akool-api.md §3)
USER = 3  # `from` value for uploaded avatars
STREAMING = 2  # `type` of streaming avatars

QUEUEING, PROCESSING, READY, FAILED = 1, 2, 3, 4

# (avatar_id, name, gender, voice_id, available, platform)
_SEED: tuple[tuple[str, str, str, str, bool, str], ...] = (
    ("dvp_Tristan_cloth2_1080P", "Tristan", "male", "iP95p4xoKVk53GoZ742B", True, "open"),
    ("dvp_Mirela_studio_1080P", "Mirela", "female", "simVoiceNora00000001", True, "open"),
    ("dvp_Oskar_casual_720P", "Oskar", "male", "simVoiceLeo000000002", True, "open"),
    ("dvp_Ilse_offline_1080P", "Ilse", "female", "simVoiceNora00000001", False, "open"),
    ("aigc_Rae_webapp_1080P", "Rae", "female", "simVoiceNora00000001", True, "aigc"),
)
DEFAULT_UPLOAD_VOICE = "simVoiceNora00000001"


@dataclass
class Avatar:
    record_id: str
    avatar_id: str
    name: str
    origin: int
    platform: str
    voice_id: str
    gender: str
    created_ms: int
    url_path: str
    modify_url_path: str
    thumbnail_path: str
    official_available: bool = True
    source_url: str = ""
    url_from: int = 1


class AvatarStore:
    def __init__(self, config: SimConfig, clock: SimClock, ids: IdFactory, files: FileStore) -> None:
        self._config = config
        self._clock = clock
        self._ids = ids
        self._files = files
        self._by_avatar_id: dict[str, Avatar] = {}
        self._by_record_id: dict[str, Avatar] = {}
        for avatar_id, name, gender, voice_id, available, platform in _SEED:
            avatar = self._new(avatar_id, name, OFFICIAL, platform, voice_id, gender)
            avatar.official_available = available
            self._add(avatar)

    def _new(self, avatar_id: str, name: str, origin: int, platform: str, voice_id: str, gender: str) -> Avatar:
        size = self._config.resource_size_bytes
        video = self._files.add(size, "video/mp4", f"{avatar_id}.mp4")
        modified = self._files.add(size, "video/mp4", f"{avatar_id}_modify.mp4")
        thumb = self._files.add(size, "image/jpeg", f"{avatar_id}.jpg")
        return Avatar(
            record_id=self._ids.object_id(),
            avatar_id=avatar_id,
            name=name,
            origin=origin,
            platform=platform,
            voice_id=voice_id,
            gender=gender,
            created_ms=self._clock.now_ms(),
            url_path=video.path,
            modify_url_path=modified.path,
            thumbnail_path=thumb.path,
        )

    def _add(self, avatar: Avatar) -> None:
        self._by_avatar_id[avatar.avatar_id] = avatar
        self._by_record_id[avatar.record_id] = avatar

    def upload(self, avatar_id: str, name: str, source_url: str, url_from: int) -> Avatar:
        avatar = self._new(avatar_id, name, USER, "open", DEFAULT_UPLOAD_VOICE, "")
        avatar.source_url = source_url
        avatar.url_from = url_from
        self._add(avatar)
        return avatar

    def by_avatar_id(self, avatar_id: str) -> Avatar | None:
        return self._by_avatar_id.get(avatar_id)

    def by_record_id(self, record_id: str) -> Avatar | None:
        return self._by_record_id.get(record_id)

    def all(self) -> list[Avatar]:
        return list(self._by_avatar_id.values())

    def status(self, avatar: Avatar) -> int:
        if avatar.origin == OFFICIAL:
            return READY
        elapsed = self._clock.now() - avatar.created_ms / 1000
        if elapsed < self._config.avatar_queue_seconds:
            return QUEUEING
        if elapsed < self._config.avatar_queue_seconds + self._config.avatar_processing_seconds:
            return PROCESSING
        return FAILED if "fail" in avatar.source_url else READY

    def available(self, avatar: Avatar) -> bool:
        if avatar.origin == OFFICIAL:
            return avatar.official_available
        return self.status(avatar) == READY

    def listing(self, platform: str) -> list[Avatar]:
        return [a for a in self._by_avatar_id.values() if a.platform == platform]

    # ---- wire shapes ------------------------------------------------------------------------

    def create_record(self, avatar: Avatar, base: str) -> dict[str, Any]:
        """`data` of POST /api/open/v3/avatar/create (docs/reference/akool-api.md §2.1)."""
        return {
            "_id": avatar.record_id,
            "disabled": False,
            "uid": SIM_UID,
            "type": STREAMING,
            "from": avatar.origin,
            "status": self.status(avatar),
            "sort": 0,
            "create_time": avatar.created_ms,
            "name": avatar.name,
            "avatar_id": avatar.avatar_id,
            "url": base + avatar.url_path,
            "modify_url": base + avatar.modify_url_path,
            "gender": avatar.gender,
            "thumbnailUrl": base + avatar.thumbnail_path,
            "crop_arr": [],
        }

    def v3_detail(self, avatar: Avatar, base: str) -> dict[str, Any]:
        """One element of the array GET /api/open/v3/avatar/detail returns (§2.9)."""
        record = self.create_record(avatar, base)
        record["update_time"] = self._clock.now_ms()
        return record

    def v4_item(self, avatar: Avatar, base: str) -> dict[str, Any]:
        """An avatar list item (§2.2); `status` is left out when include_avatar_status is False."""
        item: dict[str, Any] = {
            "_id": avatar.record_id,
            "uid": SIM_UID,
            "type": STREAMING,
            "from": avatar.origin,
            "avatar_id": avatar.avatar_id,
            "voice_id": avatar.voice_id,
            "name": avatar.name,
            "url": base + avatar.url_path,
            "thumbnailUrl": base + avatar.thumbnail_path,
            "gender": avatar.gender,
            "available": self.available(avatar),
        }
        if self._config.include_avatar_status:
            item["status"] = self.status(avatar)
        return item

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "_id": a.record_id,
                "avatar_id": a.avatar_id,
                "name": a.name,
                "from": a.origin,
                "platform": a.platform,
                "status": self.status(a),
                "available": self.available(a),
                "create_time": a.created_ms,
                "source_url": a.source_url,
            }
            for a in self._by_avatar_id.values()
        ]
