"""Regression in Chromium, as a new user takes a CSV of prices through the app: Setup says the target is
predicted as a number, the run trains, and the overview, metrics and what-if speak of predicted prices
(screenshots for the README: tests/artifacts/regression_*.png)."""
import numpy as np
import pandas as pd

import test_browser as browser
from test_browser import assert_nothing_left_the_machine, screenshot

server, outside, context = browser.server, browser.outside, browser.context
pytestmark = browser.pytestmark


def prices() -> bytes:
    """House prices that depend on size and age, with a district that adds a premium."""
    g = np.random.default_rng(0)
    size, age = g.uniform(40, 200, 300), g.uniform(0, 80, 300)
    district = g.choice(["centre", "suburb", "harbour"], 300)
    price = 3000 * size - 900 * age + np.where(district == "centre", 60_000, 0) + g.normal(0, 15_000, 300)
    return pd.DataFrame({"size_m2": size.round(1), "age_years": age.round(), "district": district,
                         "price": price.round(-2)}).to_csv(index=False).encode()


def test_a_csv_of_prices_goes_through_the_app_as_a_regression(context, server, outside):
    page = context.new_page()
    page.goto(server, wait_until="networkidle")
    page.get_by_role("button", name="Run this demo").wait_for(timeout=60_000)
    page.get_by_text("Upload a CSV", exact=True).click()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "prices.csv", "mimeType": "text/csv", "buffer": prices()}])
    page.get_by_text("regression: the target price is predicted as a number").wait_for(timeout=60_000)
    page.get_by_text("Tolerance δ: 10% of the target's standard deviation").wait_for(timeout=30_000)
    slider = page.get_by_role("slider", name="Test rows to explain")
    slider.focus()
    slider.press("Home")
    for _ in range(3):  # 20 rows
        slider.press("ArrowRight")
    page.wait_for_timeout(800)
    screenshot(page, "regression_setup")
    page.get_by_role("button", name="Train and explain").click()
    page.get_by_text("models, RMSE").first.wait_for(timeout=240_000)
    page.get_by_text("Where the predictions lie furthest apart").wait_for(timeout=30_000)
    page.wait_for_timeout(2000)  # let the charts draw
    assert page.get_by_test_id("stException").count() == 0
    page.evaluate("document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")  # Setup left it scrolled
    page.wait_for_timeout(500)
    screenshot(page, "regression_overview")
    page.get_by_role("link", name="Metrics").first.click()
    page.get_by_text("Predicted against actual").wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "regression_metrics")
    page.get_by_role("link", name="Attributions").first.click()
    page.get_by_text("Explaining the predicted").first.wait_for(timeout=60_000)
    page.get_by_text("models predict price").or_(page.get_by_text("predictions of price range")).first.wait_for(
        timeout=60_000)
    assert page.get_by_text("true class").count() == 0 and page.get_by_test_id("stException").count() == 0
    screenshot(page, "regression_attributions")
    page.close()
    assert_nothing_left_the_machine(outside)
