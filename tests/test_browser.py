"""A real browser: `streamlit run app.py` on a loopback port, driven by Playwright in headless Chromium."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server, wait_until="networkidle")
        yield page
        browser.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, animations="disabled")


def test_train_a_preset_in_a_real_browser_and_reach_the_overview(page):
    page.get_by_text("Setup", exact=True).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Run this demo").wait_for(timeout=60_000)
    screenshot(page, "setup")
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="Quick check: 3 small nets on iris").click()
    page.get_by_role("button", name="Run this demo").click()
    page.get_by_text("Equal accuracy, different logic").wait_for(timeout=120_000)
    page.get_by_text("Explainer noise floor").first.wait_for(timeout=30_000)
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


def test_setup_keeps_an_uploaded_csv_after_visiting_another_page(page, tmp_path):
    csv = tmp_path / "kept.csv"
    csv.write_text("x,y,label\n" + "\n".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(80)) + "\n")
    page.get_by_role("link", name="Setup").first.click()
    page.get_by_text("Upload a CSV").click()
    page.locator("input[type=file]").first.set_input_files(str(csv))
    page.get_by_text("Target column (the label to predict)").wait_for(timeout=30_000)
    page.get_by_role("link", name="Metrics").first.click()
    page.get_by_role("heading", name="Metrics").first.wait_for(timeout=30_000)
    page.get_by_role("link", name="Setup").first.click()
    page.get_by_text("Using kept.csv, uploaded earlier").wait_for(timeout=30_000)
    assert page.get_by_role("radio", name="Upload a CSV").is_checked()
    assert page.get_by_role("button", name="Train and explain").is_enabled()
    screenshot(page, "setup_after_return")
