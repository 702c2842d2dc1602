"""Fixtures for archive tests: the local file server and an HTTP client (S3: SeaweedFS, from s3_support)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from archive_fileserver import FileServer, RunningFileServer
from s3_support import S3Server


@pytest.fixture
def files() -> Iterator[FileServer]:
    with RunningFileServer() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture(scope="session")
def s3_server(seaweed_server: S3Server) -> S3Server:
    """These tests run against a real S3 server (SeaweedFS), one for the session."""
    return seaweed_server
