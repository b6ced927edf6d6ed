"""A new user's first minute, in a real browser against a freshly started server.

Starts `streamlit run app.py` on a free loopback port, opens it in headless Chromium (Debian's chromium,
driven by Playwright) and measures:
- first_page_s: from opening the page to the Setup page's working controls (the "Run this demo" button,
  ready to be pressed);
- demo_s: from pressing "Run this demo" (the breast-cancer preset, the first one) to the Overview's headline,
  pressed after READ_S seconds on the page, as a first visitor reads what the demo does;
- demo_at_once_s: the same, on another fresh server, pressed the moment the button works. The server then
  still imports torch, shap and scikit-learn (about 4 s on 2 cores) before the demo can start, cold.
Targets on the 2-core reference machine: first_page_s <= 2, demo_s <= 5. The servers are new each run, so
the libraries load during the first minute as they do for a real first visitor.

    python bench/first_minute.py [--runs 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from test_browser import CHROMIUM, FLAGS, running_app  # noqa: E402  (the browser tests' fresh server)


READ_S = 10.0  # seconds a first visitor spends on the Setup page before pressing the demo


def one_run(browser, read_s: float) -> tuple[float, float]:
    """(first page, demo) seconds on a fresh server, the demo pressed read_s seconds after the page works."""
    with running_app() as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        page.goto(url)
        button = page.get_by_role("button", name="Run this demo")
        button.wait_for(timeout=120_000)
        page.wait_for_function("() => [...document.querySelectorAll('button')].some(b => "
                               "b.innerText.includes('Run this demo') && !b.disabled)", timeout=120_000)
        first_page = time.perf_counter() - started
        page.wait_for_timeout(read_s * 1000)
        pressed = time.perf_counter()
        button.click()
        page.get_by_text("10 models, accuracy").first.wait_for(timeout=300_000)
        demo = time.perf_counter() - pressed
        page.close()
        return first_page, demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh servers to measure (medians are printed)")
    args = parser.parse_args()
    firsts, demos, at_once = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for i in range(args.runs):
            first, demo = one_run(browser, READ_S)
            first_b, hurried = one_run(browser, 0.0)
            firsts += [first, first_b]
            demos.append(demo)
            at_once.append(hurried)
            print(f"run {i + 1}: first page {first:.2f} s and {first_b:.2f} s, demo {demo:.2f} s after reading "
                  f"{READ_S:.0f} s, {hurried:.2f} s pressed at once")
        browser.close()
    print(f"first_page_s={np.median(firsts):.2f} demo_s={np.median(demos):.2f} "
          f"demo_at_once_s={np.median(at_once):.2f}")

if __name__ == "__main__":
    main()
