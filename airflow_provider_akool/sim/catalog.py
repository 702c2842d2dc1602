"""Seeded voices (v4 voice list, docs/reference/akool-api.md §5.2) and languages (v3 language list, §5.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clock import SimClock
from .files import FileStore
from .ids import SIM_TEAM_ID, SIM_UID, IdFactory

CLONED, AKOOL = 1, 2  # voice list `type`

# (voice_id, type, name, gender, language, locale, model, support_stream)
_VOICES: tuple[tuple[str, int, str, str, str, str, str, bool], ...] = (
    ("iP95p4xoKVk53GoZ742B", AKOOL, "Tristan", "Male", "English", "en-US", "Akool Multilingual 1", True),
    ("simVoiceNora00000001", AKOOL, "Nora", "Female", "English", "en-GB", "Akool Multilingual 3", True),
    ("simVoiceLeo000000002", AKOOL, "Leo", "Male", "Spanish", "es-ES", "Akool Multilingual 1", True),
    ("simVoiceInes00000003", AKOOL, "Ines", "Female", "French", "fr-FR", "Akool Multilingual 2", False),
    ("simVoiceOtto00000004", AKOOL, "Otto", "Male", "German", "de-DE", "Akool Multilingual 2", False),
    ("simVoiceMyClone00005", CLONED, "My cloned voice", "Female", "English", "en-US", "Akool Multilingual 3", True),
)

# (lang_code, lang_name)
_LANGUAGES: tuple[tuple[str, str], ...] = (
    ("en-US", "English (United States)"),
    ("es-ES", "Spanish (Spain)"),
    ("fr-FR", "French (France)"),
    ("de-DE", "German (Germany)"),
    ("zh-CN", "Chinese (Mandarin, Simplified)"),
)


@dataclass
class Voice:
    record_id: str
    voice_id: str
    voice_type: int
    name: str
    gender: str
    language: str
    locale: str
    model: str
    support_stream: bool
    preview_path: str
    created_ms: int


class Catalog:
    def __init__(self, clock: SimClock, ids: IdFactory, files: FileStore, file_size: int) -> None:
        now_ms = clock.now_ms()
        self.voices: list[Voice] = []
        for voice_id, vtype, name, gender, language, locale, model, stream in _VOICES:
            preview = files.add(file_size, "audio/mpeg", f"{voice_id}.mp3")
            self.voices.append(
                Voice(
                    ids.object_id(),
                    voice_id,
                    vtype,
                    name,
                    gender,
                    language,
                    locale,
                    model,
                    stream,
                    preview.path,
                    now_ms,
                )
            )
        self.languages: list[tuple[str, str, str]] = []
        for code, name in _LANGUAGES:
            flag = files.add(min(file_size, 4096), "image/png", f"flag-{code}.png")
            self.languages.append((code, name, flag.path))

    def voice(self, voice_id: str) -> Voice | None:
        return next((v for v in self.voices if v.voice_id == voice_id), None)

    def find(self, voice_type: int, support_stream: int | None, name: str | None) -> list[Voice]:
        found = [v for v in self.voices if v.voice_type == voice_type]
        if support_stream is not None:
            found = [v for v in found if v.support_stream == (support_stream == 1)]
        if name:
            found = [v for v in found if name.lower() in v.name.lower()]
        return found

    @staticmethod
    def voice_item(voice: Voice, base: str) -> dict[str, Any]:
        return {
            "_id": voice.record_id,
            "uid": SIM_UID,
            "team_id": SIM_TEAM_ID,
            "voice_id": voice.voice_id,
            "gender": voice.gender,
            "language": voice.language,
            "locale": voice.locale,
            "name": voice.name,
            "preview": base + voice.preview_path,
            "text": f"Hello, I am {voice.name}.",
            "duration": 3200,
            "status": 3,
            "create_time": voice.created_ms,
            "update_time": voice.created_ms,
            "style": ["Calm"],
            "scenario": ["Assistant"],
            "age": ["Adult"],
            "deduction_credit": 0,
            "webhookUrl": "",
            "voice_model_name": voice.model,
            "support_stream": voice.support_stream,
        }

    def language_items(self, base: str) -> list[dict[str, str]]:
        return [{"lang_code": c, "lang_name": n, "url": base + p} for c, n, p in self.languages]
