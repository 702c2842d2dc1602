"""A SIGKILL anywhere in the publish of a large object must not leave an unverified object at its key.

``copy_url_to_s3`` uploads a large object to a staging key, completes that upload, publishes it at
the final key with one CopyObject carrying the ``sha256`` metadata, then deletes the staging
object (``archive/publish.py``). A SIGKILL (OOM killer, node loss) runs no cleanup, so this test
kills a copier process at the two windows of that sequence (deterministically: the process kills
itself) and checks that the final key is absent or holds the verified object, and that a re-run
completes and leaves neither a staging object nor an incomplete upload. Finding 8 of
docs/reliability.md, found by the kill matrix (``test_rel_kill.py``).
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from airflow_provider_akool.archive import CopyOptions, copy_url_to_s3
from airflow_provider_akool.archive.publish import STAGING_PREFIX
from airflow_provider_akool.sim.runner import SimServer

SOURCE_BYTES = 12 * 1024 * 1024  # more than one 5 MiB part: a staged multipart upload
KEY = "window/object.bin"
OPTIONS = CopyOptions(part_size=5 * 1024 * 1024)

COPIER = """
import os, signal, sys
import boto3, httpx
from airflow_provider_akool.archive import copier, publish, upload

def kill(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

window = sys.argv[5]
if window == "after-complete":
    complete = upload.ObjectWriter.complete

    def complete_then_die(self):
        complete(self)
        kill()

    upload.ObjectWriter.complete = complete_then_die
else:  # "after-publish": the final object is written, the staging object not yet deleted
    publish.delete_staging = kill
endpoint, bucket, key, url = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing")
with httpx.Client(timeout=30) as http:
    copier.copy_url_to_s3(url, s3_client=s3, http_client=http, bucket=bucket, key=key,
                          options=copier.CopyOptions(part_size=5 * 1024 * 1024))
"""


def _final_object(s3: Any, bucket: str) -> tuple[str, dict[str, str]] | None:
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    if KEY not in listed:
        return None
    response = s3.get_object(Bucket=bucket, Key=KEY)
    return hashlib.sha256(response["Body"].read()).hexdigest(), response.get("Metadata", {})


@pytest.mark.parametrize(("window", "rerun_status"), [("after-complete", "archived"), ("after-publish", "skipped")])
def test_sigkill_during_publish_leaves_the_final_key_absent_or_verified(
    window: str, rerun_status: str, akool_sim: SimServer, moto_endpoint: str, s3: Any, bucket: str
) -> None:
    url = akool_sim.add_file(SOURCE_BYTES, name="object.bin")
    with httpx.Client(timeout=30) as http:
        source_sha256 = hashlib.sha256(http.get(url).content).hexdigest()
    process = subprocess.run(
        [sys.executable, "-c", COPIER, moto_endpoint, bucket, KEY, url, window],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    staged = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=STAGING_PREFIX).get("Contents", [])]
    assert staged == [STAGING_PREFIX + KEY], "the kill did not hit the window under test"

    found = _final_object(s3, bucket)
    if window == "after-complete":
        assert found is None, f"{KEY} appeared before it was published"
    else:
        assert found is not None
    if found is not None:
        body_sha256, metadata = found
        assert metadata.get("sha256") == body_sha256 == source_sha256, f"{KEY} is there but not verified"

    with httpx.Client(timeout=30) as http:
        result = copy_url_to_s3(url, s3_client=s3, http_client=http, bucket=bucket, key=KEY, options=OPTIONS)
    assert result.status == rerun_status
    found = _final_object(s3, bucket)
    assert found is not None
    assert found[1].get("sha256") == found[0] == source_sha256
    staged = s3.list_objects_v2(Bucket=bucket, Prefix=STAGING_PREFIX).get("Contents", [])
    assert staged == [], "the re-run left a staging object"
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), "an incomplete upload was left"
