"""AkoolCreateAvatarOperator: turn a video URL into a streaming avatar and wait until it is usable."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseOperator

from airflow_provider_akool._compat import AirflowException, AirflowFailException, conf
from airflow_provider_akool.avatar_wait import (
    Clock,
    IdOrigin,
    avatar_record,
    describe_avatar,
    failure_message,
    read_event,
)
from airflow_provider_akool.links import AVATAR_PREVIEW_XCOM_KEY, AkoolAvatarPreviewLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_akool.client import AkoolClient
    from airflow_provider_akool.client.models import Avatar

AVATAR_ID_RE = re.compile(r"^[a-zA-Z0-9]+$")
AVATAR_ID_MAX = 128
NAME_MAX = 200
# What the operator reads of an avatar: readiness and the creation time (for expires_at).
WANTED = ("status", "create_time")
# Pages Akool fetches itself (url_from=2, docs/reference/akool-api.md §2.1); any other http(s) link is direct (1).
THIRD_PARTY_HOSTS = ("youtube.com", "youtu.be", "tiktok.com", "x.com", "twitter.com", "drive.google.com")


def _templated(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_video_url(value: object) -> str:
    """The video URL, or ValueError naming ``video_url``."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("video_url: must be a non-empty http:// or https:// URL")
    url = value.strip()
    if not url.isprintable():
        raise ValueError("video_url: must not contain control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise ValueError(f"video_url: is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}://" if parts.scheme else repr(url[:40])
        raise ValueError(f"video_url: must be an http:// or https:// URL (got {shown})")
    if not host or any(c.isspace() for c in parts.netloc):
        raise ValueError("video_url: must name a host, without spaces (e.g. https://cdn.example.com/clip.mp4)")
    return url


def check_avatar_id(value: object) -> str:
    """The avatar id, or ValueError naming ``avatar_id`` and the allowed characters."""
    if not isinstance(value, str) or not AVATAR_ID_RE.match(value) or len(value) > AVATAR_ID_MAX:
        raise ValueError(
            f"avatar_id: must be 1-{AVATAR_ID_MAX} letters and digits only, pattern ^[a-zA-Z0-9]+$ (got {value!r})"
        )
    return value


def check_url_from(value: object) -> int | None:
    """None (detect from the URL) or 1/2, else ValueError naming ``url_from``."""
    if value is None:
        return None
    if isinstance(value, bool) or value not in (1, 2):
        raise ValueError(f"url_from: must be 1 (direct link) or 2 (YouTube/TikTok/X/Google Drive page) (got {value!r})")
    return int(value)


def detect_url_from(url: str) -> int:
    """2 for YouTube / TikTok / X / Google Drive pages, 1 for any other (direct) link."""
    host = (urlsplit(url).hostname or "").lower()
    return 2 if any(host == h or host.endswith("." + h) for h in THIRD_PARTY_HOSTS) else 1


def derive_avatar_id(dag_id: str, task_id: str, map_index: int, url: str) -> str:
    """A valid avatar_id that is the same for every try and re-run of one task on one URL."""
    digest = hashlib.sha256(json.dumps([dag_id, task_id, map_index, url]).encode()).hexdigest()
    return "af" + digest[:30]


def default_name(url: str, avatar_id: str) -> str:
    """Display name: the file name of the video without extension, else the avatar id."""
    stem = PurePosixPath(urlsplit(url).path).stem.strip()
    return stem[:NAME_MAX] if stem else avatar_id


class AkoolCreateAvatarOperator(BaseOperator):
    """Create a streaming avatar from a video URL (Akool v3 avatar create, type 2) and wait for it.

    Idempotent: the avatar id is caller-chosen, and when none is given it is derived from dag_id,
    task_id, map_index and the URL, so a retry or a re-run looks up the same avatar. An avatar
    that already exists is adopted, never uploaded twice; one Akool marked failed (status 4) fails
    the task with Akool's reason and is not recreated: the message says how to get a new one (a new
    ``avatar_id``, or, for a derived id, a new video URL or an explicit id).
    An explicit ``avatar_id`` that already exists is adopted whatever video it was made from.
    Account-level errors (wrong key, no permission, no credit) fail the task without a retry, in
    the worker and after a deferral alike; the message names ``akool_conn_id``.

    Waiting in the worker and in the triggerer takes the same poll step (``AkoolClient.poll_avatar``):
    a transient failure (5xx, 429, timeout, 1005, 1214/1215, after the client's own retries) does not
    end the wait, the third in a row does, with an error a task retry can fix (it resumes the wait).

    XCom: ``avatar_id`` is pushed as soon as the avatar exists (before any waiting), and
    ``avatar_preview_url`` when the task returns its record (it backs the "Akool avatar preview"
    link; a failed avatar gets none).
    The return value is a JSON-serialisable record with these stable keys:

    - ``avatar_id`` (str), ``name`` (str | None)
    - ``status``: ``"ready"``, or ``"pending"`` when ``wait_for_completion=False`` returned early
    - ``url`` (preview video), ``thumbnail_url``, ``voice_id`` (the avatar's default voice): str | None
    - ``created_at``: ISO-8601 UTC creation time; ``expires_at``: ``created_at`` + 7 days, when
      Akool's generated resources expire (docs/reference/akool-api.md §5.4). Both None if Akool did not say.

    :param video_url: http(s) link to the source video (templated).
    :param avatar_id: letters and digits only (templated); derived when empty.
    :param name: display name (templated); defaults to the video's file name.
    :param url_from: 1 = direct link, 2 = YouTube/TikTok/X/Google Drive page; detected when None.
    :param wait_for_completion: wait until the avatar is ready (status 3).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between status requests while waiting.
    :param timeout: seconds to wait for readiness before failing (a retry resumes the same avatar).
    :param akool_conn_id: Airflow connection of type ``akool``.
    """

    template_fields: Sequence[str] = ("video_url", "avatar_id", "name", "akool_conn_id")
    operator_extra_links = (AkoolAvatarPreviewLink(),)
    ui_color = "#d9e7ff"
    clock = Clock()  # the wait in the worker runs on it; tests replace it to wait without waiting

    def __init__(
        self,
        *,
        video_url: str,
        avatar_id: str | None = None,
        name: str | None = None,
        url_from: int | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        timeout: float = 2 * 3600.0,
        akool_conn_id: str = "akool_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Values that are not templates are checked now, so a bad DAG fails at parse time.
        if not _templated(video_url):
            check_video_url(video_url)
        if avatar_id and not _templated(avatar_id):
            check_avatar_id(avatar_id)
        if isinstance(name, str) and not _templated(name) and len(name.strip()) > NAME_MAX:
            raise ValueError(f"name: must be at most {NAME_MAX} characters (got {len(name.strip())})")
        self.url_from = check_url_from(url_from)
        if poll_interval <= 0:
            raise ValueError(f"poll_interval: must be > 0 seconds (got {poll_interval!r})")
        if timeout <= 0:
            raise ValueError(f"timeout: must be > 0 seconds (got {timeout!r})")
        self.video_url = video_url
        self.avatar_id = avatar_id
        self.name = name
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout)
        self.akool_conn_id = akool_conn_id

    # -- execute -------------------------------------------------------------------------------
    def _inputs(self, context: Context) -> tuple[str, str, str, int]:
        """Rendered, validated (url, avatar_id, name, url_from); raises before any API call."""
        try:
            url = check_video_url(self.video_url)
            raw_id = self.avatar_id.strip() if isinstance(self.avatar_id, str) else self.avatar_id
            if raw_id:
                avatar_id = check_avatar_id(raw_id)
            else:
                ti = context["ti"]
                map_index = ti.map_index if ti.map_index is not None else -1
                avatar_id = derive_avatar_id(ti.dag_id, ti.task_id, map_index, url)
            if self.name is not None and not isinstance(self.name, str):
                raise ValueError(f"name: must be a string (got {type(self.name).__name__})")
            name = (self.name or "").strip() or default_name(url, avatar_id)
            if len(name) > NAME_MAX:
                raise ValueError(f"name: must be at most {NAME_MAX} characters (got {len(name)})")
            url_from = check_url_from(self.url_from) or detect_url_from(url)
        except ValueError as exc:
            raise AirflowFailException(f"{self.task_id}: invalid input: {exc}") from None
        return url, avatar_id, name, url_from

    def _id_origin(self) -> IdOrigin:
        return "given" if isinstance(self.avatar_id, str) and self.avatar_id.strip() else "derived"

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_akool.fail_fast import fail_fast_on_account_errors

        url, avatar_id, name, url_from = self._inputs(context)
        # A wrong key, a banned account or no credit: AirflowFailException, no retry.
        with fail_fast_on_account_errors(self.akool_conn_id):
            return self._create_and_wait(context, url, avatar_id, name, url_from)

    def _create_and_wait(self, context: Context, url: str, avatar_id: str, name: str, url_from: int) -> dict[str, Any]:
        from airflow_provider_akool.client import AkoolNotFoundError
        from airflow_provider_akool.hooks.akool import AkoolHook

        client = AkoolHook(akool_conn_id=self.akool_conn_id).get_client()
        try:
            avatar = client.read_avatar(avatar_id, want=WANTED)
            self.log.info("Avatar %s already exists (status=%s); adopting it", avatar_id, avatar.status)
        except AkoolNotFoundError:
            created = client.create_avatar(url=url, avatar_id=avatar_id, name=name, url_from=url_from)
            avatar = created.avatar
            if created.adopted:  # 1222: created by an earlier try whose response was lost
                self.log.info("Avatar %s was created earlier; adopting it", avatar_id)
            else:
                shown = urlsplit(url)._replace(query="", fragment="").geturl()  # signed URLs stay out of logs
                self.log.info("Uploaded avatar %s from %s (url_from=%s)", avatar_id, shown, url_from)
            if avatar.create_time is None:
                avatar = client.read_avatar(avatar_id, want=WANTED)
        context["ti"].xcom_push(key="avatar_id", value=avatar.avatar_id)
        if avatar.state == "failed":
            raise AirflowFailException(failure_message(describe_avatar(avatar), self._id_origin()))
        if avatar.state == "ready" or not self.wait_for_completion:
            return self._finish(context, describe_avatar(avatar))

        deadline = self.clock.now() + self.timeout
        if self.deferrable:
            from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

            self.log.info("Deferring until avatar %s is ready (deadline in %.0f s)", avatar_id, self.timeout)
            self.defer(
                trigger=AkoolAvatarTrigger(
                    avatar_id=avatar_id,
                    deadline=deadline,
                    akool_conn_id=self.akool_conn_id,
                    poll_interval=self.poll_interval,
                    create_time=avatar.create_time,
                ),
                method_name="execute_complete",
                timeout=None,
            )
        return self._wait(context, client, avatar, deadline)

    @staticmethod
    def _finish(context: Context, snapshot: dict[str, Any]) -> dict[str, Any]:
        """The task's record; the preview link is set here, so a failed avatar never gets one."""
        if snapshot.get("url"):
            context["ti"].xcom_push(key=AVATAR_PREVIEW_XCOM_KEY, value=snapshot["url"])
        return avatar_record(snapshot)

    def _wait(self, context: Context, client: AkoolClient, avatar: Avatar, deadline: float) -> dict[str, Any]:
        """Poll in this worker until ready, failed or past the deadline (the trigger's poll step)."""
        from airflow_provider_akool.client.readiness import AvatarWatch

        watch = AvatarWatch(avatar.avatar_id, create_time=avatar.create_time, last=avatar)
        while True:
            self.clock.sleep(max(0.0, min(self.poll_interval, deadline - self.clock.now())))
            poll = client.poll_avatar(watch)
            found = poll.avatar
            if poll.changed and found is not None:
                self.log.info("Avatar %s: status=%s available=%s", found.avatar_id, found.status, found.available)
            if poll.state == "failed" and found is not None:
                raise AirflowFailException(failure_message(describe_avatar(found), self._id_origin()))
            if poll.state == "ready" and found is not None:
                return self._finish(context, describe_avatar(found))
            if poll.state == "unreachable":
                raise AirflowException(f"{poll.message}; a retry resumes waiting for the same avatar")
            if poll.error is not None:
                self.log.warning("Polling avatar %s failed (%s); will poll again", watch.avatar_id, poll.error)
            if self.clock.now() >= deadline:
                raise AirflowException(
                    f"avatar {watch.avatar_id} was not ready after {self.timeout:.0f} s; "
                    "a retry resumes waiting for the same avatar"
                )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired; everything needed travels in ``event``."""
        outcome = read_event(event, task_id=self.task_id, conn_id=self.akool_conn_id, origin=self._id_origin())
        if outcome.kind == "ready" and outcome.record is not None:
            if outcome.preview_url:
                context["ti"].xcom_push(key=AVATAR_PREVIEW_XCOM_KEY, value=outcome.preview_url)
            self.log.info("%s", outcome.message)
            return outcome.record
        if outcome.kind in ("failed", "account"):
            raise AirflowFailException(outcome.message)
        raise AirflowException(outcome.message)
