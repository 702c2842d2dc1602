"""The "Akool avatar preview" operator link."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_akool.links import AVATAR_PREVIEW_XCOM_KEY, AkoolAvatarPreviewLink
from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator


class Key:
    dag_id, task_id, run_id, map_index, try_number = "d", "create", "r1", 2, 1


def test_link_is_declared_on_the_operator_class() -> None:
    [link] = AkoolCreateAvatarOperator.operator_extra_links
    assert isinstance(link, AkoolAvatarPreviewLink)
    assert link.name == "Akool avatar preview"
    mapped = AkoolCreateAvatarOperator.partial(task_id="m").expand(video_url=["https://h/a.mp4"])
    assert [type(x) for x in mapped.operator_extra_links] == [AkoolAvatarPreviewLink]


@pytest.mark.parametrize(("stored", "expected"), [("https://cdn/x.mp4", "https://cdn/x.mp4"), (None, "")])
def test_link_reads_the_preview_url_pushed_by_the_task(
    monkeypatch: pytest.MonkeyPatch, stored: str | None, expected: str
) -> None:
    asked: list[dict[str, Any]] = []

    def get_value(*, ti_key: Any, key: str) -> str | None:
        asked.append({"map_index": ti_key.map_index, "key": key})
        return stored

    monkeypatch.setattr(XCom, "get_value", get_value)
    op = AkoolCreateAvatarOperator(task_id="create", video_url="https://h/a.mp4")
    assert AkoolAvatarPreviewLink().get_link(op, ti_key=Key()) == expected  # type: ignore[arg-type]
    assert asked == [{"map_index": 2, "key": AVATAR_PREVIEW_XCOM_KEY}]
