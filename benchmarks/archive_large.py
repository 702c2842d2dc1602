"""Benchmark: streaming copier vs raw boto3 vs the HttpToS3Operator approach, HTTP -> S3 (moto).

    python benchmarks/archive_large.py --size-mb 1024          # one size
    python benchmarks/archive_large.py --size-mb 100 1024      # flatness of memory over sizes

A resource of N MiB is generated on the fly by a loopback HTTP server in this process; S3 is a
moto server in its own process. Each method runs in its own subprocess, so the peak RSS reported
(``ru_maxrss``) belongs to that method alone:

  copier    airflow_provider_akool.archive.copy_url_to_s3 (defaults: 8 MiB parts, 4 in flight), which
            stages the upload and publishes it with one server-side CopyObject (sha256 metadata);
            the note column splits its time into the streaming phase and the publish
  hash_first  the same with ``CopyOptions(hash_first=True)``: one GET to hash the source, then a
            second GET uploaded straight to the final key with the sha256 set at creation (no
            staging, no CopyObject); the note column splits its time into the two passes
  boto3     httpx stream wrapped as a file object -> ``s3.upload_fileobj`` (default TransferConfig)
  amazon    what apache-airflow-providers-amazon's HttpToS3Operator.execute does, without Airflow:
            HttpHook.run = ``requests`` GET with stream=False (whole body in ``response.content``),
            then S3Hook.load_bytes = ``upload_fileobj(BytesIO(content), Config=TransferConfig())``.
            Replicated because running the operator needs Airflow connections and ``import
            airflow`` alone adds ~110 MB of RSS that is not the method's cost.

Then 200 small files (256 KiB) through ``archive_resources`` with concurrency 8 and 1.
Prints a markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MiB = 1024 * 1024
BLOCK = hashlib.sha256(b"akool-archive-benchmark").digest() * (MiB // 32)  # 1 MiB, deterministic
METHODS = ("copier", "hash_first", "boto3", "amazon")


# ---------------------------------------------------------------- loopback HTTP source (parent) --


def body_sha256(size: int) -> str:
    digest = hashlib.sha256()
    full, rest = divmod(size, MiB)
    for _ in range(full):
        digest.update(BLOCK)
    digest.update(BLOCK[:rest])
    return digest.hexdigest()


class Source(BaseHTTPRequestHandler):
    """``GET /blob/<bytes>/<name>``: <bytes> of the repeated block, with Content-Length."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        parts = self.path.split("/")
        size = int(parts[2])
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        left = size
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


MOTO = (
    "import logging, sys\n"
    "logging.getLogger('werkzeug').setLevel(logging.ERROR)\n"
    "from moto.server import ThreadedMotoServer\n"
    "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
    "s.start()\n"
    "print(s.get_host_and_port()[1], flush=True)\n"
    "sys.stdin.read()\n"
    "s.stop()\n"
)


# ------------------------------------------------------------------------ workers (subprocess) --


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=40),
    )


def rss_now() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def worker(args: argparse.Namespace) -> None:
    import httpx

    s3 = s3_client(args.endpoint)
    s3.list_buckets()  # warm the client before the baseline RSS reading
    before = rss_now()
    started = time.perf_counter()
    info: dict[str, Any] = {}
    if args.worker in ("copier", "hash_first"):
        from airflow_provider_akool.archive import CopyOptions, copy_url_to_s3, hashpass, publish

        # Time the publish (server-side copy staging -> final key with the sha256 in the metadata)
        # and the staging delete; the rest is the streaming phase.
        copy_object, delete_staging = publish.publish_object, publish.delete_staging

        def timed_copy(*a: Any, **kw: Any) -> None:
            began = time.perf_counter()
            copy_object(*a, **kw)
            info["publish_copy_seconds"] = time.perf_counter() - began

        def timed_delete(*a: Any, **kw: Any) -> None:
            began = time.perf_counter()
            delete_staging(*a, **kw)
            info["staging_delete_seconds"] = info.get("staging_delete_seconds", 0.0) + time.perf_counter() - began

        publish.publish_object = timed_copy
        publish.delete_staging = timed_delete
        hash_source = hashpass.hash_source

        def timed_hash(*a: Any, **kw: Any) -> Any:
            began = time.perf_counter()
            digest = hash_source(*a, **kw)
            info["hash_pass_seconds"] = time.perf_counter() - began
            return digest

        hashpass.hash_source = timed_hash

        with httpx.Client(timeout=60) as http:
            result = copy_url_to_s3(
                args.url,
                s3_client=s3,
                http_client=http,
                bucket=args.bucket,
                key=args.key,
                options=CopyOptions(skip_existing=False, hash_first=args.worker == "hash_first"),
            )
        info["sha256"] = result.sha256
        info["source_passes"] = result.source_passes
        info["bytes_downloaded"] = result.bytes_downloaded
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": elapsed, "peak_rss": peak, "rss_before": before, **info}))


# ---------------------------------------------------------------------------------- driver --


def run_worker(extra: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *extra], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"worker {extra[:2]} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, nargs="+", default=[100, 1024], help="object sizes in MiB")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
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

    moto = subprocess.Popen([sys.executable, "-c", MOTO], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert moto.stdout is not None
    assert moto.stdin is not None
    endpoint = f"http://127.0.0.1:{int(moto.stdout.readline())}"
    source, base = start_source()
    s3 = s3_client(endpoint)
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    common = ["--endpoint", endpoint, "--bucket", bucket]
    rows: list[str] = []
    try:
        for size_mb in args.size_mb:
            size = size_mb * MiB
            expected = body_sha256(size)
            baseline_rate: float | None = None
            results: dict[str, dict[str, Any]] = {}
            # the boto3 baseline always runs first: the other rates are reported relative to it
            for method in ("boto3", *[m for m in args.methods if m != "boto3"]):
                key = f"large/{method}-{size_mb}.bin"
                print(f"[bench] {size_mb} MiB via {method} ...", file=sys.stderr, flush=True)
                res = run_worker(["--worker", method, "--url", f"{base}/blob/{size}/x.mp4", "--key", key, *common])
                head = s3.head_object(Bucket=bucket, Key=key)
                assert head["ContentLength"] == size, (method, head["ContentLength"])
                if method in ("copier", "hash_first"):
                    assert res["sha256"] == expected == head["Metadata"]["sha256"]
                if method == "hash_first":
                    assert res["source_passes"] == 2, res
                    assert res["bytes_downloaded"] == 2 * size, res
                    assert "publish_copy_seconds" not in res, res  # no server-side copy
                    assert not s3.list_objects_v2(Bucket=bucket, Prefix=".akool-staging/").get("Contents")
                s3.delete_object(Bucket=bucket, Key=key)
                results[method] = res
                if method == "boto3":
                    baseline_rate = size / res["seconds"]
            for method in [m for m in METHODS if m in results]:
                res = results[method]
                rate = size / res["seconds"]
                ratio = f"{rate / baseline_rate:.2f}x" if baseline_rate else "-"
                note = ""
                if "publish_copy_seconds" in res:
                    publish_s = res["publish_copy_seconds"] + res.get("staging_delete_seconds", 0.0)
                    stream_s = res["seconds"] - publish_s
                    stream_ratio = f"{size / stream_s / baseline_rate:.2f}x" if baseline_rate else "-"
                    note = (
                        f"streaming {stream_s:.2f} s ({stream_ratio}) + publish {res['publish_copy_seconds']:.2f} s "
                        f"CopyObject + {res.get('staging_delete_seconds', 0.0):.2f} s DeleteObject"
                    )
                elif "hash_pass_seconds" in res:
                    hash_s = res["hash_pass_seconds"]
                    upload_s = res["seconds"] - hash_s
                    upload_ratio = f"{size / upload_s / baseline_rate:.2f}x" if baseline_rate else "-"
                    note = f"hash pass {hash_s:.2f} s + upload pass {upload_s:.2f} s ({upload_ratio}); no CopyObject"
                rows.append(
                    f"| {size_mb} MiB | {method} | {res['seconds']:.2f} | {rate / MiB:.1f} | {ratio} "
                    f"| {res['peak_rss'] / MiB:.0f} | {(res['peak_rss'] - res['rss_before']) / MiB:.0f} | {note} |"
                )
        small_rows: list[str] = []
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
        moto.stdin.close()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()

    print("| size | method | seconds | MiB/s | vs boto3 | peak RSS MiB | RSS growth MiB | note |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if small_rows:
        print()
        print("| files | concurrency | seconds | files/s | MiB/s | peak RSS MiB |")
        print("|---|---|---|---|---|---|")
        print("\n".join(small_rows))


if __name__ == "__main__":
    main()
