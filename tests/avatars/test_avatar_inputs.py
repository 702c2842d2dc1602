"""Bad input fails before any API call and names the field; derived avatar ids are stable."""

from __future__ import annotations

import re
from typing import Any

import pytest
import respx
from task_support import make_context, set_akool_conn

from airflow_provider_akool._compat import AirflowFailException
from airflow_provider_akool.operators.avatar import (
    AkoolCreateAvatarOperator,
    default_name,
    derive_avatar_id,
    detect_url_from,
)

GOOD_URL = "https://media.example.com/v/clip.mp4"

BAD_INPUTS = [
    ({"video_url": ""}, "video_url"),
    ({"video_url": "   "}, "video_url"),
    ({"video_url": "ftp://media.example.com/clip.mp4"}, "video_url"),
    ({"video_url": "media.example.com/clip.mp4"}, "video_url"),
    ({"video_url": "https://"}, "video_url"),
    ({"video_url": "https://media.example.com/a\x00b.mp4"}, "video_url"),
    ({"video_url": "https://[::1/clip.mp4"}, "video_url"),
    ({"video_url": "https://media example.com/clip.mp4"}, "video_url"),
    ({"video_url": "https://media.example.com:99999/clip.mp4"}, "video_url"),
    ({"avatar_id": "has-dash"}, "avatar_id"),
    ({"avatar_id": "has space"}, "avatar_id"),
    ({"avatar_id": "ünïcode"}, "avatar_id"),
    ({"avatar_id": "x" * 129}, "avatar_id"),
    ({"url_from": 3}, "url_from"),
    ({"url_from": 0}, "url_from"),
    ({"url_from": True}, "url_from"),
    ({"url_from": "1"}, "url_from"),
    ({"name": "n" * 201}, "name"),
    ({"poll_interval": 0}, "poll_interval"),
    ({"timeout": -1}, "timeout"),
]


@pytest.fixture
def no_api(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Any HTTP request fails the test: validation must happen before the first call."""
    set_akool_conn(monkeypatch, "https://akool.mock", api_key="k")
    with respx.mock(assert_all_mocked=True) as router:
        yield router


@pytest.mark.parametrize(("kwargs", "field"), BAD_INPUTS)
def test_bad_literal_input_fails_when_the_dag_is_parsed(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        AkoolCreateAvatarOperator(task_id="t", **{"video_url": GOOD_URL, **kwargs})


@pytest.mark.parametrize(
    ("field", "rendered"),
    [
        ("video_url", ""),
        ("video_url", "file:///etc/passwd"),
        ("avatar_id", "bad_id"),
        ("name", "n" * 201),
    ],
)
def test_bad_rendered_template_fails_before_any_api_call(no_api: respx.MockRouter, field: str, rendered: str) -> None:
    op = AkoolCreateAvatarOperator(task_id="t", video_url="{{ params.url }}", avatar_id="{{ params.id }}")
    op.video_url, op.avatar_id = GOOD_URL, "goodId1"
    setattr(op, field, rendered)  # what template rendering would have produced
    with pytest.raises(AirflowFailException, match=rf"invalid input: {field}: "):
        op.execute(make_context())
    assert no_api.calls.call_count == 0


def test_templates_are_not_validated_before_rendering() -> None:
    op = AkoolCreateAvatarOperator(task_id="t", video_url="{{ params.url }}", avatar_id="{{ ti.task_id }}")
    assert {"video_url", "avatar_id", "name"} <= set(op.template_fields)


def test_derived_avatar_id_is_stable_valid_and_distinct() -> None:
    first = derive_avatar_id("dag", "task", 0, GOOD_URL)
    assert first == derive_avatar_id("dag", "task", 0, GOOD_URL)
    assert re.fullmatch(r"[a-zA-Z0-9]+", first) and len(first) == 32
    others = {
        derive_avatar_id("dag2", "task", 0, GOOD_URL),
        derive_avatar_id("dag", "task2", 0, GOOD_URL),
        derive_avatar_id("dag", "task", 1, GOOD_URL),
        derive_avatar_id("dag", "task", 0, GOOD_URL + "?v=2"),
    }
    assert first not in others and len(others) == 4


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.youtube.com/watch?v=x", 2),
        ("https://youtu.be/x", 2),
        ("https://m.tiktok.com/@a/video/1", 2),
        ("https://x.com/a/status/1", 2),
        ("https://twitter.com/a/status/1", 2),
        ("https://drive.google.com/file/d/1/view", 2),
        ("https://box.com/x.mp4", 1),
        ("https://notyoutube.com/x.mp4", 1),
        ("https://d1.cloudfront.net/a.mp4", 1),
    ],
)
def test_url_from_is_detected(url: str, expected: int) -> None:
    assert detect_url_from(url) == expected


def test_default_name_is_the_file_name() -> None:
    assert default_name("https://h/a/b/intro-take2.mp4?sig=1", "id1") == "intro-take2"
    assert default_name("https://h/", "id1") == "id1"
