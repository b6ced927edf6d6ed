"""The what-if and the Dependence page in a real browser (headless Chromium), offline, with screenshots.

Uses test_browser's server, browser context and checks: the app runs on a loopback port and any request
to another host fails the test.
"""
import test_browser as browser
from test_browser import assert_nothing_left_the_machine, screenshot

# The same fixtures, instantiated for this module: its own app server, browser and page.
server, outside, context, page = browser.server, browser.outside, browser.context, browser.page
pytestmark = browser.pytestmark


def scroll_to(page, locator) -> None:
    """Bring `locator` to the top of the view: Streamlit scrolls its main block, so a page screenshot shows the view."""
    locator.evaluate("element => element.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)


def wait_for_charts(page, count: int) -> None:
    page.locator("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg").nth(
        count - 1).wait_for(timeout=60_000)
    page.wait_for_timeout(1500)


def test_edit_a_row_then_see_every_models_dependence(page, outside):
    page.get_by_role("button", name="Run this demo").wait_for(timeout=60_000)
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="Quick check: 3 small nets on iris").click()
    page.get_by_role("button", name="Run this demo").click()
    page.get_by_text("Equal accuracy, different logic").wait_for(timeout=120_000)

    page.get_by_role("link", name="Attributions").first.click()
    page.get_by_role("heading", name="What if?").wait_for(timeout=60_000)
    page.get_by_text("All 3 models predict").or_(page.get_by_text("The models split")).wait_for(timeout=60_000)
    for name, value in (("petal length (cm)", "5.0"), ("petal width (cm)", "1.6")):
        box = page.get_by_label(name, exact=True)
        box.fill(value)
        box.press("Enter")
        page.wait_for_timeout(1500)
    page.get_by_text("Changed: petal length (cm)").wait_for(timeout=30_000)
    wait_for_charts(page, 5)
    assert page.get_by_test_id("stException").count() == 0
    scroll_to(page, page.get_by_role("heading", name="What if?"))
    screenshot(page, "app_whatif")
    page.get_by_role("button", name="Explain the edited row with KernelSHAP").click()
    page.get_by_role("radio", name="KernelSHAP").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    scroll_to(page, page.get_by_role("button", name="Explain the edited row with KernelSHAP"))
    screenshot(page, "app_whatif_kernel_shap")
    page.get_by_role("button", name="Reset to the original row").click()
    page.get_by_text("No value changed yet").wait_for(timeout=30_000)

    page.get_by_role("link", name="Dependence").first.click()
    page.get_by_role("heading", name="Partial dependence of every model").wait_for(timeout=60_000)
    wait_for_charts(page, 3)
    assert page.get_by_text("Largest gap between models").count() == 1
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "app_dependence")
    scroll_to(page, page.get_by_role("heading", name="One row, every model"))
    screenshot(page, "app_dependence_row")
    assert_nothing_left_the_machine(outside)
