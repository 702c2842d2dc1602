"""The demo's invariants hold on a consistent archive and fail on each kind of damage a user would care about."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from airflow_provider_akool.archive import (
    ArchiveResult,
    ArchiveStatus,
    Manifest,
    run_manifest_key,
    store_transcripts,
    write_manifest,
)
from akool_demo.report import collect

PREFIX = "e2e"
URL = "https://media.example.com/anna.mp4"
AVATAR = "af0123"
SESSION = "s0001"
VIDEO = b"video bytes " * 100
SOURCE = "http://files.test/anna/video.mp4"
SCRIPTS = ["Hello there.", "Goodbye."]


def retelling_manifest() -> dict[str, Any]:
    segments = [
        {"index": i, "id": f"s{i}", "status": "spoken", "session_id": SESSION, "text": text}
        for i, text in enumerate(SCRIPTS)
    ]
    return {
        "settings": {"avatar_id": AVATAR},
        "sessions": [{"session_id": SESSION, "duration": 60}],
        "segments": segments,
    }


def sim_state(open_sessions: list[str] | None = None, spoken: list[str] | None = None) -> dict[str, Any]:
    said = SCRIPTS if spoken is None else spoken
    return {
        "avatars": [{"avatar_id": AVATAR, "status": 3, "source_url": URL}],
        "sessions": [
            {
                "_id": SESSION,
                "avatar_id": AVATAR,
                "spoken": said,
                "segments": [{}] * len(said),
                "duration": 60,
                "precharged": 1.0,
                "refunded": 0.7,
                "ended_by": "close",
            }
        ],
        "open_sessions": open_sessions or [],
    }


@pytest.fixture
def archived(s3: Any, bucket: str) -> Any:
    """One archived avatar video and one stored transcript, as the DAG leaves them."""
    key = f"{PREFIX}/avatar-video/{AVATAR}/video.mp4"
    digest = hashlib.sha256(VIDEO).hexdigest()
    s3.put_object(Bucket=bucket, Key=key, Body=VIDEO, Metadata={"sha256": digest})
    entry = ArchiveResult(
        name=f"avatar {AVATAR} video",
        source_url=SOURCE,
        status=ArchiveStatus.ARCHIVED,
        key=key,
        size=len(VIDEO),
        sha256=digest,
    )
    write_manifest(
        Manifest.from_results([entry], bucket=bucket, prefix=PREFIX),
        s3,
        key=f"{PREFIX}/manifests/akool_end_to_end/run1/archive_avatars.json",
    )
    summary = store_transcripts(
        s3,
        bucket=bucket,
        prefix=PREFIX,
        manifests=[("xcom://d/r/retell/0", retelling_manifest())],
        manifest_key=run_manifest_key(PREFIX, dag_id="akool_end_to_end", run_id="run1", task_id="store_transcripts"),
    )
    return summary


def check(s3: Any, bucket: str, state: dict[str, Any], source: bytes = VIDEO) -> Any:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=source))
    with httpx.Client(transport=transport) as http:
        return collect(
            sim_state=state,
            s3=s3,
            bucket=bucket,
            prefix=PREFIX,
            video_urls=[URL],
            scripts=SCRIPTS,
            http=http,
            run_ok=True,
        )


def failed_names(report: Any) -> list[str]:
    return [c.name for c in report.failed()]


def test_e2e_report_passes_on_a_consistent_run(s3: Any, bucket: str, archived: Any) -> None:
    report = check(s3, bucket, sim_state())
    assert report.ok, report.render()
    assert [o.kind for o in report.objects] == ["resource", "transcript"]
    text = report.render()
    assert "Open sessions left: 0" in text and "[FAIL]" not in text
    stored = json.loads(s3.get_object(Bucket=bucket, Key=archived["objects"][0]["key"])["Body"].read())
    assert stored["session_id"] == SESSION and stored["spoken"] == 2


def test_e2e_report_fails_on_a_changed_object_a_changed_source_and_an_open_session(
    s3: Any, bucket: str, archived: Any
) -> None:
    assert "every archived object matches its source, the manifest and its metadata (sha256)" in failed_names(
        check(s3, bucket, sim_state(), source=b"the source changed")
    )
    transcript = archived["objects"][0]["key"]
    s3.put_object(Bucket=bucket, Key=transcript, Body=b'{"edited": true}', Metadata={"sha256": "0" * 64})
    assert "every archived object matches its source, the manifest and its metadata (sha256)" in failed_names(
        check(s3, bucket, sim_state())
    )
    assert "no session left open" in failed_names(check(s3, bucket, sim_state(open_sessions=[SESSION])))
    assert "every script was spoken exactly once" in failed_names(check(s3, bucket, sim_state(spoken=SCRIPTS[:1])))


def test_e2e_report_fails_on_an_object_no_manifest_lists(s3: Any, bucket: str, archived: Any) -> None:
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}/avatar-video/{AVATAR}/stray.mp4", Body=b"x")
    assert failed_names(check(s3, bucket, sim_state())) == ["no object in the prefix is missing from a manifest"]
