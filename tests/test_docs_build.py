"""The documentation site builds offline with warnings as errors (``mkdocs build --strict``).

Strict mode also fails on broken links and anchors, on pages missing from the nav, and on
mkdocstrings directives naming objects that no longer exist, so renaming a documented class or
parameter without updating the docs fails here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# importable module -> distribution to install
DOCS_PACKAGES = {
    "mkdocs": "mkdocs",
    "material": "mkdocs-material",
    "mkdocstrings_handlers.python": "mkdocstrings-python",
}


def _missing() -> list[str]:
    missing = []
    for module, dist in DOCS_PACKAGES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # parent package absent
            found = False
        if not found:
            missing.append(dist)
    return missing


@pytest.mark.timeout(240)
def test_docs_build_strict(tmp_path: Path) -> None:
    missing = _missing()
    if missing:
        pytest.skip(f"docs tooling not installed ({', '.join(missing)}); install the 'docs' extra")
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",  # mkdocs-material's banner about MkDocs 2.0 (printed, not a build warning)
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    site = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "WARNING" not in output, output[-6000:]
    for page in ("index.html", "connection.html", "troubleshooting.html", "reference/operators-session.html"):
        assert (site / page).is_file(), f"{page} missing from the built site"
    # The reference pages are generated from the docstrings, not written by hand.
    reference = (site / "reference" / "operators-session.html").read_text(encoding="utf-8")
    assert "segment_timeout" in reference and "ready_timeout" in reference
    # Opened from file:// with no network, search still works: the index ships as a script and no
    # page loads a script from elsewhere (the offline plugin's worker shim is vendored).
    assert (site / "search" / "search_index.js").read_text(encoding="utf-8").startswith("var __index = ")
    for html in site.rglob("*.html"):
        remote = re.findall(r'<script[^>]+src="(https?:[^"]+)"', html.read_text(encoding="utf-8"))
        assert not remote, f"{html.relative_to(site)} loads {remote}"
