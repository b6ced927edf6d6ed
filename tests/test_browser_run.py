"""A run belongs to the session, not to the page: in Chromium, start a demo, visit two other pages while it
runs, and its result appears on the page the user is on, without another click. (Not the first demo: the
server computes that one into its cache in its first seconds, so it may not run at all.)"""
import test_browser as browser
from test_browser import assert_nothing_left_the_machine, screenshot

server, outside, context = browser.server, browser.outside, browser.context  # the module's fixtures


def test_a_demo_keeps_running_while_the_user_visits_other_pages(context, server, outside):
    page = context.new_page()
    page.goto(server, wait_until="networkidle")
    page.get_by_role("button", name="Run this demo").wait_for(timeout=60_000)
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="Synthetic with known truth: 8 neural nets, vary init + order + dropout").click()
    page.get_by_role("button", name="Run this demo").click()
    page.get_by_text("Running: synthetic").first.wait_for(timeout=30_000)
    page.get_by_role("link", name="Metrics").first.click()
    page.get_by_role("heading", name="Metrics").first.wait_for(timeout=30_000)
    # The run goes on: the sidebar shows it on this page too, with its stage and time left.
    page.get_by_test_id("stSidebar").get_by_text("Running: synthetic").wait_for(timeout=30_000)
    screenshot(page, "run_on_another_page")
    page.get_by_role("link", name="Attributions").first.click()
    page.get_by_role("heading", name="Attributions").first.wait_for(timeout=30_000)
    # Without another click, the page the user is on shows the comparison once it is done.
    page.get_by_text("Top reasons").first.wait_for(timeout=120_000)
    page.wait_for_timeout(2000)  # let the charts draw
    assert page.get_by_text("No comparison yet").count() == 0 and page.get_by_text("Running:").count() == 0
    assert page.get_by_test_id("stSidebar").get_by_text("synthetic · 8 × mlp").count() == 1
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "run_result_where_the_user_was")
    page.get_by_role("link", name="Overview").first.click()
    page.get_by_text("8 models, accuracy").first.wait_for(timeout=30_000)
    page.close()
    assert_nothing_left_the_machine(outside)


def test_a_bundle_opened_in_the_server_s_first_seconds_says_that_the_libraries_are_loading(context):
    """On a fresh server torch, shap and scikit-learn load in the background after the first page: a bundle
    uploaded meanwhile shows a short "loading" message, then the comparison, never a blank page."""
    bundle = browser.ROOT / "tests" / "export" / "data" / "bundle_before_rooms.zip"
    with browser.running_app() as url:
        fresh = context.browser.new_context(viewport={"width": 1400, "height": 1000})
        page = fresh.new_page()
        page.goto(url)
        page.get_by_role("button", name="Run this demo").wait_for(timeout=60_000)  # the app's own navigation
        page.get_by_role("link", name="Report", exact=True).first.click()
        page.get_by_role("tab", name="Load a saved comparison").click()
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(bundle))
        page.get_by_text("still loading its libraries").first.wait_for(timeout=15_000)
        screenshot(page, "bundle_while_loading")
        page.get_by_text("Every page now shows it").first.wait_for(timeout=60_000)
        assert page.get_by_test_id("stException").count() == 0
        fresh.close()
