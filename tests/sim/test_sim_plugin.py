"""The pytest plugin's --akool-sim-profile option starts the fixtures' sims under that profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
def test_profile(akool_sim, akool_sim_factory):
    assert akool_sim.state()["config"]["profile"] == "{expected}"
    assert akool_sim_factory().state()["channel"]["settings"]["busy_chat"] == "{busy}"
    assert akool_sim_factory(profile="default").config.busy_chat == "queue"
"""


def _run(tmp_path: Path, expected: str, busy: str, *args: str, env: dict[str, str] | None = None) -> str:
    (tmp_path / "test_probe.py").write_text(PROBE.format(expected=expected, busy=busy), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return done.stdout + done.stderr


def test_option_and_environment_choose_the_profile(tmp_path: Path) -> None:
    assert "1 passed" in _run(tmp_path, "hostile", "interrupt", "--akool-sim-profile", "hostile")
    assert "1 passed" in _run(tmp_path, "interrupting", "interrupt", env={"AKOOL_SIM_PROFILE": "interrupting"})
    assert "1 passed" in _run(tmp_path, "default", "queue", env={"AKOOL_SIM_PROFILE": ""})
