"""The client against akool-sim in-process: every endpoint, injected faults, lost create responses.

The sim is an independent reading of the API, so these tests catch client misreadings that the
HTTP-mock tests (written from the client's own understanding) cannot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_akool.client import AkoolClient, AkoolNotFoundError, AsyncAkoolClient, ClientConfig
from airflow_provider_akool.client.auth import TOKENS
from airflow_provider_akool.sessions.opening import open_session
from airflow_provider_akool.sim.runner import SimServer

OFFICIAL = "dvp_Tristan_cloth2_1080P"


@pytest.fixture(autouse=True)
def fresh_tokens() -> Iterator[None]:
    TOKENS.clear()
    yield
    TOKENS.clear()


def client_for(sim: SimServer, *, token_mode: bool = False, **overrides: Any) -> AkoolClient:
    creds: dict[str, Any] = (
        {"client_id": "sim-client-id", "client_secret": "sim-client-secret"}
        if token_mode
        else {"api_key": "sim-api-key"}
    )
    settings: dict[str, Any] = {"timeout": 2.0, "backoff_base": 0.01, "max_retry_wait": 0.05, **overrides}
    return AkoolClient(ClientConfig(base_url=sim.url, **creds, **settings))


@pytest.mark.parametrize("token_mode", [False, True], ids=["api-key", "token"])
def test_every_endpoint(akool_sim: SimServer, token_mode: bool) -> None:
    with client_for(akool_sim, token_mode=token_mode) as client:
        avatars = list(client.paginate(client.list_avatars))
        assert OFFICIAL in {a.avatar_id for a in avatars}
        assert client.get_avatar(OFFICIAL).state == "ready"

        created = client.create_avatar("https://videos.test/anna.mp4", "anna01", "Anna")
        assert created.avatar.avatar_id == "anna01"
        assert not created.adopted
        assert created.avatar.id is not None
        records = client.get_avatar_record(created.avatar.id)
        assert records[0].status in (1, 2, 3)
        again = client.create_avatar("https://videos.test/anna.mp4", "anna01", "Anna")
        assert again.adopted

        session = client.create_session(avatar_id=OFFICIAL, duration=120, mode_type=1, stream_type="sim")
        assert session.is_open
        assert session.credentials is not None
        assert session.credentials.reveal()["sim_url"].startswith("ws://127.0.0.1")
        assert client.get_session(session.id).id == session.id
        assert session.id in {s.id for s in client.paginate(client.list_sessions)}
        assert not client.close_session(session.id).already_closed
        assert client.close_session(session.id).already_closed  # 1219 -> already closed
        assert client.close_session("0" * 24).already_closed  # 1216 -> does not exist
        with pytest.raises(AkoolNotFoundError):
            client.get_session("0" * 24)

        voices = list(client.paginate(client.list_voices, support_stream=True))
        assert voices
        assert all(v.support_stream for v in voices)
        assert client.list_languages()

        kb = client.create_knowledge_base(name="faq", prompt="Be brief.")
        assert client.get_knowledge_base(kb.id).prompt == "Be brief."
        assert client.update_knowledge_base(kb.id, prologue="Hi").prologue == "Hi"
        assert kb.id in {k.id for k in client.list_knowledge_bases().result}
        client.delete_knowledge_base(kb.id)
        with pytest.raises(AkoolNotFoundError):
            client.get_knowledge_base(kb.id)

    state = akool_sim.state()
    assert state["open_sessions"] == []
    assert state["tokens"]["issued"] == (1 if token_mode else 0)
    auth_modes = {
        r["auth"] for r in akool_sim.requests() if r["path"].startswith("/api/") and "getToken" not in r["path"]
    }
    assert auth_modes == {"bearer" if token_mode else "api_key"}


def test_token_refresh_after_expiry(akool_sim: SimServer) -> None:
    with client_for(akool_sim, token_mode=True) as client:
        client.get_avatar(OFFICIAL)
        akool_sim.expire_tokens()
        assert client.get_avatar(OFFICIAL).state == "ready"
    assert akool_sim.state()["tokens"]["issued"] == 2


def workload(client: AkoolClient, n_avatars: int, n_sessions: int) -> list[str]:
    for i in range(n_avatars):
        client.create_avatar(f"https://videos.test/v{i}.mp4", f"faulty{i}", f"Video {i}")
        client.get_avatar(f"faulty{i}")
    opened = []
    for _ in range(n_sessions):
        # Opened as the provider opens sessions: a create whose response is lost is reconciled.
        session = open_session(client, avatar_id=OFFICIAL, duration=60, mode_type=1, stream_type="sim")
        opened.append(session.id)
        client.get_session(session.id)
        client.close_session(session.id)
    client.list_languages()
    list(client.paginate(client.list_voices))
    return opened


def assert_no_duplicates_or_leaks(sim: SimServer, n_avatars: int) -> None:
    state = sim.state()
    uploaded = Counter(a["avatar_id"] for a in state["avatars"] if a["avatar_id"].startswith("faulty"))
    assert uploaded == Counter({f"faulty{i}": 1 for i in range(n_avatars)})
    assert state["open_sessions"] == []
    assert state["credits"]["balance"] == pytest.approx(
        state["credits"]["initial"] - state["credits"]["precharged_total"] + state["credits"]["refunded_total"]
    )


@pytest.mark.timeout(120)
def test_faults_at_20_percent_still_succeed(akool_sim_factory: Callable[..., SimServer]) -> None:
    sim = akool_sim_factory(time_scale=1000, seed=7, fault_rate=0.2, stall_seconds=1.0)
    with client_for(sim, timeout=0.5, max_attempts=8) as client:
        workload(client, n_avatars=8, n_sessions=8)
    assert sim.state()["faults"]["total"] > 0
    assert_no_duplicates_or_leaks(sim, 8)


@pytest.mark.timeout(120)
def test_lost_create_responses_do_not_duplicate_or_leak(akool_sim_factory: Callable[..., SimServer]) -> None:
    sim = akool_sim_factory(time_scale=1000, seed=3, fault_rate=0.4, fault_kinds=["lost_response"])
    with client_for(sim, max_attempts=10) as client:
        opened = workload(client, n_avatars=6, n_sessions=6)
    counts = sim.state()["faults"]["counts"]
    assert counts.get("lost_response", 0) > 0
    assert_no_duplicates_or_leaks(sim, 6)
    created = list(sim.state()["sessions"])
    # Sessions opened but never handed to us (lost responses) were closed by reconciliation.
    assert len(created) >= len(opened)


async def test_async_client_against_sim(akool_sim: SimServer) -> None:
    config = ClientConfig(base_url=akool_sim.url, api_key="sim-api-key")
    async with AsyncAkoolClient(config) as client:
        session = await client.create_session(avatar_id=OFFICIAL, duration=60, stream_type="sim")
        assert (await client.close_session(session.id)).already_closed is False
        assert [a.avatar_id async for a in client.paginate(client.list_avatars)]
    assert akool_sim.state()["open_sessions"] == []
