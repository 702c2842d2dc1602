"""Benchmark: the archive's default mode vs raw boto3 (and other ways), HTTP -> S3 on SeaweedFS.

    python benchmarks/archive_large.py --size-mb 100 1024              # the issue-13 table
    python benchmarks/archive_large.py --size-mb 1024 --repeat 3       # three interleaved pairs
    python benchmarks/archive_large.py --methods boto3 copier hash_first amazon

A resource of N MiB is generated on the fly by a loopback HTTP server in this process; S3 is a
SeaweedFS server (``weed``, from the dev extra) in its own process group, stopped by PID. Each
method runs in its own subprocess, so the peak RSS reported (``ru_maxrss``) belongs to that method
alone (as is the CPU time, user + system, of the copy), and reads the source through the same
httpx streaming GET:

  copier    airflow_provider_akool.archive.copy_url_to_s3 with its defaults (8 MiB parts, 4 in
            flight): one multipart upload straight to the final key, CRC32 checksums per part,
            then PutObjectTagging with the sha256 (no server-side copy); the note gives the
            tagging time
  rerun     the copier again on the key ``copier`` just wrote (skip_existing): must upload 0 bytes
  boto3     the baseline: the httpx stream wrapped as a file object -> ``s3.upload_fileobj``
            (default TransferConfig)
  hash_first  ``CopyOptions(hash_first=True)``: one GET to hash the source, a second uploaded with
            the sha256 in the metadata; the note splits its time into the two passes
  amazon    what apache-airflow-providers-amazon's HttpToS3Operator.execute does, without Airflow:
            a ``requests`` GET of the whole body, then ``upload_fileobj(BytesIO(content))``.

``--repeat N`` runs the baseline and the copier N times, alternately, so both see the same load.
Then (unless ``--skip-small``) 200 small files (256 KiB) through ``archive_resources`` with
concurrency 8 and 1. Prints markdown tables on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MiB = 1024 * 1024
BLOCK = hashlib.sha256(b"akool-archive-benchmark").digest() * (MiB // 32)  # 1 MiB, deterministic
METHODS = ("copier", "rerun", "hash_first", "boto3", "amazon")
DEFAULT_METHODS = ("boto3", "copier", "rerun")


# ---------------------------------------------------------------- loopback HTTP source (parent) --


def body_sha256(size: int) -> str:
    digest = hashlib.sha256()
    full, rest = divmod(size, MiB)
    for _ in range(full):
        digest.update(BLOCK)
    digest.update(BLOCK[:rest])
    return digest.hexdigest()


class Source(BaseHTTPRequestHandler):
    """``GET /blob/<bytes>/<name>``: <bytes> of the repeated block, with Content-Length (and HEAD)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _headers(self) -> int:
        size = int(self.path.split("/")[2])
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return size

    def do_HEAD(self) -> None:
        """What the skip rule asks a source before trusting an archived copy of it."""
        self._headers()

    def do_GET(self) -> None:
        left = self._headers()
        try:
            while left:
                chunk = BLOCK if left >= MiB else BLOCK[:left]
                self.wfile.write(chunk)
                left -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def start_source() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Source)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def start_seaweed(workdir: str) -> Any:
    from pathlib import Path

    from akool_demo.seaweedfs import SeaweedS3

    return SeaweedS3.start(Path(workdir))


# ------------------------------------------------------------------------ workers (subprocess) --


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    from akool_demo.seaweedfs import SeaweedS3

    return boto3.client(
        "s3", endpoint_url=endpoint, config=Config(max_pool_connections=40), **SeaweedS3.boto3_credentials()
    )


def rss_now() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def worker(args: argparse.Namespace) -> None:
    import httpx

    s3 = s3_client(args.endpoint)
    s3.list_buckets()  # warm the client before the baseline RSS reading
    before = rss_now()
    start_usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = start_usage.ru_utime + start_usage.ru_stime
    started = time.perf_counter()
    info: dict[str, Any] = {}
    if args.worker in ("copier", "rerun", "hash_first"):
        from airflow_provider_akool.archive import CopyOptions, copy_url_to_s3, hashpass, verify

        record_sha256, hash_source = verify.record_sha256, hashpass.hash_source

        def timed_record(*a: Any, **kw: Any) -> Any:
            began = time.perf_counter()
            how = record_sha256(*a, **kw)
            info["tagging_seconds"] = time.perf_counter() - began
            return how

        def timed_hash(*a: Any, **kw: Any) -> Any:
            began = time.perf_counter()
            digest = hash_source(*a, **kw)
            info["hash_pass_seconds"] = time.perf_counter() - began
            return digest

        verify.record_sha256 = timed_record
        hashpass.hash_source = timed_hash
        with httpx.Client(timeout=60) as http:
            result = copy_url_to_s3(
                args.url,
                s3_client=s3,
                http_client=http,
                bucket=args.bucket,
                key=args.key,
                options=CopyOptions(skip_existing=args.worker == "rerun", hash_first=args.worker == "hash_first"),
            )
        info.update(
            sha256=result.sha256,
            status=result.status,
            sha256_in=result.sha256_in,
            source_passes=result.source_passes,
            bytes_downloaded=result.bytes_downloaded,
            bytes_uploaded=result.bytes_uploaded,
        )
    elif args.worker == "boto3":

        class StreamFile:
            """Minimal read()-able view of an httpx byte iterator (not seekable)."""

            def __init__(self, chunks: Any) -> None:
                self._chunks = chunks
                self._pending = b""

            def read(self, size: int = -1) -> bytes:
                out = [self._pending]
                have = len(self._pending)
                while size < 0 or have < size:
                    chunk = next(self._chunks, b"")
                    if not chunk:
                        break
                    out.append(chunk)
                    have += len(chunk)
                data = b"".join(out)
                if size < 0:
                    self._pending = b""
                    return data
                self._pending = data[size:]
                return data[:size]

        with httpx.Client(timeout=60) as http, http.stream("GET", args.url) as response:
            response.raise_for_status()
            s3.upload_fileobj(StreamFile(response.iter_raw(256 * 1024)), args.bucket, args.key)
    elif args.worker == "amazon":
        from io import BytesIO

        import requests
        from boto3.s3.transfer import TransferConfig

        with requests.Session() as session:
            reply = session.get(args.url)  # HttpHook.run: stream defaults to False
            reply.raise_for_status()  # HttpHook.check_response
            content = reply.content
        with BytesIO(content) as f:  # S3Hook.load_bytes -> _upload_file_obj
            s3.upload_fileobj(f, args.bucket, args.key, ExtraArgs={}, Config=TransferConfig())
    elif args.worker.startswith("batch"):
        from airflow_provider_akool.archive import CopyOptions, ResourceSpec, archive_resources

        specs = [
            ResourceSpec(url=f"{args.url}/blob/{args.size}/f{i}.bin", owner_id="bench", kind="small")
            for i in range(args.count)
        ]
        with httpx.Client(timeout=60) as http:
            results = archive_resources(
                specs,
                s3_client=s3,
                http_client=http,
                bucket=args.bucket,
                prefix=args.key,
                max_concurrency=args.concurrency,
                options=CopyOptions(skip_existing=False),
            )
        info["statuses"] = sorted({r.status.value for r in results})
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss * 1024
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    print(json.dumps({"seconds": elapsed, "cpu_seconds": cpu, "peak_rss": peak, "rss_before": before, **info}))


# ---------------------------------------------------------------------------------- driver --


def run_worker(extra: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *extra], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"worker {extra[:2]} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def verified_sha256(s3: Any, bucket: str, key: str) -> str | None:
    """The sha256 a later run trusts: ``sha256`` metadata, or the tags written for the current ETag."""
    head = s3.head_object(Bucket=bucket, Key=key)
    if "sha256" in head.get("Metadata", {}):
        return str(head["Metadata"]["sha256"])
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    return tags.get("akool-sha256") if tags.get("akool-etag") == head["ETag"].strip('"') else None


def note_for(method: str, res: dict[str, Any], size: int, baseline_rate: float | None) -> str:
    if method == "copier":
        return f"sha256 in {res['sha256_in']}s; PutObjectTagging {res.get('tagging_seconds', 0.0):.2f} s; no CopyObject"
    if method == "rerun":
        return f"{res['status']}, {res['bytes_uploaded']} bytes uploaded, {res['bytes_downloaded']} downloaded"
    if method == "hash_first":
        hash_s = res["hash_pass_seconds"]
        upload_s = res["seconds"] - hash_s
        ratio = f"{size / upload_s / baseline_rate:.2f}x" if baseline_rate else "-"
        return f"hash pass {hash_s:.2f} s + upload pass {upload_s:.2f} s ({ratio})"
    return ""


def check_result(s3: Any, bucket: str, key: str, method: str, res: dict[str, Any], size: int, expected: str) -> None:
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == size, (method, head["ContentLength"])
    if method in ("copier", "rerun", "hash_first"):
        assert res["sha256"] == expected == verified_sha256(s3, bucket, key), (method, res)
    if method == "copier":
        assert res["sha256_in"] == "tag", res
    if method == "rerun":
        assert (res["status"], res["bytes_uploaded"], res["bytes_downloaded"]) == ("skipped", 0, 0), res
    if method == "hash_first":
        assert (res["source_passes"], res["bytes_downloaded"]) == (2, 2 * size), res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, nargs="+", default=[100, 1024], help="object sizes in MiB")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=METHODS)
    parser.add_argument("--repeat", type=int, default=1, help="interleaved baseline/copier rounds per size")
    parser.add_argument("--small-count", type=int, default=200)
    parser.add_argument("--small-kb", type=int, default=256)
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    for hidden in ("--url", "--endpoint", "--bucket", "--key"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    for hidden in ("--size", "--count", "--concurrency"):
        parser.add_argument(hidden, type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    import tempfile

    workdir = tempfile.mkdtemp(prefix="akool-bench-weed-")
    weed = start_seaweed(workdir)
    source, base = start_source()
    endpoint = weed.endpoint_url
    s3 = s3_client(endpoint)
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    common = ["--endpoint", endpoint, "--bucket", bucket]
    rows: list[str] = []
    small_rows: list[str] = []
    # the boto3 baseline runs first in each round: the other rates are relative to it
    order = ["boto3", *[m for m in METHODS if m in args.methods and m != "boto3"]]
    try:
        for size_mb in args.size_mb:
            size = size_mb * MiB
            expected = body_sha256(size)
            for round_number in range(1, args.repeat + 1):
                baseline_rate: float | None = None
                for method in order:
                    key = f"large/{'copier' if method == 'rerun' else method}-{size_mb}.bin"
                    print(f"[bench] {size_mb} MiB via {method} (round {round_number}) ...", file=sys.stderr, flush=True)
                    res = run_worker(["--worker", method, "--url", f"{base}/blob/{size}/x.mp4", "--key", key, *common])
                    check_result(s3, bucket, key, method, res, size, expected)
                    if method != "copier" or "rerun" not in order:
                        s3.delete_object(Bucket=bucket, Key=key)
                    if method == "boto3":
                        baseline_rate = size / res["seconds"]
                    rate = size / res["seconds"]
                    ratio = f"{rate / baseline_rate:.2f}x" if baseline_rate and method != "rerun" else "-"
                    rows.append(
                        f"| {size_mb} MiB | {round_number} | {method} | {res['seconds']:.2f} "
                        f"| {res['cpu_seconds']:.2f} | {rate / MiB:.1f} "
                        f"| {ratio} | {res['peak_rss'] / MiB:.0f} | {(res['peak_rss'] - res['rss_before']) / MiB:.0f} "
                        f"| {note_for(method, res, size, baseline_rate)} |"
                    )
        if not args.skip_small:
            size = args.small_kb * 1024
            for concurrency in (8, 1):
                print(f"[bench] {args.small_count} x {args.small_kb} KiB, concurrency {concurrency}", file=sys.stderr)
                prefix = f"small-c{concurrency}-{uuid.uuid4().hex[:6]}"
                res = run_worker(
                    [
                        "--worker",
                        f"batch{concurrency}",
                        "--url",
                        base,
                        "--key",
                        prefix,
                        "--size",
                        str(size),
                        "--count",
                        str(args.small_count),
                        "--concurrency",
                        str(concurrency),
                        *common,
                    ]
                )
                assert res["statuses"] == ["archived"], res
                total = size * args.small_count
                small_rows.append(
                    f"| {args.small_count} x {args.small_kb} KiB | {concurrency} | {res['seconds']:.2f} "
                    f"| {args.small_count / res['seconds']:.1f} | {total / res['seconds'] / MiB:.1f} "
                    f"| {res['peak_rss'] / MiB:.0f} |"
                )
    finally:
        source.shutdown()
        weed.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print("| size | round | method | seconds | CPU s | MiB/s | vs boto3 | peak RSS MiB | RSS growth MiB | note |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if small_rows:
        print()
        print("| files | concurrency | seconds | files/s | MiB/s | peak RSS MiB |")
        print("|---|---|---|---|---|---|")
        print("\n".join(small_rows))


if __name__ == "__main__":
    main()
