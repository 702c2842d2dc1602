"""What AkoolArchiveToS3Operator checks when a DAG is parsed: literal values fail there, naming the field.

Templated values (``{{ ... }}``) are checked again after rendering, in the operator's ``execute``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_akool.archive.keys import check_bucket, check_key

SCHEMES = ("http", "https")


def templated(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def as_list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes | dict):
        return [value]
    return list(value) if isinstance(value, Iterable) else [value]


def check_manifest_key(value: object) -> str | None:
    """None (use the per-run default) or a safe relative key, else ValueError naming ``manifest_key``."""
    return None if value is None or value == "" else check_key(value, field="manifest_key")


def check_archive_parameters(
    *,
    sources: Any,
    avatar_ids: Sequence[str] | str | None,
    all_avatars: bool,
    all_voices: bool,
    s3_bucket: str,
    max_concurrency: int,
    upload_concurrency: int,
    part_size: int | None,
    hash_first: bool,
    progress_interval: float,
    allowed_schemes: Sequence[str],
    avatar_platforms: Sequence[str],
    voice_types: Sequence[int],
    manifest_key: str | None,
) -> set[str]:
    """Raise ValueError naming the first bad parameter; return the allowed URL schemes, lower-cased."""
    if sources is None and not avatar_ids and not all_avatars and not all_voices:
        raise ValueError("sources: nothing to archive; give sources, avatar_ids, all_avatars or all_voices")
    if not templated(s3_bucket):
        check_bucket(s3_bucket, field="s3_bucket")
    for name, value in (("max_concurrency", max_concurrency), ("upload_concurrency", upload_concurrency)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
            raise ValueError(f"{name}: must be an integer between 1 and 64 (got {value!r})")
    if part_size is not None and (
        isinstance(part_size, bool) or not isinstance(part_size, int) or part_size < 5 * 1024 * 1024
    ):
        raise ValueError(f"part_size: must be an integer of at least 5 MiB (got {part_size!r})")
    if not isinstance(hash_first, bool):
        raise ValueError(f"hash_first: must be True or False (got {hash_first!r})")
    if progress_interval < 0:
        raise ValueError(f"progress_interval: must not be negative (got {progress_interval!r})")
    schemes = {str(s).lower() for s in as_list(allowed_schemes)}
    if not schemes or not schemes <= set(SCHEMES):
        raise ValueError(f"allowed_schemes: must be a non-empty subset of http, https (got {sorted(schemes)})")
    if not set(as_list(avatar_platforms)) <= {"open", "aigc"}:
        raise ValueError(f"avatar_platforms: allowed values are 'open', 'aigc' (got {avatar_platforms!r})")
    if not set(as_list(voice_types)) <= {1, 2}:
        raise ValueError(f"voice_types: allowed values are 1 (your clones), 2 (Akool voices) (got {voice_types!r})")
    if not templated(manifest_key):
        check_manifest_key(manifest_key)
    literal = [sources] if isinstance(sources, str) else sources if isinstance(sources, list | tuple) else []
    for index, item in enumerate(literal):  # literal URLs fail at parse time
        if isinstance(item, str) and not templated(item):
            scheme = urlsplit(item.strip()).scheme.lower()
            if scheme not in schemes:
                raise ValueError(
                    f"sources[{index}]: scheme {scheme or '(none)'!r} is not allowed "
                    f"(only {', '.join(sorted(schemes))})"
                )
    return schemes
