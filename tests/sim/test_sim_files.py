"""Resource files: headers, Range requests, expiry after 7 simulated days, big files streamed."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import psutil
import pytest

from airflow_provider_akool.sim import SimServer

GIB = 1024**3


def test_full_and_ranged_downloads_agree(akool_sim: SimServer) -> None:
    url = akool_sim.add_file(300_000, "video/mp4", "a.mp4")
    full = httpx.get(url)
    assert full.status_code == 200
    assert full.headers["content-type"] == "video/mp4"
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-length"] == "300000"
    body = full.content
    assert len(body) == 300_000
    assert httpx.get(url).content == body  # deterministic
    for header, start, end in [
        ("bytes=0-9", 0, 9),
        ("bytes=65530-65545", 65530, 65545),
        ("bytes=299990-", 299990, 299999),
        ("bytes=-5", 299995, 299999),
        ("bytes=299000-999999", 299000, 299999),
    ]:
        part = httpx.get(url, headers={"Range": header})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes {start}-{end}/300000"
        assert part.content == body[start : end + 1]
    bad = httpx.get(url, headers={"Range": "bytes=300000-"})
    assert bad.status_code == 416
    assert bad.headers["content-range"] == "bytes */300000"


def test_head_and_unknown_files(akool_sim: SimServer) -> None:
    url = akool_sim.add_file(1234, "audio/mpeg", "v.mp3")
    head = httpx.head(url)
    assert head.status_code == 200
    assert head.headers["content-length"] == "1234"
    assert head.content == b""
    assert httpx.get(url + "x").status_code == 404


def test_seeded_resources_are_served(api: httpx.Client, akool_sim: SimServer) -> None:
    avatar = api.get("/api/open/v4/liveAvatar/avatar/detail", params={"avatar_id": "dvp_Tristan_cloth2_1080P"}).json()[
        "data"
    ]
    video = httpx.get(avatar["url"])
    thumb = httpx.get(avatar["thumbnailUrl"])
    assert (video.status_code, video.headers["content-type"]) == (200, "video/mp4")
    assert (thumb.status_code, thumb.headers["content-type"]) == (200, "image/jpeg")
    assert len(video.content) == akool_sim.config.resource_size_bytes


def test_files_expire_after_seven_simulated_days(
    akool_sim_factory: Callable[..., SimServer], client_for: Callable[[SimServer], httpx.Client]
) -> None:
    sim = akool_sim_factory(time_scale=1.0)
    url = sim.add_file(100, "image/jpeg", "t.jpg")
    sim.advance(7 * 24 * 3600 - 60)
    assert httpx.get(url).status_code == 200
    later = sim.add_file(100, "image/jpeg", "later.jpg")
    sim.advance(120)
    assert httpx.get(url).status_code == 403
    assert httpx.get(later).status_code == 200


def test_one_gib_file_is_streamed_not_buffered(akool_sim: SimServer) -> None:
    process = psutil.Process()
    before = process.memory_info().rss
    url = akool_sim.add_file(GIB, "video/mp4", "huge.mp4")
    assert httpx.head(url).headers["content-length"] == str(GIB)
    tail = httpx.get(url, headers={"Range": f"bytes={GIB - 10}-"})
    assert tail.status_code == 206
    assert len(tail.content) == 10
    middle = httpx.get(url, headers={"Range": f"bytes={GIB // 2}-{GIB // 2 + 99}"})
    assert len(middle.content) == 100
    assert httpx.get(url, headers={"Range": f"bytes={GIB // 2}-{GIB // 2 + 99}"}).content == middle.content
    received = 0
    with httpx.stream("GET", url) as response:
        assert response.headers["content-length"] == str(GIB)
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received >= 32 * 1024 * 1024:
                break
    assert received >= 32 * 1024 * 1024
    assert process.memory_info().rss - before < 64 * 1024 * 1024


@pytest.mark.parametrize("size", [0, 1])
def test_tiny_files(akool_sim: SimServer, size: int) -> None:
    url = akool_sim.add_file(size, "text/plain", "tiny.txt")
    response = httpx.get(url)
    assert response.status_code == 200
    assert len(response.content) == size
