"""Operator extra links shown on task instances in the Airflow UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

# XCom key under which avatar tasks store the avatar's preview video URL (Akool's `url` field).
AVATAR_PREVIEW_XCOM_KEY = "avatar_preview_url"


class AkoolAvatarPreviewLink(BaseOperatorLink):
    """Link named "Akool avatar preview": the preview video of the avatar a task created or waited for.

    The task pushes the URL to XCom once Akool reports it; Airflow resolves the link in the worker
    when the task finishes and the UI reads it from there. Akool's resource URLs may expire after
    7 days (docs/reference/akool-api.md §5.4), so old task instances can show a dead link.
    """

    name = "Akool avatar preview"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(ti_key=ti_key, key=AVATAR_PREVIEW_XCOM_KEY)
        return value if isinstance(value, str) else ""
