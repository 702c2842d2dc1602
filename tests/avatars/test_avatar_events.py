"""read_event: the one reading of an avatar trigger event, shared by the operator's and the sensor's
execute_complete (each then raises its own exception class for the outcome)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_akool.avatar_wait import read_event

READY = {
    "avatar_id": "a1",
    "name": "Anna",
    "state": "ready",
    "status": 3,
    "url": "https://cdn/a1.mp4",
    "thumbnail_url": "https://cdn/a1.jpg",
    "voice_id": "v1",
    "create_time": 1_700_000_000_000,
    "reason": None,
}


def read(event: dict[str, Any] | None, **kwargs: Any) -> Any:
    return read_event(event, task_id="wait", conn_id="akool_prod", **kwargs)


def test_success_gives_the_record_and_the_preview_link() -> None:
    outcome = read({"status": "success", "avatar_id": "a1", "message": "ready", "avatar": READY})
    assert outcome.kind == "ready" and outcome.preview_url == "https://cdn/a1.mp4"
    assert outcome.record == {
        "avatar_id": "a1",
        "name": "Anna",
        "status": "ready",
        "url": "https://cdn/a1.mp4",
        "thumbnail_url": "https://cdn/a1.jpg",
        "voice_id": "v1",
        "created_at": "2023-11-14T22:13:20+00:00",
        "expires_at": "2023-11-21T22:13:20+00:00",
    }


def test_a_failed_avatar_gets_no_preview_link_and_advice_for_where_its_id_came_from() -> None:
    failed = {**READY, "state": "failed", "status": 4, "reason": "no face found"}
    event = {"status": "failed", "avatar_id": "a1", "message": "status 4", "avatar": failed}
    given, derived = read(event, origin="given"), read(event, origin="derived")
    for outcome in (given, derived):
        assert outcome.kind == "failed" and outcome.preview_url is None and outcome.record is None
        assert "'a1' (status 4): no face found" in outcome.message
    assert "new avatar_id" in given.message
    assert "derives the same avatar_id" in derived.message


@pytest.mark.parametrize(
    ("event", "kind", "text"),
    [
        (None, "error", "wait: resumed without a trigger event"),
        ({"status": "timeout", "avatar_id": "a1", "message": "past the deadline"}, "timeout", "past the deadline"),
        ({"status": "error", "message": "boom", "error_type": "AkoolTransientError"}, "error", "boom"),
        ({"status": "error", "message": "key (1101)", "error_type": "AkoolAuthError"}, "account", "'akool_prod'"),
        ({"status": "success", "avatar_id": "a1", "message": "ready", "avatar": None}, "error", "'success'"),
    ],
    ids=["no-event", "timeout", "transient", "account", "success-without-avatar"],
)
def test_every_other_event_is_an_outcome_without_a_record(event: dict[str, Any] | None, kind: str, text: str) -> None:
    outcome = read(event)
    assert outcome.kind == kind and text in outcome.message
    assert outcome.record is None and outcome.preview_url is None
