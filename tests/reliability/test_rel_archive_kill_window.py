"""A SIGKILL anywhere in the copy of a large object never leaves an object a later run trusts wrongly.

The default mode uploads a large object straight to its final key and, once the upload is
complete, records its sha256 in tags naming the object's ETag (``archive/verify.py``). A SIGKILL
(OOM killer, node loss) runs no cleanup, so this test kills a copier process, against a real S3
server (SeaweedFS), at each step of that sequence: the process kills itself, so the window is hit
deterministically. Then it checks what docs/guides/archive.md promises for that step:

* mid-upload (two parts sent): the final key is absent; an incomplete upload is left;
* between CompleteMultipartUpload and PutObjectTagging: the key holds the whole object, untagged,
  so it is not verified;
* after the tags: the key holds the verified object.

A re-run then leaves the verified object and no incomplete upload: it uploads the object again
in the first two cases and skips it (0 bytes uploaded) in the third.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest
from s3_support import S3Server, pending_uploads, verified_sha256

from airflow_provider_akool.archive import CopyOptions, copy_url_to_s3
from airflow_provider_akool.sim.runner import SimServer

SOURCE_BYTES = 17 * 1024 * 1024  # four 5 MiB parts (the last one short)
KEY = "window/object.bin"
OPTIONS = CopyOptions(part_size=5 * 1024 * 1024, upload_concurrency=1)

COPIER = """
import os, signal, sys, threading
import boto3, httpx
from airflow_provider_akool.archive import copier, upload, verify

def kill(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

endpoint, access_key, secret_key, bucket, key, url, window = sys.argv[1:8]
if window == "mid-upload":  # after the second part was accepted, with more to come
    upload_part = upload.ObjectWriter._upload_part
    sent = []
    lock = threading.Lock()

    def upload_part_then_die(self, upload_id, number, data):
        part = upload_part(self, upload_id, number, data)
        with lock:
            sent.append(number)
            if len(sent) == 2:
                kill()
        return part

    upload.ObjectWriter._upload_part = upload_part_then_die
elif window == "before-tag":  # the upload is complete, its tags not yet written
    verify.record_sha256 = kill
else:  # "after-tag": the tags are written; killed before the copier returns
    record = verify.record_sha256

    def record_then_die(*args, **kwargs):
        record(*args, **kwargs)
        kill()

    verify.record_sha256 = record_then_die
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access_key,
                  aws_secret_access_key=secret_key)
with httpx.Client(timeout=30) as http:
    copier.copy_url_to_s3(url, s3_client=s3, http_client=http, bucket=bucket, key=key,
                          options=copier.CopyOptions(part_size=5 * 1024 * 1024, upload_concurrency=1))
print("not killed")
"""


@pytest.fixture(scope="session")
def s3_server(seaweed_server: S3Server) -> S3Server:
    """A real S3 server: SeaweedFS, one for the session."""
    return seaweed_server


def _keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _body_sha256(s3: Any, bucket: str) -> str:
    return hashlib.sha256(s3.get_object(Bucket=bucket, Key=KEY)["Body"].read()).hexdigest()


@pytest.mark.parametrize(
    ("window", "left_at_key", "rerun_status"),
    [
        ("mid-upload", "absent", "archived"),
        ("before-tag", "unverified", "archived"),
        ("after-tag", "verified", "skipped"),
    ],
)
def test_sigkill_at_each_step_leaves_the_key_absent_unverified_or_verified(
    window: str,
    left_at_key: str,
    rerun_status: str,
    akool_sim: SimServer,
    s3_server: S3Server,
    s3: Any,
    bucket: str,
) -> None:
    url = akool_sim.add_file(SOURCE_BYTES, name="object.bin")
    with httpx.Client(timeout=30) as http:
        source_sha256 = hashlib.sha256(http.get(url).content).hexdigest()
    argv = [s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key, bucket, KEY, url, window]
    process = subprocess.run(
        [sys.executable, "-c", COPIER, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert process.returncode == -signal.SIGKILL, process.stdout + process.stderr[-2000:]

    if left_at_key == "absent":
        assert _keys(s3, bucket) == [], f"{KEY} appeared before its upload was complete"
        assert pending_uploads(s3, bucket) == [KEY], "the kill did not hit the upload"
    else:
        assert _keys(s3, bucket) == [KEY]
        assert _body_sha256(s3, bucket) == source_sha256  # complete in both cases
        expected = source_sha256 if left_at_key == "verified" else None
        assert verified_sha256(s3, bucket, KEY) == expected, f"{KEY} should be {left_at_key}"
        assert pending_uploads(s3, bucket) == []

    with httpx.Client(timeout=30) as http:
        result = copy_url_to_s3(url, s3_client=s3, http_client=http, bucket=bucket, key=KEY, options=OPTIONS)
    assert result.status == rerun_status
    assert result.bytes_uploaded == (SOURCE_BYTES if rerun_status == "archived" else 0)
    assert _body_sha256(s3, bucket) == verified_sha256(s3, bucket, KEY) == source_sha256
    assert pending_uploads(s3, bucket) == [], "an incomplete upload was left"
