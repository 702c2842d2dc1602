"""Keys: template rendering and file-name sanitising, on inputs an API could hand us."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_akool.archive import build_key, file_name_from_url, sanitize_file_name


def test_default_template() -> None:
    key = build_key(prefix="akool/archive", kind="video", owner_id="task-42", file_name="result.mp4")
    assert key == "akool/archive/video/task-42/result.mp4"


def test_empty_prefix_gives_no_leading_slash() -> None:
    assert build_key(prefix="", kind="video", owner_id="o", file_name="a.mp4") == "video/o/a.mp4"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path/clip.mp4", "clip.mp4"),
        ("C:\\Users\\x\\clip.mp4", "clip.mp4"),
        ("..", "resource"),
        ("a/..", "a"),
        ("clip\x00\x1f\x7f.mp4", "clip.mp4"),
        ("my clip (1).mp4", "my_clip_(1).mp4"),
        ("...hidden..mp4", "hidden.mp4"),
        ("视频.mp4", "视频.mp4"),
        ("", "resource"),
    ],
)
def test_sanitize_file_name(name: str, expected: str) -> None:
    assert sanitize_file_name(name) == expected


def test_long_name_keeps_extension() -> None:
    cleaned = sanitize_file_name("x" * 500 + ".mp4")
    assert cleaned.endswith(".mp4")
    assert len(cleaned.encode()) <= 200


def test_traversal_in_fields_cannot_escape() -> None:
    key = build_key(prefix="p", kind="../..", owner_id="/etc", file_name="../../x.mp4")
    assert key == "p/etc/x.mp4"
    assert ".." not in key.split("/")


def test_file_name_derived_from_url() -> None:
    url = "https://cdn.example/a/b/Final%20Cut%2Evideo.mp4?sig=abc"
    assert file_name_from_url(url) == "Final_Cut.video.mp4"
    key = build_key(prefix="p", kind="video", owner_id="o", file_name=None, source_url=url)
    assert key == "p/video/o/Final_Cut.video.mp4"


def test_percent_decoding_is_single_and_safe() -> None:
    assert file_name_from_url("https://h/x/%2e%2e%2f%2e%2e%2fpasswd") == "passwd"
    # decoded once only: "%252e" becomes "%2e", whose "%" is then replaced
    assert file_name_from_url("https://h/x/%252e%252e%252fpasswd") == "2e_2e_2fpasswd"


def test_name_less_url_gets_a_stable_unique_name() -> None:
    first = file_name_from_url("https://h/")
    assert first.startswith("resource-")
    assert first == file_name_from_url("https://h/")
    assert first != file_name_from_url("https://other/")


def test_missing_field_is_named() -> None:
    with pytest.raises(ValueError, match="owner_id"):
        build_key(prefix="p", kind="video", owner_id=None, file_name="a.mp4")


def test_key_too_long_is_refused() -> None:
    with pytest.raises(ValueError, match="1024"):
        build_key("{a}/{b}/{c}/{d}/{e}/{f}/{file_name}", **dict.fromkeys("abcdef", "y" * 190), file_name="f")


def test_attribute_access_in_template_refused() -> None:
    with pytest.raises(ValueError, match="plain"):
        build_key("{prefix.__class__}/{file_name}", prefix="p", file_name="a")


@given(st.text(max_size=300))
def test_sanitised_names_are_always_one_safe_segment(name: str) -> None:
    cleaned = sanitize_file_name(name)
    assert cleaned
    assert "/" not in cleaned
    assert "\\" not in cleaned
    assert ".." not in cleaned
    assert not cleaned.startswith(".")
    assert not any(unicodedata.category(ch).startswith("C") for ch in cleaned)
    assert len(cleaned.encode()) <= 200


@pytest.mark.parametrize("key", ["a/../b.mp4", "a//b.mp4", "./a.mp4", "a/b/..", "a/./b"])
def test_copier_refuses_traversal_segments_in_explicit_keys(key: str) -> None:
    import httpx

    from airflow_provider_akool.archive import copy_url_to_s3

    with pytest.raises(ValueError, match="key"):
        copy_url_to_s3(
            "https://cdn.test/a.mp4",
            s3_client=None,
            http_client=httpx.Client(),
            bucket="bucket-a",
            key=key,  # type: ignore[arg-type]
        )
