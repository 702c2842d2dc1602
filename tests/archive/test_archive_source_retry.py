"""The source download retries with the client's RetryPolicy: bounded by attempts, and by how long it keeps failing."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_akool.archive import DOWNLOAD_RETRY, CopyOptions, DownloadError, RetryPolicy
from airflow_provider_akool.archive.source import ResumableDownload
from airflow_provider_akool.client import AkoolClient, ClientConfig

URL = "https://cdn.example/clip.mp4"


class FakeClock:
    """Monotonic time that moves only when the download sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def download(handler: httpx.MockTransport, policy: RetryPolicy, clock: FakeClock) -> ResumableDownload:
    client = httpx.Client(transport=handler)
    return ResumableDownload(client, URL, policy=policy, sleep=clock.sleep, clock=clock)


def test_one_policy_class_serves_the_api_clients_and_the_downloads() -> None:
    api = AkoolClient(ClientConfig(api_key="k", max_attempts=3))
    assert isinstance(api.retry, RetryPolicy)
    assert isinstance(CopyOptions().retry, RetryPolicy)
    assert CopyOptions().retry == DOWNLOAD_RETRY
    assert DOWNLOAD_RETRY.max_time is None  # a healthy multi-GB download may take hours


def test_a_source_that_keeps_failing_is_given_up_after_max_time() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def always_busy(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    policy = RetryPolicy(max_attempts=1000, base=2.0, max_wait=2.0, max_time=30.0)
    with pytest.raises(DownloadError, match=r"kept failing for \d+s \(retry\.max_time 30s\)"):
        download(httpx.MockTransport(always_busy), policy, clock).open()
    assert clock.now <= 32.0  # gave up within one wait of the bound
    assert 2 < len(calls) < 1000  # retried, but not until the attempts ran out


def test_max_attempts_counts_every_get() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def always_busy(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    with pytest.raises(DownloadError, match="failed after 3 attempts: HTTP 503"):
        download(httpx.MockTransport(always_busy), RetryPolicy(max_attempts=3, max_time=None), clock).open()
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"max_attempts": 0}, "retry.max_attempts"), ({"max_wait": -1.0}, "retry.base, retry.max_wait")],
)
def test_a_bad_policy_is_refused_naming_the_field(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**fields)  # type: ignore[arg-type]
