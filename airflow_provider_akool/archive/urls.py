"""Source-URL checks and ASCII encoding of values stored in S3 metadata.

Resource URLs come from API responses, so they are untrusted input: only http/https is fetched
(no file://, ftp://, javascript:), optionally only from an allow-list of hosts. S3 user metadata
travels as HTTP headers and must be ASCII, so URLs are stored percent-encoded.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from airflow_provider_akool.archive.errors import SourceURLError

REDACTED = "REDACTED"

ALLOWED_SCHEMES = frozenset({"http", "https"})

# Every printable ASCII character except space stays as is, so existing %XX escapes survive and
# only non-ASCII, space and control characters get percent-encoded.
_PRINTABLE_ASCII = "".join(chr(code) for code in range(0x21, 0x7F))


def normalise_hosts(hosts: Iterable[str] | None) -> frozenset[str] | None:
    """Lower-case an allow-list; ``None`` means every host is allowed."""
    if hosts is None:
        return None
    return frozenset(host.strip().lower() for host in hosts if host.strip())


def host_allowed(host: str, allowed_hosts: frozenset[str] | None) -> bool:
    """True if ``host`` is allowed: exact match, or a subdomain of an entry written ``.example.com``."""
    if allowed_hosts is None:
        return True
    host = host.lower().rstrip(".")
    for entry in allowed_hosts:
        if entry.startswith("."):
            if host.endswith(entry) or host == entry[1:]:
                return True
        elif host == entry:
            return True
    return False


def validate_source_url(url: str, *, field: str = "source_url", allowed_hosts: frozenset[str] | None = None) -> str:
    """Return ``url`` stripped if it is an http(s) URL with a host on the allow-list, else raise.

    Raises :class:`SourceURLError` naming ``field``; the message shows the scheme or host only.
    """
    if not isinstance(url, str) or not url.strip():
        raise SourceURLError(f"{field}: must be a non-empty http(s) URL")
    url = url.strip()
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise SourceURLError(f"{field}: contains control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise SourceURLError(f"{field}: malformed URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = repr(scheme) if scheme else "(none)"
        raise SourceURLError(f"{field}: scheme {shown} is not allowed (only http, https)")
    if not host:
        raise SourceURLError(f"{field}: URL has no host")
    if not host_allowed(host, allowed_hosts):
        raise SourceURLError(f"{field}: host {host!r} is not in the allowed hosts")
    return url


def url_host(url: str) -> str:
    """Host of ``url`` for messages (never the path or query, which may carry a signature)."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def ascii_metadata_value(value: str, *, max_length: int = 1024) -> str:
    """Percent-encode ``value`` into printable ASCII, cut to ``max_length`` characters.

    S3 rejects non-ASCII metadata, and all user metadata of an object must fit in 2 KB, so long
    signed URLs are shortened (the copier also stores a hash of the full URL for comparisons).
    """
    encoded = quote(value, safe=_PRINTABLE_ASCII)
    if len(encoded) > max_length:
        encoded = encoded[: max_length - 3] + "..."
    return encoded


def redact_url(url: str) -> str:
    """``url`` without user info or fragment and with every query value replaced by ``REDACTED``.

    Signed CDN URLs carry their credential in the query string; names, manifests and logs keep
    the scheme, host, path and parameter names, which is enough to recognise the resource.
    """
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        pairs = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return "(unparseable URL)"
    query = "&".join(f"{name}={REDACTED}" for name, _ in pairs)
    if parts.query and not pairs:
        query = REDACTED
    return urlunsplit((parts.scheme, host, parts.path, query, ""))
