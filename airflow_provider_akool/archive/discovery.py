"""Turn what a DAG knows about Akool resources into :class:`ResourceSpec` lists for the batch.

Inputs are plain URLs, records handed over by upstream tasks (the avatar operator's record,
voice records, dumps of the client's ``Avatar``/``Voice`` models, or dicts shaped like
``ResourceSpec``), or discovery through the API (given avatar ids, every avatar, every voice).
URL-bearing fields per docs/reference/akool-api.md §2.1-2.3 and §5.2/§5.4: avatars ``url``, ``modify_url``,
``thumbnailUrl``; voices ``preview``. Airflow-free: API calls go through ``AkoolClient``.

Caller input is checked before anything is fetched and refused with a ``ValueError`` naming the
offending element (``sources[2].thumbnail_url: scheme 'file' is not allowed``). URLs that come
back from the API are not the caller's mistake: they are recorded as failed results instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from airflow_provider_akool.archive.errors import SourceURLError
from airflow_provider_akool.archive.models import ArchiveResult, ArchiveStatus, ResourceSpec
from airflow_provider_akool.archive.settings import check_platforms, check_voice_types
from airflow_provider_akool.archive.urls import ALLOWED_SCHEMES, normalise_hosts, redact_url, validate_source_url

if TYPE_CHECKING:
    from airflow_provider_akool.client import AkoolClient
    from airflow_provider_akool.client.models import Avatar

# (kind used in the S3 key, record fields holding the URL, label used in names)
AVATAR_URL_FIELDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("avatar-video", ("url",), "video"),
    ("avatar-modified-video", ("modify_url",), "modified video"),
    ("avatar-thumbnail", ("thumbnail_url", "thumbnailUrl"), "thumbnail"),
)
VOICE_KIND = "voice-preview"
URL_KIND = "url"
MAX_NAME = 200


def check_url(
    url: object, *, field: str, schemes: frozenset[str] = ALLOWED_SCHEMES, allowed_hosts: frozenset[str] | None = None
) -> str:
    """The stripped URL if its scheme and host are allowed, else :class:`SourceURLError` naming ``field``."""
    if not isinstance(url, str):
        raise SourceURLError(f"{field}: must be an http(s) URL string (got {type(url).__name__})")
    checked = validate_source_url(url, field=field, allowed_hosts=allowed_hosts)
    scheme = urlsplit(checked).scheme.lower()
    if scheme not in schemes:
        raise SourceURLError(f"{field}: scheme {scheme!r} is not allowed (only {', '.join(sorted(schemes))})")
    return checked


def _moment(value: object, field: str) -> datetime | None:
    """A timestamp from a datetime, an ISO-8601 string, or epoch milliseconds (Akool ``create_time``)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # Akool sends ms; tolerate seconds
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{field}: not an ISO-8601 timestamp ({value[:40]!r})") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"{field}: expected a timestamp, got {type(value).__name__}")


def _as_dict(record: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    return record.model_dump() if isinstance(record, BaseModel) else dict(record)


def _owner(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: must be a non-empty string")
    return value.strip()


def _first_url(data: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, object] | None:
    for name in names:
        value = data.get(name)
        if value not in (None, ""):
            return name, value
    return None


def _dated(data: Mapping[str, Any], field: str) -> tuple[datetime | None, datetime | None]:
    created_field = "created_at" if data.get("created_at") not in (None, "") else "create_time"
    created = _moment(data.get(created_field), f"{field}.{created_field}")
    return created, _moment(data.get("expires_at"), f"{field}.expires_at")


def avatar_specs(record: Mapping[str, Any] | BaseModel, *, field: str = "avatar") -> list[tuple[str, ResourceSpec]]:
    """One ``(field path, spec)`` per URL of an avatar: preview video, modified video, thumbnail."""
    data = _as_dict(record)
    avatar_id = _owner(data.get("avatar_id"), f"{field}.avatar_id")
    created, expires = _dated(data, field)
    out: list[tuple[str, ResourceSpec]] = []
    for kind, names, label in AVATAR_URL_FIELDS:
        found = _first_url(data, names)
        if found is None:
            continue
        name, url = found
        if not isinstance(url, str):
            raise ValueError(f"{field}.{name}: must be a URL string")
        spec = ResourceSpec(
            url=url.strip() or url,
            kind=kind,
            owner_id=avatar_id,
            name=f"avatar {avatar_id} {label}",
            created_at=created,
            expires_at=expires,
        )
        out.append((f"{field}.{name}", spec))
    return out


def voice_specs(record: Mapping[str, Any] | BaseModel, *, field: str = "voice") -> list[tuple[str, ResourceSpec]]:
    """The ``preview`` sample of a voice, if it has one."""
    data = _as_dict(record)
    voice_id = _owner(data.get("voice_id"), f"{field}.voice_id")
    url = data.get("preview")
    if url in (None, ""):
        return []
    if not isinstance(url, str):
        raise ValueError(f"{field}.preview: must be a URL string")
    created, expires = _dated(data, field)
    spec = ResourceSpec(
        url=url.strip() or url,
        kind=VOICE_KIND,
        owner_id=voice_id,
        name=f"voice {voice_id} preview",
        created_at=created,
        expires_at=expires,
    )
    return [(f"{field}.preview", spec)]


def url_spec(url: str) -> ResourceSpec:
    """A bare URL: grouped under ``url/<host>-<hash of host and path>`` so equal file names never collide."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "unknown").lower()
        identity = f"{parts.scheme.lower()}://{host}{parts.path}"
    except ValueError:
        host, identity = "unknown", url
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:10]
    return ResourceSpec(url=url.strip(), kind=URL_KIND, owner_id=f"{host}-{digest}", name=redact_url(url)[:MAX_NAME])


def _check_explicit_key(key: str | None, field: str) -> None:
    if key is None:
        return
    segments = key.split("/")
    if key.startswith("/") or "\\" in key or any(seg in ("", ".", "..") for seg in segments):
        raise ValueError(f"{field}.key: must be a relative S3 key without empty, '.' or '..' segments")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise ValueError(f"{field}.key: contains control characters")


def _spec_record(data: Mapping[str, Any], field: str) -> tuple[str, ResourceSpec]:
    try:
        spec = ResourceSpec.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{field}.{where}: {first['msg']}") from None
    _check_explicit_key(spec.key, field)
    return f"{field}.url", spec


def _element(item: object, field: str) -> list[tuple[str, ResourceSpec]]:
    if isinstance(item, str):
        return [(field, url_spec(item))]
    if isinstance(item, ResourceSpec):
        _check_explicit_key(item.key, field)
        return [(f"{field}.url", item)]
    if isinstance(item, BaseModel | Mapping):
        data = _as_dict(item)
        if "avatar_id" in data:
            return avatar_specs(data, field=field)
        if "voice_id" in data:
            return voice_specs(data, field=field)
        if "url" in data:
            return [_spec_record(data, field)]
        raise ValueError(f"{field}: a record needs avatar_id, voice_id or url (got keys {sorted(data)[:8]})")
    raise ValueError(f"{field}: expected a URL string or a record, got {type(item).__name__}")


def _flatten(items: object, field: str) -> Iterable[tuple[str, object]]:
    if items is None:
        return []
    if isinstance(items, str | bytes | Mapping | BaseModel):
        return [(field, items)]
    if not isinstance(items, Iterable):
        raise ValueError(f"{field}: expected a list of URLs or records, got {type(items).__name__}")
    out: list[tuple[str, object]] = []
    for index, item in enumerate(items):
        if isinstance(item, list | tuple):  # e.g. a mapped upstream task whose instances return lists
            out.extend((f"{field}[{index}][{inner}]", sub) for inner, sub in enumerate(item))
        else:
            out.append((f"{field}[{index}]", item))
    return out


def specs_from_inputs(
    items: object,
    *,
    field: str = "sources",
    schemes: frozenset[str] = ALLOWED_SCHEMES,
    allowed_hosts: Iterable[str] | None = None,
) -> list[ResourceSpec]:
    """Specs for a URL, a record, or a list of them (one level of nested lists is flattened).

    ``None`` elements (an upstream task that produced nothing) are skipped. Every URL is checked
    against ``schemes`` and ``allowed_hosts``; the first bad element raises ``ValueError`` naming it.
    """
    hosts = normalise_hosts(allowed_hosts)
    specs: list[ResourceSpec] = []
    for path, item in _flatten(items, field):
        if item is None:
            continue
        if isinstance(item, bytes):
            raise ValueError(f"{path}: expected a URL string, got bytes")
        for where, spec in _element(item, path):
            url = check_url(spec.url, field=where, schemes=schemes, allowed_hosts=hosts)
            specs.append(spec if url == spec.url else spec.model_copy(update={"url": url}))
    return specs


def failed_result(spec: ResourceSpec, reason: str) -> ArchiveResult:
    """A FAILED manifest entry for a resource that was never fetched."""
    return ArchiveResult(
        name=spec.name or redact_url(spec.url)[:MAX_NAME],
        source_url=spec.url,
        status=ArchiveStatus.FAILED,
        reason=reason,
        created_at=spec.created_at,
        expires_at=spec.effective_expires_at,
    )


def refuse_disallowed(
    specs: Iterable[ResourceSpec],
    *,
    schemes: frozenset[str] = ALLOWED_SCHEMES,
    allowed_hosts: Iterable[str] | None = None,
) -> tuple[list[ResourceSpec], list[ArchiveResult]]:
    """Split API-provided specs into fetchable ones and FAILED results for refused URLs."""
    hosts = normalise_hosts(allowed_hosts)
    ok: list[ResourceSpec] = []
    refused: list[ArchiveResult] = []
    for spec in specs:
        try:
            check_url(spec.url, field="url", schemes=schemes, allowed_hosts=hosts)
        except ValueError as exc:
            refused.append(failed_result(spec, f"refused before download: {exc}"))
            continue
        ok.append(spec)
    return ok, refused


def dedupe(specs: Iterable[ResourceSpec]) -> list[ResourceSpec]:
    """First spec per URL, input order kept (the same video listed twice is archived once)."""
    seen: set[str] = set()
    out: list[ResourceSpec] = []
    for spec in specs:
        if spec.url not in seen:
            seen.add(spec.url)
            out.append(spec)
    return out


# The v4 list and detail lack the creation time and ``modify_url``; the v3 upload record has them (§2.9).
RECORD_FIELDS = ("create_time", "modify_url")


def discover_avatars(
    client: AkoolClient,
    *,
    avatar_ids: Sequence[str] = (),
    all_avatars: bool = False,
    platforms: Sequence[str] = ("open",),
    complete: bool = True,
) -> tuple[list[ResourceSpec], list[ArchiveResult]]:
    """Specs for the given avatar ids and/or every listed avatar, plus FAILED results for ids Akool
    could not return. ``complete`` asks the v3 upload record for creation time and ``modify_url``
    (``AkoolClient.complete_avatar``: best effort, official avatars may have no record visible to us)."""
    from airflow_provider_akool.client import AkoolBadParameterError, AkoolNotFoundError

    check_platforms(platforms, field="platforms")
    avatars: dict[str, Avatar] = {}
    if all_avatars:
        for platform in platforms:
            for avatar in client.paginate(client.list_avatars, platform=platform):
                avatars.setdefault(avatar.avatar_id, avatar)
    problems: list[ArchiveResult] = []
    for avatar_id in avatar_ids:
        if avatar_id in avatars:
            continue
        try:
            avatars[avatar_id] = client.get_avatar(avatar_id)
        except (AkoolNotFoundError, AkoolBadParameterError) as exc:
            # Only what concerns this one avatar is a per-resource failure; account-wide errors
            # (auth, permission, quota, outage) propagate and fail the whole batch at once.
            problems.append(
                ArchiveResult(name=f"avatar {avatar_id}", source_url="", status=ArchiveStatus.FAILED, reason=str(exc))
            )
    specs: list[ResourceSpec] = []
    for avatar in avatars.values():
        found = client.complete_avatar(avatar, want=RECORD_FIELDS) if complete else avatar
        specs.extend(spec for _, spec in avatar_specs(found, field=f"avatar {avatar.avatar_id}"))
    return specs, problems


def discover_voices(client: AkoolClient, *, voice_types: Sequence[int] = (1, 2)) -> list[ResourceSpec]:
    """Specs for the ``preview`` of every voice of the given types (1 = your clones, 2 = Akool voices)."""
    check_voice_types(voice_types, field="voice_types")
    specs: list[ResourceSpec] = []
    for voice_type in voice_types:
        for voice in client.paginate(client.list_voices, type=voice_type):
            specs.extend(spec for _, spec in voice_specs(voice, field=f"voice {voice.voice_id}"))
    return specs
