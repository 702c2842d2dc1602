"""S3 key construction from a template, with file names made safe.

Names and owner ids come from API data, so every field is cleaned before it becomes part of a key:
no ``..`` or absolute paths, no empty segments, no control characters, extension kept. A missing
file name is derived from the URL path (percent-decoded once; the result is cleaned like any name).
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from urllib.parse import unquote, urlsplit

DEFAULT_KEY_TEMPLATE = "{prefix}/{kind}/{owner_id}/{file_name}"
RUN_MANIFEST_TEMPLATE = "{prefix}/manifests/{dag}/{run}/{file_name}"
MAX_SEGMENT_BYTES = 200
MAX_KEY_BYTES = 1024  # S3 limit on a key, in UTF-8 bytes

_SAFE_PUNCTUATION = frozenset("-_.()")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")


def _clean_segment(text: str) -> str:
    """One path segment: letters, digits and ``-_.()`` only; no dot runs; no leading dots."""
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for ch in text:
        if unicodedata.category(ch).startswith("C"):
            continue  # control, format, surrogate, private-use, unassigned
        out.append(ch if ch.isalnum() or ch in _SAFE_PUNCTUATION else "_")
    cleaned = "".join(out)
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    cleaned = re.sub(r"_{2,}", "_", cleaned)
    cleaned = cleaned.strip("._ ")
    return _truncate_keeping_extension(cleaned, MAX_SEGMENT_BYTES)


def _truncate_keeping_extension(name: str, max_bytes: int) -> str:
    if len(name.encode("utf-8")) <= max_bytes:
        return name
    match = _EXTENSION.search(name)
    ext = match.group(0) if match else ""
    stem = name[: len(name) - len(ext)]
    budget = max_bytes - len(ext.encode("utf-8"))
    stem_bytes = stem.encode("utf-8")[:budget]
    return stem_bytes.decode("utf-8", errors="ignore").rstrip("._ ") + ext


def sanitize_file_name(name: str, *, fallback: str = "resource") -> str:
    """Make ``name`` a single safe key segment, keeping its extension.

    Path parts are dropped (``../../etc/passwd`` -> ``passwd``, ``C:\\x\\a.mp4`` -> ``a.mp4``); if
    nothing usable remains, ``fallback`` is returned.
    """
    pieces = re.split(r"[/\\]", unicodedata.normalize("NFC", name))
    for piece in reversed(pieces):
        cleaned = _clean_segment(piece)
        if cleaned:
            return cleaned
    return _clean_segment(fallback) or "resource"


def file_name_from_url(url: str) -> str:
    """File name taken from the last non-empty URL path segment, or ``resource-<hash>``.

    The segment is percent-decoded exactly once and then cleaned, so ``%2e%2e%2f`` cannot climb
    out of the key; the hash fallback keeps distinct name-less URLs apart.
    """
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    for segment in reversed(path.split("/")):
        if segment:
            cleaned = sanitize_file_name(unquote(segment, errors="replace"), fallback="")
            if cleaned:
                return cleaned
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]
    return f"resource-{digest}"


def _template_fields(template: str) -> list[str]:
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"key template: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"key template: field {{{name}}} must be a plain {{name}}")
        names.append(name)
    return names


def build_key(
    template: str = DEFAULT_KEY_TEMPLATE,
    *,
    source_url: str | None = None,
    **fields: str | int | None,
) -> str:
    """Render an S3 key from ``template`` with every field cleaned.

    ``file_name`` is one segment (derived from ``source_url`` when missing or empty); other fields
    may contain ``/`` (e.g. a prefix ``akool/archive``) and are cleaned segment by segment; empty
    segments disappear, so an empty prefix gives no leading ``/``. Raises ``ValueError`` naming a
    template field without a value, or if the key would exceed S3's 1024-byte limit.
    """
    values: dict[str, str] = {}
    for name in _template_fields(template):
        raw = fields.get(name)
        if name == "file_name":
            if raw is None or not str(raw).strip():
                if source_url is None:
                    raise ValueError("build_key: file_name is empty and no source_url to derive it from")
                values[name] = file_name_from_url(source_url)
            else:
                values[name] = sanitize_file_name(str(raw))
        elif raw is None:
            raise ValueError(f"build_key: template field {name!r} has no value")
        else:
            segments = (_clean_segment(part) for part in re.split(r"[/\\]", str(raw)))
            values[name] = "/".join(seg for seg in segments if seg)
    rendered = template.format(**values)
    parts = [seg for seg in rendered.split("/") if seg]
    if any(seg in (".", "..") for seg in parts):
        raise ValueError("build_key: template contains a '.' or '..' segment")
    if not parts:
        raise ValueError("build_key: key is empty")
    key = "/".join(parts)
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"build_key: key is longer than {MAX_KEY_BYTES} bytes")
    return key


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def run_manifest_key(prefix: str, *, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """Where a task's manifest goes: ``<prefix>/manifests/<dag_id>/<run_id>/<task_id>[-<map_index>].json``.

    One key per task (and mapped instance) per DAG run, so a retry replaces its own manifest and
    the archive and transcript manifests of a run sit side by side. Names are sanitised.
    """
    suffix = f"-{map_index}" if map_index >= 0 else ""
    return build_key(RUN_MANIFEST_TEMPLATE, prefix=prefix, dag=dag_id, run=run_id, file_name=f"{task_id}{suffix}.json")


def check_bucket(value: object, *, field: str = "bucket") -> str:
    """``value`` if it is an S3 bucket name, else ValueError naming ``field``."""
    if not isinstance(value, str) or not _BUCKET.match(value):
        raise ValueError(f"{field}: must be an S3 bucket name (3-63 lower-case letters, digits, '.', '-')")
    return value


def check_key(value: object, *, field: str = "key") -> str:
    """``value`` if it is a safe relative S3 key, else ValueError naming ``field``.

    Refuses absolute keys, empty / ``.`` / ``..`` segments and backslashes, so that an explicit key
    cannot climb out of the prefix a user chose.
    """
    if not isinstance(value, str) or not value or value.startswith("/") or len(value.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"{field}: must be a non-empty relative S3 key of at most {MAX_KEY_BYTES} bytes")
    if "\\" in value or any(segment in ("", ".", "..") for segment in value.split("/")):
        raise ValueError(f"{field}: must not contain empty, '.' or '..' path segments or backslashes")
    return value
