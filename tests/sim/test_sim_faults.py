"""Fault injection: every kind, determinism, scope (paths, never admin), lost_response performs the action."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from airflow_provider_akool.sim import SimServer

LIST = "/api/open/v4/liveAvatar/avatar/list"
UPLOAD = {"url": "https://example.com/v.mp4", "avatar_id": "dup01", "name": "D", "type": 2, "url_from": 1}


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_503", 503), ("http_429", 429)])
def test_http_error_faults(akool_sim: SimServer, api: httpx.Client, kind: str, status: int) -> None:
    akool_sim.set_faults(1.0, kinds=[kind])
    response = api.get(LIST)
    assert response.status_code == status
    if kind == "http_429":
        assert response.headers["retry-after"] == "1"
    log = akool_sim.requests()[-1]
    assert (log["fault"], log["http_status"]) == (kind, status)
    assert akool_sim.state()["faults"]["counts"] == {kind: 1}


def test_code_1005_in_http_200(akool_sim: SimServer, api: httpx.Client) -> None:
    akool_sim.set_faults(1.0, kinds=["code_1005"])
    response = api.get(LIST)
    assert response.status_code == 200
    assert response.json()["code"] == 1005


def test_reset_drops_the_connection(akool_sim: SimServer, api: httpx.Client) -> None:
    akool_sim.set_faults(1.0, kinds=["reset"])
    with pytest.raises(httpx.TransportError):
        api.get(LIST)
    akool_sim.set_faults(0.0)
    assert api.get(LIST).json()["code"] == 1000
    assert akool_sim.requests()[0]["fault"] == "reset"


def test_stall_trips_the_client_timeout(
    akool_sim_factory: Callable[..., SimServer], client_for: Callable[[SimServer], httpx.Client]
) -> None:
    sim = akool_sim_factory(stall_seconds=0.6, fault_rate=1.0, fault_kinds=["stall"])
    client = client_for(sim)
    with pytest.raises(httpx.ReadTimeout):
        client.get(LIST, timeout=0.2)
    sim.set_faults(0.0)
    assert client.get(LIST, timeout=5).json()["code"] == 1000


def test_lost_response_still_performs_the_action(akool_sim: SimServer, api: httpx.Client) -> None:
    akool_sim.set_faults(1.0, kinds=["lost_response"])
    with pytest.raises(httpx.TransportError):
        api.post("/api/open/v3/avatar/create", json=UPLOAD)
    akool_sim.set_faults(0.0)
    assert [a["avatar_id"] for a in akool_sim.state()["avatars"]].count("dup01") == 1
    assert api.post("/api/open/v3/avatar/create", json=UPLOAD).json()["code"] == 1222  # a blind retry
    first = akool_sim.requests()[0]
    assert (first["fault"], first["code"], first["dropped"]) == ("lost_response", 1000, True)


def test_lost_response_on_session_create_leaves_a_paid_session(akool_sim: SimServer, api: httpx.Client) -> None:
    akool_sim.set_faults(1.0, kinds=["lost_response"])
    with pytest.raises(httpx.TransportError):
        api.post("/api/open/v4/liveAvatar/session/create", json={"avatar_id": "dvp_Tristan_cloth2_1080P"})
    state = akool_sim.state()
    assert len(state["open_sessions"]) == 1
    assert state["credits"]["precharged_total"] > 0


def _download(url: str, sizes: list[int]) -> None:
    with httpx.stream("GET", url) as response:
        assert response.headers["content-length"] == "200000"
        for chunk in response.iter_bytes():
            sizes.append(len(chunk))


def test_truncate_cuts_file_downloads(akool_sim: SimServer, api: httpx.Client) -> None:
    url = akool_sim.add_file(200_000, "video/mp4", "clip.mp4")
    akool_sim.set_faults(1.0, kinds=["truncate"], paths=["/_sim/files/"])
    received: list[int] = []
    with pytest.raises(httpx.TransportError):
        _download(url, received)
    assert 0 < sum(received) < 200_000
    assert api.get(LIST).json()["code"] == 1000  # /api/ is no longer a fault path
    assert akool_sim.requests()[0]["fault"] == "truncate"


def test_faults_follow_paths_and_never_hit_admin(akool_sim: SimServer, api: httpx.Client) -> None:
    akool_sim.set_faults(1.0, kinds=["http_500"], paths=["/api/open/v4/voice/"])
    assert api.get(LIST).status_code == 200
    assert api.get("/api/open/v4/voice/list", params={"type": 2}).status_code == 500
    akool_sim.set_faults(1.0, kinds=["http_500"], paths=["/"])
    assert akool_sim.state()["faults"]["counts"] == {"http_500": 1}  # admin still answers


def test_unknown_fault_kind_is_rejected(akool_sim: SimServer) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        akool_sim.set_faults(0.5, kinds=["gremlins"])


def _pattern(server: SimServer) -> list[int]:
    with httpx.Client(base_url=server.url, headers={"x-api-key": "sim-api-key"}) as client:
        return [client.get(LIST).status_code for _ in range(30)]


def test_same_seed_same_faults(akool_sim_factory: Callable[..., SimServer]) -> None:
    config = {"fault_rate": 0.5, "fault_kinds": ["http_500", "http_503"], "seed": 7}
    first = _pattern(akool_sim_factory(**config))
    second = _pattern(akool_sim_factory(**config))
    assert first == second
    assert {200, 500, 503} <= set(first)
    other = akool_sim_factory(**{**config, "seed": 8})
    assert _pattern(other) != first
