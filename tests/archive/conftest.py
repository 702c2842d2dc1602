"""Fixtures for archive tests: the local file server and an HTTP client (S3: SeaweedFS, from s3_support)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from archive_fileserver import FileServer, RunningFileServer


@pytest.fixture
def files() -> Iterator[FileServer]:
    with RunningFileServer() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client
