"""What one archive run is asked to do, checked in one place: :class:`ArchiveSettings`.

``checked()`` validates every value and returns :class:`CheckedArchiveSettings`, what
:func:`~airflow_provider_akool.archive.run.run_archive` works from; a bad value raises
:class:`ArchiveInputError` naming the field, before anything is fetched or written.
``check_declared()`` is the subset a DAG file can fail when it is parsed: it skips values that
are still Jinja templates and leaves records, avatar ids, hosts and the key template to
``checked()`` after rendering. The field checks below are also what :class:`CopyOptions` and
``archive_resources`` run, so each rule is written once. Light to import (DAG-parse time): no
httpx, boto3 or client imports at module level.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_akool.archive.errors import ArchiveInputError
from airflow_provider_akool.archive.keys import DEFAULT_KEY_TEMPLATE, build_key, check_bucket, check_key
from airflow_provider_akool.archive.parts import DEFAULT_PART_SIZE, validate_part_size
from airflow_provider_akool.archive.urls import ALLOWED_SCHEMES, normalise_hosts

if TYPE_CHECKING:
    from airflow_provider_akool.archive.copier import CopyOptions
    from airflow_provider_akool.archive.models import ResourceSpec

SCHEMES = tuple(sorted(ALLOWED_SCHEMES))
"""The URL schemes ever fetched; ``allowed_schemes`` may only narrow them."""
AVATAR_PLATFORMS = ("open", "aigc")  # docs/reference/akool-api.md §2.2
VOICE_TYPES = (1, 2)  # §5.2: 1 = your cloned voices, 2 = Akool voices
MAX_AVATAR_ID = 128
MAX_CONCURRENCY = 64


def is_template(value: object) -> bool:
    """True for a string Jinja has yet to render (``{{ ... }}`` or ``{% ... %}``)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def as_list(value: object) -> list[Any]:
    """``None`` -> ``[]``; a string, bytes or dict -> a list of one; any other iterable -> its items."""
    if value is None:
        return []
    if isinstance(value, str | bytes | dict):
        return [value]
    return list(value) if isinstance(value, Iterable) else [value]


def check_concurrency(value: object, *, field: str) -> int:
    """``value`` if it is an integer from 1 to 64 (copies or parts in flight), else ArchiveInputError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ArchiveInputError(f"{field}: must be an integer between 1 and {MAX_CONCURRENCY} (got {value!r})")
    return value


def check_seconds(value: object, *, field: str) -> float:
    """``value`` as a float if it is a number of seconds >= 0, else ArchiveInputError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ArchiveInputError(f"{field}: must be a number of seconds >= 0 (got {value!r})")
    return float(value)


def check_flag(value: object, *, field: str) -> bool:
    """``value`` if it is a bool (a string such as ``"false"`` would silently be true), else ArchiveInputError."""
    if not isinstance(value, bool):
        raise ArchiveInputError(f"{field}: must be True or False (got {value!r})")
    return value


def check_platforms(value: object, *, field: str) -> tuple[str, ...]:
    """The avatar list platforms in ``value`` (a name or names), each one of :data:`AVATAR_PLATFORMS`."""
    platforms = tuple(as_list(value))
    if not set(platforms) <= set(AVATAR_PLATFORMS):
        raise ArchiveInputError(f"{field}: allowed values are 'open', 'aigc' (got {value!r})")
    return platforms


def check_voice_types(value: object, *, field: str) -> tuple[int, ...]:
    """The voice types in ``value`` (a type or types), each one of :data:`VOICE_TYPES`."""
    types = tuple(as_list(value))
    if not set(types) <= set(VOICE_TYPES):
        raise ArchiveInputError(f"{field}: allowed values are 1 (your clones), 2 (Akool voices) (got {value!r})")
    return types


@dataclass(frozen=True)
class CheckedArchiveSettings:
    """Settings that passed :meth:`ArchiveSettings.checked`: final, normalised values."""

    s3_bucket: str
    specs: tuple[ResourceSpec, ...]
    """One per given URL or record URL, checked against the schemes and hosts."""
    avatar_ids: tuple[str, ...]
    all_avatars: bool
    all_voices: bool
    avatar_platforms: tuple[str, ...]
    voice_types: tuple[int, ...]
    s3_prefix: str
    key_template: str
    manifest_key: str | None
    max_concurrency: int
    copy_options: CopyOptions
    """Tuning of every copy of the run."""
    schemes: frozenset[str]
    allowed_hosts: frozenset[str] | None
    progress_interval: float

    @property
    def needs_discovery(self) -> bool:
        """True when resources must be looked up through the Akool API."""
        return bool(self.avatar_ids or self.all_avatars or self.all_voices)


@dataclass(frozen=True)
class ArchiveSettings:
    """Everything an archive run is told, as given (by a DAG file, rendered templates, or a script).

    Field meanings are those of ``AkoolArchiveToS3Operator``'s parameters of the same names.
    ``sources``: URLs or records (nested lists flattened, ``None`` skipped); ``avatar_ids``,
    ``all_avatars``, ``all_voices``: discovery through the Akool API. ``manifest_key`` None means
    ``Manifest.default_key()``.
    """

    s3_bucket: str
    sources: Any = None
    avatar_ids: Sequence[str] | str | None = None
    all_avatars: bool = False
    all_voices: bool = False
    avatar_platforms: Sequence[str] = ("open",)
    voice_types: Sequence[int] = (1, 2)
    s3_prefix: str = "akool"
    key_template: str | None = None
    manifest_key: str | None = None
    max_concurrency: int = 4
    upload_concurrency: int = 4
    part_size: int | None = None
    skip_existing: bool = True
    hash_first: bool = False
    allowed_schemes: Sequence[str] = SCHEMES
    allowed_hosts: Sequence[str] | None = None
    progress_interval: float = 15.0

    # -- parse time ------------------------------------------------------------------------------
    def check_declared(self) -> frozenset[str]:
        """The checks a DAG file fails when parsed; returns the allowed URL schemes, lower-cased.

        Checks every value that cannot be a template or an upstream result, plus ``s3_bucket``,
        ``manifest_key`` and literal URL strings in ``sources`` unless they are Jinja templates.
        """
        with _as_input_error():
            return self._check_declared()

    def _check_declared(self) -> frozenset[str]:
        if self.sources is None and not self.avatar_ids and not self.all_avatars and not self.all_voices:
            raise ValueError("sources: nothing to archive; give sources, avatar_ids, all_avatars or all_voices")
        if not is_template(self.s3_bucket):
            check_bucket(self.s3_bucket, field="s3_bucket")
        check_concurrency(self.max_concurrency, field="max_concurrency")
        check_concurrency(self.upload_concurrency, field="upload_concurrency")
        if self.part_size is not None:
            validate_part_size(self.part_size)
        check_flag(self.hash_first, field="hash_first")
        check_seconds(self.progress_interval, field="progress_interval")
        schemes = self._schemes()
        check_platforms(self.avatar_platforms, field="avatar_platforms")
        check_voice_types(self.voice_types, field="voice_types")
        if not is_template(self.manifest_key):
            self._manifest_key()
        items = [self.sources] if isinstance(self.sources, str) else self.sources
        for index, item in enumerate(items if isinstance(items, list | tuple) else []):
            if isinstance(item, str) and not is_template(item):
                scheme = urlsplit(item.strip()).scheme.lower()
                if scheme not in schemes:
                    raise ValueError(
                        f"sources[{index}]: scheme {scheme or '(none)'!r} is not allowed "
                        f"(only {', '.join(sorted(schemes))})"
                    )
        return schemes

    # -- run time --------------------------------------------------------------------------------
    def checked(self) -> CheckedArchiveSettings:
        """Every value checked and normalised; :class:`ArchiveInputError` names the first bad field."""
        from airflow_provider_akool.archive.copier import CopyOptions
        from airflow_provider_akool.archive.discovery import specs_from_inputs

        with _as_input_error():
            schemes = self._check_declared()
            hosts = as_list(self.allowed_hosts) or None
            if hosts is not None and not all(isinstance(h, str) and h.strip() for h in hosts):
                raise ValueError("allowed_hosts: must be a list of host names")
            template = self.key_template or DEFAULT_KEY_TEMPLATE
            try:
                build_key(template, source_url="https://h/f", prefix="p", kind="k", owner_id="o", file_name="f")
            except ValueError as exc:
                raise ValueError(f"key_template: {exc}") from None
            specs = specs_from_inputs(self.sources, field="sources", schemes=schemes, allowed_hosts=hosts)
            return CheckedArchiveSettings(
                s3_bucket=check_bucket(self.s3_bucket, field="s3_bucket"),
                specs=tuple(specs),
                avatar_ids=self._avatar_ids(),
                all_avatars=bool(self.all_avatars),
                all_voices=bool(self.all_voices),
                avatar_platforms=check_platforms(self.avatar_platforms, field="avatar_platforms"),
                voice_types=check_voice_types(self.voice_types, field="voice_types"),
                s3_prefix=self.s3_prefix,
                key_template=template,
                manifest_key=self._manifest_key(),
                max_concurrency=self.max_concurrency,
                copy_options=CopyOptions(  # checks its own fields with the functions above
                    part_size=DEFAULT_PART_SIZE if self.part_size is None else self.part_size,
                    upload_concurrency=self.upload_concurrency,
                    progress_interval=min(self.progress_interval / 2, 5.0),  # per copy; the batch log: every interval
                    skip_existing=self.skip_existing,
                    hash_first=self.hash_first,
                ),
                schemes=schemes,
                allowed_hosts=normalise_hosts(hosts),
                progress_interval=float(self.progress_interval),
            )

    def _manifest_key(self) -> str | None:
        """None (the default key) or a safe relative key."""
        if self.manifest_key is None or self.manifest_key == "":
            return None
        return check_key(self.manifest_key, field="manifest_key")

    def _schemes(self) -> frozenset[str]:
        schemes = frozenset(str(s).lower() for s in as_list(self.allowed_schemes))
        if not schemes or not schemes <= ALLOWED_SCHEMES:
            raise ValueError(f"allowed_schemes: must be a non-empty subset of http, https (got {sorted(schemes)})")
        return schemes

    def _avatar_ids(self) -> tuple[str, ...]:
        ids = [str(i).strip() for i in as_list(self.avatar_ids)]
        bad = [i for i in ids if not i or len(i) > MAX_AVATAR_ID or any(c.isspace() or c in "/\\?#" for c in i)]
        if bad:
            raise ValueError(f"avatar_ids: not avatar ids: {bad[:5]!r}")
        return tuple(dict.fromkeys(ids))


@contextmanager
def _as_input_error() -> Iterator[None]:
    """Re-raise the ``ValueError`` of a field check as :class:`ArchiveInputError` (same message)."""
    try:
        yield
    except ArchiveInputError:
        raise
    except ValueError as exc:
        raise ArchiveInputError(str(exc)) from None
