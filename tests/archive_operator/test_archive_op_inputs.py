"""Bad input is refused before any remote call, naming the field; records become the right resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from archive_op_support import keys, read_manifest
from task_support import make_context

from airflow_provider_akool._compat import AirflowFailException
from airflow_provider_akool.archive.discovery import specs_from_inputs
from airflow_provider_akool.archive.urls import redact_url
from airflow_provider_akool.client.models import Avatar, Voice
from airflow_provider_akool.operators.archive import AkoolArchiveToS3Operator
from airflow_provider_akool.sim.runner import SimServer


def operator(**overrides: Any) -> AkoolArchiveToS3Operator:
    fields: dict[str, Any] = {
        "task_id": "archive",
        "s3_bucket": "akool-bucket",
        "sources": ["https://cdn.example/a.mp4"],
    }
    return AkoolArchiveToS3Operator(**{**fields, **overrides})


# -- refused when the DAG is parsed ------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://files.example/a.mp4", "javascript:alert(1)", "s3://bucket/key", "/tmp/a.mp4"]
)
def test_non_http_schemes_are_refused_at_parse_time(url: str) -> None:
    with pytest.raises(ValueError, match=r"sources\[1\]: scheme .* is not allowed \(only http, https\)"):
        operator(sources=["https://cdn.example/ok.mp4", url])


def test_allowed_schemes_can_only_narrow_http_and_https() -> None:
    with pytest.raises(ValueError, match=r"sources\[0\]: scheme 'http' is not allowed \(only https\)"):
        operator(sources=["http://cdn.example/a.mp4"], allowed_schemes=["https"])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sources": None}, "sources: nothing to archive"),
        ({"s3_bucket": "Bad_Bucket"}, "s3_bucket"),
        ({"s3_bucket": "ab"}, "s3_bucket"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"upload_concurrency": 65}, "upload_concurrency"),
        ({"part_size": 1024}, "part_size"),
        ({"allowed_schemes": ["https", "ftp"]}, "allowed_schemes"),
        ({"allowed_schemes": []}, "allowed_schemes"),
        ({"avatar_platforms": ["everything"]}, "avatar_platforms"),
        ({"voice_types": [3]}, "voice_types"),
        ({"manifest_key": "../outside.json"}, "manifest_key"),
        ({"manifest_key": "/absolute.json"}, "manifest_key"),
        ({"asset_alias": "  "}, "asset_alias"),
        ({"progress_interval": -1}, "progress_interval"),
    ],
)
def test_bad_static_arguments_fail_at_parse_time_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        operator(**overrides)


def test_asset_alias_is_declared_as_an_outlet_next_to_the_users_own() -> None:
    from airflow.sdk import Asset, AssetAlias

    mine = Asset("s3://akool-bucket/akool/manifests/latest.json")
    op = operator(outlets=[mine])
    assert op.outlets == [mine, AssetAlias("akool_archive")]
    assert operator(asset_alias=None).outlets == []


# -- refused at run time, before any request ---------------------------------------------------
@pytest.mark.parametrize(
    ("sources", "overrides", "message"),
    [
        (
            [{"avatar_id": "a1", "url": "https://cdn.example/a.mp4", "thumbnail_url": "file:///etc/passwd"}],
            {},
            r"sources\[0\]\.thumbnail_url: scheme 'file' is not allowed",
        ),
        ([{"voice_id": "v1", "preview": "ftp://x/y.mp3"}], {}, r"sources\[0\]\.preview: scheme 'ftp'"),
        ([["https://cdn.example/a.mp4", "gopher://x/y"]], {}, r"sources\[0\]\[1\]: scheme 'gopher'"),
        ([{"url": "http://cdn.example/a.mp4"}], {"allowed_schemes": ["https"]}, r"sources\[0\]\.url: scheme 'http'"),
        (["https://evil.example/a.mp4"], {"allowed_hosts": [".akool.com"]}, r"sources\[0\]: host 'evil.example'"),
        ([{"url": "https://cdn.example/a.mp4", "key": "akool/../../etc/x"}], {}, r"sources\[0\]\.key: .*'\.\.'"),
        ([{"url": "https://cdn.example/a.mp4", "colour": "red"}], {}, r"sources\[0\]\.colour: Extra inputs"),
        ([{"name": "no url"}], {}, r"sources\[0\]: a record needs avatar_id, voice_id or url"),
        ([42], {}, r"sources\[0\]: expected a URL string or a record"),
        (["https://cdn.example/a.mp4"], {"key_template": "{prefix}/{colour}/{file_name}"}, "key_template"),
        (["https://cdn.example/a.mp4"], {"avatar_ids": ["ok1", "not an id"]}, "avatar_ids"),
        ([{"avatar_id": "a1", "url": "https://cdn.example/a.mp4", "created_at": "yesterday"}], {}, "created_at"),
    ],
)
def test_bad_run_time_input_fails_before_any_remote_call(
    sources: Any, overrides: dict[str, Any], message: str, sim: SimServer, s3: Any, bucket: str, aws_conn: str
) -> None:
    sim.clear_requests()
    op = operator(s3_bucket=bucket, aws_conn_id=aws_conn, sources=sources, **overrides)
    with pytest.raises(AirflowFailException, match=message):
        op.execute(make_context())
    assert sim.requests() == []
    assert keys(s3, bucket) == []


def test_templated_bucket_is_checked_after_rendering(sim: SimServer, aws_conn: str) -> None:
    op = operator(s3_bucket="{{ params.bucket }}", aws_conn_id=aws_conn)
    op.s3_bucket = "Not A Bucket"  # what rendering produced
    with pytest.raises(AirflowFailException, match="s3_bucket"):
        op.execute(make_context())


def test_missing_bucket_fails_without_fetching_anything(sim: SimServer, aws_conn: str) -> None:
    sim.clear_requests()
    url = sim.add_file(1024, "video/mp4", "a.mp4")
    with pytest.raises(AirflowFailException, match="s3_bucket: bucket 'no-such-bucket-here' does not exist"):
        operator(s3_bucket="no-such-bucket-here", aws_conn_id=aws_conn, sources=[url]).execute(make_context())
    assert [r for r in sim.requests() if "/_sim/files/" in r["path"] and r.get("method") == "GET"] == []


# -- path traversal in names -------------------------------------------------------------------
def test_hostile_names_stay_inside_the_prefix(sim: SimServer, s3: Any, bucket: str, aws_conn: str) -> None:
    url = sim.add_file(2048, "video/mp4", "clip.mp4")
    hostile = [
        {"url": url, "kind": "../../..", "owner_id": "../../root", "file_name": "../../etc/passwd"},
        {"url": url + "?v=2", "owner_id": "/abs/olute", "file_name": "C:\\Windows\\..\\evil.mp4"},
        {"avatar_id": "../../up", "url": url + "?v=3"},
    ]
    op = operator(s3_bucket=bucket, aws_conn_id=aws_conn, sources=hostile, s3_prefix="safe/area")
    summary = op.execute(make_context())

    assert summary["counts"]["archived"] == 3
    stored = [k for k in keys(s3, bucket) if "/manifests/" not in k]
    assert len(stored) == 3
    for key in stored:
        assert key.startswith("safe/area/")
        assert not any(seg in ("", ".", "..") for seg in key.split("/")), key
        assert "\\" not in key
    assert any(key.endswith("/passwd") for key in stored)
    assert any(key.endswith("/evil.mp4") for key in stored)
    manifest = read_manifest(s3, summary["manifest_uri"])
    assert {e["key"] for e in manifest["entries"]} == set(stored)


# -- records -> resources ----------------------------------------------------------------------
def test_avatar_operator_records_give_video_and_thumbnail_with_expiry() -> None:
    record = {
        "avatar_id": "av1",
        "name": "Ava",
        "status": "ready",
        "url": "https://cdn.example/av1.mp4",
        "thumbnail_url": "https://cdn.example/av1.jpg",
        "voice_id": "voice1",  # the avatar's default voice: not a resource of this record
        "created_at": "2026-01-01T00:00:00+00:00",
        "expires_at": "2026-01-08T00:00:00+00:00",
    }
    specs = specs_from_inputs([record])
    assert [(s.kind, s.owner_id, s.url) for s in specs] == [
        ("avatar-video", "av1", "https://cdn.example/av1.mp4"),
        ("avatar-thumbnail", "av1", "https://cdn.example/av1.jpg"),
    ]
    assert all(s.effective_expires_at == datetime(2026, 1, 8, tzinfo=UTC) for s in specs)
    assert specs[0].name == "avatar av1 video"


def test_api_models_voices_nested_lists_and_none_are_accepted() -> None:
    created_ms = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    avatar = Avatar.model_validate(
        {
            "avatar_id": "av2",
            "url": "https://cdn.example/v.mp4",
            "modify_url": "https://cdn.example/m.mp4",
            "thumbnailUrl": "https://cdn.example/t.jpg",
            "create_time": created_ms,
        }
    )
    voice = Voice.model_validate({"voice_id": "vo1", "preview": "https://cdn.example/p.mp3", "create_time": created_ms})
    plain = "https://cdn.example/path/file.mp4?Signature=abc123secret"
    specs = specs_from_inputs([[avatar.model_dump(by_alias=True)], [voice.model_dump(), None], None, plain])

    assert [s.kind for s in specs] == [
        "avatar-video",
        "avatar-modified-video",
        "avatar-thumbnail",
        "voice-preview",
        "url",
    ]
    assert specs[3].created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert specs[3].effective_expires_at == datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=7)
    assert specs[4].url == plain  # fetched as given ...
    assert specs[4].name == "https://cdn.example/path/file.mp4?Signature=REDACTED"  # ... named without the secret
    assert specs[4].owner_id.startswith("cdn.example-")


def test_redact_url_keeps_what_identifies_the_resource() -> None:
    assert redact_url("https://user:pw@cdn.example/a/b.mp4?Expires=1&Signature=x&Key-Pair-Id=k#frag") == (
        "https://cdn.example/a/b.mp4?Expires=REDACTED&Signature=REDACTED&Key-Pair-Id=REDACTED"
    )
    assert redact_url("https://cdn.example/a.mp4") == "https://cdn.example/a.mp4"
