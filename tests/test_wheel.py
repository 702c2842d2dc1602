"""The wheel users install holds the provider and none of the demo.

``make demo``, ``make e2e`` and ``make e2e-celery`` are repository tooling (``akool_demo/``), not
product: the wheel is built here with hatchling (through ``uv build``, as ``make venv`` builds the
editable install) and its file list is read.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_provider_akool"
# Where demo code lived (airflow_provider_akool/demo.py, .../demo_support/) and where it lives now.
DEMO_NAMES = {"demo", "demo_support", "akool_demo"}


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    uv = Path(sys.executable).with_name("uv")
    assert uv.exists(), f"{uv} is missing: make venv installs uv into the venv"
    build = subprocess.run(
        [str(uv), "build", "--wheel", "--out-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.mark.timeout(240)
def test_wheel_holds_no_demo_code(wheel_files: list[str]) -> None:
    demo = [name for name in wheel_files if DEMO_NAMES & {*PurePosixPath(name).parent.parts, PurePosixPath(name).stem}]
    assert demo == []


@pytest.mark.timeout(240)
def test_wheel_holds_every_provider_module(wheel_files: list[str]) -> None:
    source = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert f"{PACKAGE}/py.typed" in source
    assert source - set(wheel_files) == set()
