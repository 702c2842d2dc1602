"""SimServer, the pytest fixtures, admin reset, and the akool-sim command line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from airflow_provider_akool.sim import SimConfig, SimServer, create_app


def test_server_overrides_and_context_manager() -> None:
    with SimServer(SimConfig(api_key="k1"), credits=42) as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        assert sim.config.api_key == "k1"
        assert sim.state()["credits"]["balance"] == 42
        reply = httpx.get(sim.url + "/api/open/v3/language/list", headers={"x-api-key": "k1"}).json()
        assert reply["code"] == 1000
        url = sim.url
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/_sim/health", timeout=1)


def test_factory_gives_independent_servers(akool_sim_factory: Callable[..., SimServer]) -> None:
    one, two = akool_sim_factory(), akool_sim_factory(api_key="other")
    assert one.url != two.url
    assert two.config.api_key == "other"
    assert one.config.time_scale == 1.0


def test_default_fixture_is_fast(akool_sim: SimServer) -> None:
    assert akool_sim.config.time_scale == 1000


def test_conn_fixture_sets_airflow_connection(akool_sim_conn: str, akool_sim: SimServer) -> None:
    assert akool_sim_conn == "akool_default"
    conn = json.loads(os.environ["AIRFLOW_CONN_AKOOL_DEFAULT"])
    assert conn == {
        "conn_type": "akool",
        "host": akool_sim.url,
        "password": "sim-api-key",
        "extra": {"stream_type": "sim"},
    }


def test_reset_restores_the_start(akool_sim: SimServer) -> None:
    headers = {"x-api-key": "sim-api-key"}
    httpx.post(
        akool_sim.url + "/api/open/v4/liveAvatar/session/create",
        json={"avatar_id": "dvp_Tristan_cloth2_1080P"},
        headers=headers,
    )
    akool_sim.set_faults(0.5)
    akool_sim.set_channel(never_join=True)
    akool_sim.reset()
    state = akool_sim.state()
    assert state["sessions"] == []
    assert state["credits"]["balance"] == state["credits"]["initial"]
    assert state["faults"]["rate"] == 0
    assert state["channel"]["settings"]["never_join"] is False
    assert akool_sim.requests() == []


def test_state_hides_secrets(akool_sim: SimServer) -> None:
    config = akool_sim.state()["config"]
    assert config["api_key"] == config["client_secret"] == "***"


def test_create_app_works_without_the_runner() -> None:
    app = create_app(SimConfig())
    transport = httpx.ASGITransport(app=app)

    async def call() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            reply = await client.get("/api/open/v3/language/list", headers={"x-api-key": "sim-api-key"})
            code: int = reply.json()["code"]
            return code

    import asyncio

    assert asyncio.run(call()) == 1000


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "airflow_provider_akool.sim", "--port", "0", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line


@pytest.mark.timeout(30)
def test_cli_prints_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    url_file = tmp_path / "url.txt"
    proc, line = _start_cli("--time-scale", "100", "--api-key", "cli-key", "--seed", "3", "--url-file", str(url_file))
    try:
        assert line.startswith("akool-sim listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert not url.endswith(":0")
        assert url_file.read_text().strip() == url
        reply = httpx.get(url + "/api/open/v3/language/list", headers={"x-api-key": "cli-key"}).json()
        assert reply["code"] == 1000
        assert httpx.get(url + "/_sim/state").json()["config"]["time_scale"] == 100
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


@pytest.mark.timeout(30)
def test_console_script_stops_on_sigint() -> None:
    script = shutil.which("akool-sim", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("akool-sim console script not installed")
    proc = subprocess.Popen([script, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("akool-sim listening on http://127.0.0.1:")
        time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_cli_rejects_bad_config() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_akool.sim", "--fault-rate", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "fault_rate" in result.stderr
