"""A real browser: `streamlit run app.py` on a loopback port, driven by Playwright in headless Chromium.

Every request the browser makes is checked: SeedScope is shown in rooms with no internet, so a request to any
host but the app's own server is aborted (as it would fail there) and fails the test that caused it.
"""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core.export.report import SECTIONS

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app():
    """`streamlit run app.py` on a free loopback port: its URL once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen(
        # Usage statistics are left to .streamlit/config.toml, so that the test checks the shipped setting.
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server():
    with running_app() as url:
        yield url


@pytest.fixture(scope="module")
def outside() -> list[str]:
    """URLs the browser asked for on a host other than the app's server, in order; each request was aborted."""
    return []


@pytest.fixture(scope="module")
def context(server, outside):
    here = urlsplit(server).netloc

    def keep_on_this_machine(route):
        # file:, data: and blob: URLs have no host; anything else must be the app's server.
        if urlsplit(route.request.url).netloc in ("", here):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def note_websocket(ws):  # routing does not see websockets, so they are only noted
        if urlsplit(ws.url).netloc != here:
            outside.append(ws.url)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        # Routing does not see what a service worker fetches, so none may start (Streamlit registers none).
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
        context.route("**/*", keep_on_this_machine)  # also covers the page's web workers
        context.on("page", lambda page: page.on("websocket", note_websocket))
        yield context
        browser.close()


@pytest.fixture(scope="module")
def page(context, server):
    page = context.new_page()
    page.goto(server, wait_until="networkidle")
    return page


def assert_nothing_left_the_machine(outside: list[str]) -> None:
    assert not outside, "the browser asked for hosts outside this machine:\n" + "\n".join(dict.fromkeys(outside))


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, animations="disabled")


def test_a_freshly_started_app_lists_its_own_pages_from_the_first_second(context):
    """Until some session has run st.navigation, Streamlit lists the pages/ directory itself, helper module
    included; the app runs it before importing the libraries, which takes seconds on a fresh server."""
    with running_app() as url:
        fresh = context.browser.new_context(viewport={"width": 1000, "height": 700})
        try:
            page = fresh.new_page()
            page.goto(url)
            # Within 3 s, where Streamlit's own listing stayed for about 8 s while the libraries loaded.
            sync_api.expect(page.get_by_test_id("stSidebarNav").locator("a")).to_contain_text(
                ["Setup", "Overview", "Present", "Metrics", "Attributions", "Dependence", "Agreement", "Cohorts",
                 "Report", "Compare runs"], timeout=3000)
        finally:
            fresh.close()


def test_train_a_preset_in_a_real_browser_and_visit_every_page_offline(page, outside):
    page.get_by_text("Setup", exact=True).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Run this demo").wait_for(timeout=60_000)
    screenshot(page, "setup")
    page.get_by_role("link", name="Overview").first.click()
    page.get_by_role("link", name="Go to Setup").click()
    page.get_by_role("button", name="Run this demo").wait_for(timeout=60_000)
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="Quick check: 3 small nets on iris").click()
    page.get_by_role("button", name="Run this demo").click()
    page.get_by_text("Equal accuracy, different logic").wait_for(timeout=120_000)
    page.get_by_text("Do they differ?").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # let the charts draw
    assert page.get_by_text("3 models, accuracy").count() >= 1
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "overview")
    for title in ("Metrics", "Attributions", "Agreement", "Report"):
        page.get_by_role("link", name=title).first.click()
        page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
        page.wait_for_timeout(2000)
        assert page.get_by_test_id("stException").count() == 0
        screenshot(page, f"app_{title.lower()}")
    assert_nothing_left_the_machine(outside)
    assert page.locator("link[rel='shortcut icon']").get_attribute("href").startswith("data:image/svg+xml")


def test_present_steps_through_the_story_with_buttons_and_arrow_keys(page, outside):
    page.get_by_role("link", name="Present").first.click()
    page.get_by_text("Step 1 of 6").wait_for(timeout=60_000)
    for i in range(1, 7):
        page.get_by_text(f"Step {i} of 6").wait_for(timeout=30_000)
        page.wait_for_timeout(1500)  # let the chart draw
        assert page.get_by_test_id("stException").count() == 0
        screenshot(page, f"present_{i}")
        if i < 6:
            page.get_by_role("button", name="Next").click()
    assert page.get_by_role("button", name="Next").is_disabled()
    page.keyboard.press("ArrowLeft")
    page.get_by_text("Step 5 of 6").wait_for(timeout=30_000)
    page.keyboard.press("ArrowRight")
    page.get_by_text("Step 6 of 6").wait_for(timeout=30_000)
    assert_nothing_left_the_machine(outside)


def test_the_downloaded_html_report_opens_offline(page, context, outside, tmp_path):
    page.get_by_role("link", name="Report").first.click()
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download the HTML report").click()
    report = tmp_path / download.value.suggested_filename
    download.value.save_as(report)
    viewer = context.new_page()
    viewer.goto(report.as_uri(), wait_until="networkidle")
    assert viewer.locator("h2").count() == len(SECTIONS)
    assert viewer.locator(".chart svg").count() >= 1
    screenshot(viewer, "report_html")
    viewer.close()
    assert_nothing_left_the_machine(outside)


def test_setup_keeps_an_uploaded_csv_after_visiting_another_page(page, outside, tmp_path):
    csv = tmp_path / "kept.csv"
    csv.write_text("x,y,label\n" + "\n".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(80)) + "\n")
    page.get_by_role("link", name="Setup").first.click()
    page.get_by_text("Upload a CSV").click()
    page.locator("input[type=file]").first.set_input_files(str(csv))
    page.get_by_text("Target column (what to predict)").wait_for(timeout=30_000)
    page.get_by_role("link", name="Metrics").first.click()
    page.get_by_role("heading", name="Metrics").first.wait_for(timeout=30_000)
    page.get_by_role("link", name="Setup").first.click()
    page.get_by_text("Using kept.csv, uploaded earlier").wait_for(timeout=30_000)
    assert page.get_by_role("radio", name="Upload a CSV").is_checked()
    assert page.get_by_role("button", name="Train and explain").is_enabled()
    screenshot(page, "setup_after_return")
    assert_nothing_left_the_machine(outside)


def test_a_cohort_in_a_real_browser_shows_its_figures_beside_all_test_rows(page, outside):
    page.get_by_role("link", name="Cohorts").first.click()
    page.get_by_text("No condition yet").wait_for(timeout=60_000)
    page.get_by_test_id("stMultiSelect").first.click()
    page.get_by_role("option", name="petal length (cm)").click()
    page.keyboard.press("Escape")
    page.get_by_role("slider").first.focus()
    for _ in range(5):
        page.keyboard.press("PageUp")  # the lower end of the range up by a few steps
    page.get_by_test_id("stMultiSelect").nth(1).click()
    page.get_by_role("option", name="virginica").click()
    page.keyboard.press("Escape")
    page.get_by_text("Test rows in the cohort").wait_for(timeout=60_000)
    page.get_by_text("Contested rows in the cohort").wait_for(timeout=30_000)
    page.wait_for_timeout(3000)  # let the tables draw
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_text("the models' majority vote is virginica").count() >= 1
    page.set_viewport_size({"width": 1400, "height": 2000})  # Streamlit scrolls inside the page: show it all
    page.wait_for_timeout(1000)
    screenshot(page, "app_cohorts")
    page.set_viewport_size({"width": 1400, "height": 1000})
    assert_nothing_left_the_machine(outside)
