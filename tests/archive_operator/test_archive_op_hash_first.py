"""``hash_first`` on AkoolArchiveToS3Operator: refused at parse time unless a bool; reaches the copier."""

from __future__ import annotations

from typing import Any

import pytest
from archive_op_support import keys, object_sha256, source_sha256
from task_support import make_context

from airflow_provider_akool.archive import batch
from airflow_provider_akool.operators.archive import AkoolArchiveToS3Operator
from airflow_provider_akool.sim.runner import SimServer

MiB = 1024 * 1024


@pytest.mark.parametrize("value", ["yes", "False", 1, None])
def test_hash_first_must_be_a_bool_and_is_refused_before_any_call(value: Any, sim: SimServer) -> None:
    sim.clear_requests()
    with pytest.raises(ValueError, match=r"hash_first: must be True or False \(got "):
        AkoolArchiveToS3Operator(
            task_id="archive", s3_bucket="akool-bucket", sources=["https://cdn.example/a.mp4"], hash_first=value
        )
    assert sim.requests() == []


def test_hash_first_reaches_the_copier(
    sim: SimServer,
    s3: Any,
    bucket: str,
    aws_conn: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[bool] = []
    real_copy = batch.copy_url_to_s3

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["options"].hash_first)
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(batch, "copy_url_to_s3", spy)
    url = sim.add_file(6 * MiB + 123, "video/mp4", "big.mp4")  # two 5 MiB parts
    sim.clear_requests()
    op = AkoolArchiveToS3Operator(
        task_id="archive",
        s3_bucket=bucket,
        aws_conn_id=aws_conn,
        sources=[url],
        part_size=5 * MiB,
        hash_first=True,
        manifest_key="akool/m.json",
    )
    summary = op.execute(make_context())

    assert seen == [True]
    assert summary["counts"]["archived"] == 1
    gets = [r for r in sim.requests() if r["path"].endswith("/big.mp4") and r.get("method") == "GET"]
    assert len(gets) == 2  # the hash pass, then the upload pass
    [key] = [k for k in keys(s3, bucket) if k != "akool/m.json"]  # no staging object
    assert key.startswith("akool/url/") and key.endswith("/big.mp4")
    assert s3.head_object(Bucket=bucket, Key=key)["Metadata"]["sha256"] == object_sha256(s3, bucket, key)
    assert object_sha256(s3, bucket, key) == source_sha256(url)
    out = capsys.readouterr().out
    assert "big.mp4: hash_first pass 1/2: reading the source" in out
    assert f"big.mp4: hash_first pass 2/2: uploading to s3://{bucket}/{key}" in out
