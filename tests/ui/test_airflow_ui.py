"""What a new user does in the Airflow UI, in a real browser against a real Airflow and akool-sim.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright; no browser is downloaded.
``make ui-test`` installs chromium when it is missing and runs this module with ``AKOOL_UI_TEST=1``;
a plain ``pytest`` run skips it. Steps (each timed, each ending in a screenshot):

1. log in with the simple auth manager's form;
2. find the project's documentation URL on Admin > Providers;
3. create two Akool connections in the Add Connection dialog, one with the right key and one with a
   wrong key (port 0, as the form asks: docs/connection.md, "Testing a connection");
4. press the Test icon on each connection's row and read the toast;
5. trigger ``akool_retelling_batch`` from its Trigger dialog with the defaults and wait for success;
6. open a ``create_avatar`` instance of ``akool_avatars_from_videos`` (started through the REST API at
   the beginning, so that its avatars get ready meanwhile) and find its preview link on the Details tab.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SIM_KEY = "sim-api-key"
RETELL_DAG = "akool_retelling_batch"
AVATAR_DAG = "akool_avatars_from_videos"

pytestmark = [
    pytest.mark.skipif(os.environ.get("AKOOL_UI_TEST") != "1", reason="browser test: run it with make ui-test"),
    pytest.mark.timeout(900),
]


def docs_url() -> str | None:
    """pyproject's [project.urls] Documentation, as installed: Admin > Providers must link it."""
    for entry in metadata.metadata("airflow-provider-akool").get_all("Project-URL") or []:
        name, _, url = entry.partition(",")
        if name.strip().lower() == "documentation":
            return url.strip()
    return None


class Journey:
    """The browser page, the stack, step timings and screenshots."""

    def __init__(self, page: Any, stack: Any, shots: Path) -> None:
        self.page = page
        self.stack = stack
        self.shots = shots
        self.timings: list[tuple[str, float]] = []
        self.taken: list[Path] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            seconds = time.monotonic() - started
            self.timings.append((name, seconds))
            self.shot(name)
            print(f"[ui-test] {name}: {seconds:.1f} s", flush=True)

    def shot(self, name: str) -> None:
        path = self.shots / f"{len(self.taken) + 1:02d}-{re.sub(r'[^a-z0-9_]+', '-', name.lower())}.png"
        try:
            self.page.screenshot(path=str(path), full_page=True)
            self.taken.append(path)
        except Exception as exc:  # a screenshot must not hide the step's own failure
            print(f"[ui-test] no screenshot for {name}: {exc}", flush=True)


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[Any]:
    from airflow_ui_stack import AirflowStack

    home = Path(tempfile.mkdtemp(prefix="akool-ui-test-"))
    root = Path(__file__).resolve().parents[2]
    started = time.monotonic()
    airflow = AirflowStack(home=home, source_dags=root / "dags")
    try:
        airflow.start()
        print(f"\n[ui-test] Airflow + akool-sim up: {time.monotonic() - started:.1f} s ({home})", flush=True)
        yield airflow
    finally:
        survivors = airflow.stop()
        print(f"[ui-test] stopped every process by PID; survivors: {survivors or 'none'}", flush=True)
        assert not survivors, f"processes left running: {survivors}"
        if request.session.testsfailed == 0:
            shutil.rmtree(home, ignore_errors=True)  # kept with its logs when something failed


@pytest.fixture
def journey(stack: Any) -> Iterator[Journey]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (make ui-test does)"
    shots = Path(tempfile.mkdtemp(prefix="akool-ui-shots-"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            # Generous: on a loaded 2-core machine the single API worker serves the UI slowly.
            page.set_default_timeout(60_000)
            page.set_default_navigation_timeout(120_000)
            trip = Journey(page, stack, shots)
            yield trip
        finally:
            browser.close()
            total = sum(seconds for _, seconds in trip.timings)
            print(f"[ui-test] steps: {total:.1f} s; screenshots in {shots}:", flush=True)
            for path in trip.taken:
                print(f"[ui-test]   {path.name}", flush=True)


def _log_in(trip: Journey) -> None:
    page = trip.page
    page.goto(trip.stack.url + "/", wait_until="domcontentloaded")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(trip.stack.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    page.get_by_role("link", name="Dags").first.wait_for()


def _add_connection(trip: Journey, conn_id: str, key: str) -> None:
    """Fill the Add Connection dialog as a user would: type Akool, base URL, port 0, API key."""
    page = trip.page
    if not page.url.endswith("/connections"):
        page.goto(trip.stack.url + "/connections", wait_until="domcontentloaded")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(conn_id)
    # The type picker is a react-select: type into its combobox and pick the option.
    dialog.get_by_text("Select Connection Type").click(force=True)
    page.get_by_role("option").first.wait_for()  # the list of types has loaded
    page.keyboard.type("Akool")
    page.get_by_role("option", name="Akool", exact=True).click()
    dialog.locator("input[name=host]").fill(trip.stack.sim_url)
    dialog.locator("input[name=port]").fill("0")
    dialog.locator("input[name=password]").fill(key)
    trip.shot(f"form filled for {conn_id}")
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")
    _row(trip, conn_id).wait_for()


def _row(trip: Journey, conn_id: str) -> Any:
    """The connection list's row whose Connection ID cell is exactly ``conn_id``."""
    page = trip.page
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))


def _test_connection(trip: Journey, conn_id: str, expect: str) -> str:
    """Press the Test icon on the connection's row; the text of the toast that says ``expect``."""
    page = trip.page
    row = _row(trip, conn_id)
    page.mouse.move(0, 0)  # the tooltip of an icon hovered before can cover this one
    row.get_by_role("button", name="Test Connection").click()
    toast = page.locator("[data-scope=toast][data-part=root]").filter(has_text=expect)
    toast.first.wait_for()
    text: str = toast.first.inner_text()
    return text


def _trigger_with_defaults(trip: Journey, dag_id: str) -> None:
    """Open the DAG's Trigger dialog and submit it as it opens: every param keeps its default."""
    page = trip.page
    page.goto(f"{trip.stack.url}/dags/{dag_id}", wait_until="domcontentloaded")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    submit = dialog.get_by_role("button", name="Trigger")
    submit.wait_for()
    if submit.is_disabled():
        trip.shot("trigger form refuses defaults")
        raise AssertionError(f"{dag_id}: the Trigger button is disabled with the params' defaults")
    submit.click()
    dialog.wait_for(state="hidden")


def _wait_for_run(trip: Journey, dag_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        runs = trip.stack.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-start_date", "limit": 1})
        run: dict[str, Any] = runs["dag_runs"][0] if runs["dag_runs"] else {}
        if run.get("state") in ("success", "failed"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"{dag_id} did not finish within {timeout:.0f} s: {run}")
        time.sleep(2)


def test_a_new_user_connects_tests_triggers_and_finds_the_preview(journey: Journey) -> None:
    trip = journey
    stack = trip.stack
    # Started first so that the avatars get ready while the connection steps run.
    avatar_run = stack.api("POST", f"/dags/{AVATAR_DAG}/dagRuns", {"logical_date": None})["dag_run_id"]

    with trip.step("log in"):
        _log_in(trip)

    with trip.step("provider page links the project documentation"):
        trip.page.goto(f"{stack.url}/providers", wait_until="domcontentloaded")
        docs = trip.page.get_by_role("link", name="airflow-provider-akool", exact=True)
        # Where a click goes (Airflow 3.1 writes the attribute with a leading space; browsers trim it).
        href = docs.evaluate("a => a.href")
    expected = docs_url()
    assert expected and href == expected, (href, expected)

    with trip.step("create connections in the form"):
        _add_connection(trip, "akool_right_key", SIM_KEY)
        _add_connection(trip, "akool_wrong_key", "not-the-key")
    for conn_id in ("akool_right_key", "akool_wrong_key"):
        stored = stack.api("GET", f"/connections/{conn_id}")
        assert (stored["conn_type"], stored["port"]) == ("akool", 0), stored

    with trip.step("test icon, right key"):
        right = _test_connection(trip, "akool_right_key", "Connected to Akool")
    assert "Test Connection Successful" in right, right
    # 4 official avatars, plus those the avatar run has uploaded by now.
    connected = rf"Connected to Akool at {re.escape(stack.sim_url)}; \d+ streaming avatar\(s\) visible"
    assert re.search(connected, right), right

    with trip.step("test icon, wrong key"):
        wrong = _test_connection(trip, "akool_wrong_key", "rejected")
    assert "Test Connection Failed" in wrong, wrong
    assert "Akool rejected the credentials (code 1101)" in wrong, wrong

    with trip.step("trigger the retelling batch with its defaults"):
        _trigger_with_defaults(trip, RETELL_DAG)

    with trip.step("retelling batch succeeds"):
        run = _wait_for_run(trip, RETELL_DAG, timeout=240)
        trip.page.goto(f"{stack.url}/dags/{RETELL_DAG}/runs/{run['dag_run_id']}", wait_until="domcontentloaded")
        trip.page.get_by_text("success").first.wait_for()
    assert run["state"] == "success", run

    with trip.step("create_avatar preview link"):
        _wait_for_run(trip, AVATAR_DAG, timeout=120)
        # The 3.x UI lists a task instance's extra links on its Details tab.
        trip.page.goto(
            f"{stack.url}/dags/{AVATAR_DAG}/runs/{avatar_run}/tasks/create_avatar/mapped/0/details",
            wait_until="domcontentloaded",
        )
        trip.page.get_by_text("Extra Links").wait_for()
        link = trip.page.get_by_role("link", name="Akool avatar preview")
        link.first.wait_for()
        href = link.first.get_attribute("href") or ""
    assert href.startswith(stack.sim_url), href
