"""store_transcripts: one verified JSON object per session, listed in a manifest the archive's readers understand."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_provider_akool.archive import run_manifest_key, store_transcripts

STAMP = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def retelling(avatar_id: str, *sessions: tuple[str | None, list[str]]) -> dict[str, Any]:
    """The shape AkoolRetellingSessionOperator returns: settings, sessions, segments."""
    segments = [
        {"index": i, "session_id": session_id, "status": "spoken" if text else "failed", "text": text}
        for session_id, texts in sessions
        for i, text in enumerate(texts)
    ]
    return {
        "settings": {"avatar_id": avatar_id, "mode": 1},
        "sessions": [{"session_id": session_id, "duration": 60} for session_id, _ in sessions],
        "segments": segments,
    }


def store(s3: Any, bucket: str, manifests: list[tuple[str, Any]]) -> dict[str, Any]:
    key = run_manifest_key("t", dag_id="dag", run_id="run1", task_id="store_transcripts")
    return store_transcripts(s3, bucket=bucket, prefix="t", manifests=manifests, manifest_key=key, now=lambda: STAMP)


def test_each_session_becomes_one_object_with_its_segments_and_sha256(s3: Any, bucket: str) -> None:
    summary = store(s3, bucket, [("xcom://dag/run1/retell/0", retelling("av1", ("s1", ["Hi.", "Bye."]), ("s2", [""])))])

    assert summary["counts"] == {"archived": 2, "skipped": 0, "expired": 0, "failed": 0}
    assert [o["key"] for o in summary["objects"]] == ["t/transcripts/av1/s1.json", "t/transcripts/av1/s2.json"]
    first = s3.get_object(Bucket=bucket, Key="t/transcripts/av1/s1.json")
    body = first["Body"].read()
    document = json.loads(body)
    assert document["session_id"] == "s1" and document["avatar_id"] == "av1"
    assert [s["text"] for s in document["segments"]] == ["Hi.", "Bye."] and document["spoken"] == 2
    assert first["Metadata"] == {
        "sha256": hashlib.sha256(body).hexdigest(),
        "archived-at": "2026-03-01T12:00:00+00:00",
        "source-url": "xcom://dag/run1/retell/0",
    }
    assert first["ContentType"] == "application/json"
    assert summary["objects"][1]["spoken"] == 0  # the second session said nothing, but it was paid for


def test_the_manifest_lists_every_object_beside_the_archive_manifests(s3: Any, bucket: str) -> None:
    summary = store(s3, bucket, [("xcom://dag/run1/retell/0", retelling("av1", ("s1", ["Hi."])))])

    assert summary["manifest_uri"] == f"s3://{bucket}/t/manifests/dag/run1/store_transcripts.json"
    manifest = json.loads(
        s3.get_object(Bucket=bucket, Key="t/manifests/dag/run1/store_transcripts.json")["Body"].read()
    )
    [entry] = manifest["entries"]
    stored = s3.get_object(Bucket=bucket, Key=entry["key"])["Body"].read()
    assert entry["sha256"] == hashlib.sha256(stored).hexdigest() and entry["size"] == len(stored)
    assert entry["status"] == "archived" and entry["name"] == "transcript s1"


def test_a_task_that_left_no_transcript_is_a_failed_entry_and_uncreated_sessions_are_skipped(
    s3: Any, bucket: str
) -> None:
    manifests = [
        ("xcom://dag/run1/retell/0", None),
        ("xcom://dag/run1/retell/1", retelling("av2", (None, ["never said"]), ("s9", ["Said."]))),
    ]
    summary = store(s3, bucket, manifests)

    assert summary["counts"]["failed"] == 1 and summary["counts"]["archived"] == 1
    assert summary["failed"] == [
        {"name": "transcript xcom://dag/run1/retell/0", "reason": "the retelling task returned no transcript"}
    ]
    assert [o["session_id"] for o in summary["objects"]] == ["s9"]


def test_a_rerun_writes_identical_bytes(s3: Any, bucket: str) -> None:
    manifests = [("xcom://dag/run1/retell/0", retelling("av1", ("s1", ["Hi."])))]
    first = store(s3, bucket, manifests)["objects"]
    second = store(s3, bucket, manifests)["objects"]
    assert first == second


@pytest.mark.parametrize(
    ("fields", "field"), [({"bucket": "Bad_Bucket"}, "bucket"), ({"manifest_key": "../x.json"}, "manifest_key")]
)
def test_a_bad_bucket_or_manifest_key_is_refused_before_anything_is_written(
    s3: Any, bucket: str, fields: dict[str, str], field: str
) -> None:
    arguments: dict[str, Any] = {"bucket": bucket, "prefix": "t", "manifest_key": "t/m.json", **fields}
    manifests = [("xcom://dag/run1/retell/0", retelling("av1", ("s1", ["Hi."])))]
    with pytest.raises(ValueError, match=field):
        store_transcripts(s3, manifests=manifests, **arguments)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
