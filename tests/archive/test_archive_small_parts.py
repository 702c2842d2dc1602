"""Pure helpers: URL checks, metadata encoding, part sizing, progress formatting."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_akool.archive import SourceURLError, format_progress, validate_source_url
from airflow_provider_akool.archive.parts import MAX_PARTS, MiB, PartPlan, part_size_for_length
from airflow_provider_akool.archive.progress import ProgressThrottle, format_duration
from airflow_provider_akool.archive.urls import ascii_metadata_value


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("file:///etc/passwd", "'file'"),
        ("ftp://example.com/a.mp4", "'ftp'"),
        ("javascript:alert(1)", "'javascript'"),
        ("data:text/plain,hi", "'data'"),
        ("//no-scheme/a", "(none)"),
    ],
)
def test_non_http_schemes_refused_naming_the_field(url: str, shown: str) -> None:
    with pytest.raises(SourceURLError, match="^video_url: scheme " + re.escape(shown)):
        validate_source_url(url, field="video_url")


def test_host_allow_list() -> None:
    hosts = frozenset({".cloudfront.net", "cdn.akool.com"})
    assert validate_source_url("https://d1.cloudfront.net/x", allowed_hosts=hosts)
    assert validate_source_url("https://CDN.akool.com/x", allowed_hosts=hosts)
    with pytest.raises(SourceURLError, match=r"evil\.example"):
        validate_source_url("https://evil.example/x", allowed_hosts=hosts)
    with pytest.raises(SourceURLError, match="control"):
        validate_source_url("https://cdn.akool.com/a\nb")


def test_metadata_value_is_ascii_and_keeps_escapes() -> None:
    value = ascii_metadata_value("https://h/vidéo/文件 1.mp4?a=%41")
    assert value == "https://h/vid%C3%A9o/%E6%96%87%E4%BB%B6%201.mp4?a=%41"
    assert value.isascii()
    assert len(ascii_metadata_value("https://h/" + "é" * 2000)) == 1024


def test_part_size_keeps_objects_under_ten_thousand_parts() -> None:
    assert part_size_for_length(100 * MiB) == 8 * MiB
    for length in (80 * 1024 * MiB, 200 * 1024 * MiB, 5 * 1024 * 1024 * MiB):
        size = part_size_for_length(length)
        assert size % MiB == 0
        assert -(-length // size) <= MAX_PARTS


def test_unknown_length_parts_grow() -> None:
    plan = PartPlan(None, 8 * MiB)
    assert plan.size_of(1) == plan.size_of(1000) == 8 * MiB
    assert plan.size_of(1001) == 16 * MiB
    assert sum(plan.size_of(n) for n in range(1, MAX_PARTS + 1)) > 5 * 1024 * 1024 * MiB


def test_format_progress() -> None:
    line = format_progress(12 * MiB, 100 * MiB, 12 / 45.1)
    assert line == "12.0 MiB / 100.0 MiB (12%) at 45.1 MiB/s, ETA 2s"
    assert format_progress(3 * MiB, None, 1.0) == "3.0 MiB at 3.0 MiB/s"
    assert format_progress(0, 10, 0.0) == "0 B / 10 B (0%)"
    assert format_duration(65) == "1m05s"
    assert format_duration(3720) == "1h02m"


def test_progress_throttle_interval_and_final_call() -> None:
    now = [0.0]
    calls: list[tuple[int, int | None, float]] = []
    throttle = ProgressThrottle(lambda d, t, e: calls.append((d, t, e)), 5.0, clock=lambda: now[0])
    for step in range(1, 13):
        now[0] = float(step)
        throttle.update(step, 12)
    throttle.finish(12, 12)
    assert [c[0] for c in calls] == [5, 10, 12]
    assert calls[-1] == (12, 12, 12.0)


class _FakeWriter:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    @property
    def parts(self) -> int:
        return len(self.sent)

    def add_part(self, data: bytearray) -> None:
        self.sent.append(bytes(data))


@given(
    body=st.binary(max_size=200),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=30),
    base=st.integers(min_value=1, max_value=16),
    announce=st.booleans(),
)
def test_part_cutter_reassembles_body(body: bytes, cuts: list[int], base: int, announce: bool) -> None:
    import hashlib

    from airflow_provider_akool.archive.upload import PartCutter as _PartCutter

    writer = _FakeWriter()
    plan = PartPlan(len(body) if announce else None, base)
    cutter = _PartCutter(writer, plan)  # type: ignore[arg-type]
    pos = 0
    for size in [*cuts, len(body)]:
        if pos < len(body):
            cutter.feed(body[pos : pos + size])
            pos += size
    tail = bytes(cutter.tail())
    assert b"".join(writer.sent) + tail == body
    assert all(len(part) == plan.size_of(i + 1) for i, part in enumerate(writer.sent))
    assert len(tail) <= plan.size_of(len(writer.sent) + 1)
    assert tail or not writer.sent  # the last part of a multipart upload is never empty
    assert cutter.received == len(body)
    assert cutter.hasher.hexdigest() == hashlib.sha256(body).hexdigest()
