"""User text is text everywhere: a CSV whose column names, class labels and category values are markdown (a link,
an image, emphasis, HTML, LaTeX), trained in headless Chromium and shown on every page, never becomes a link, an
image, bold or italic type or a formula there, and reads as it was typed.

Uses test_browser's server, browser context and checks: the app runs on a loopback port and any request
to another host fails the test (an image drawn from the data would be one).
"""
import numpy as np

import test_browser as browser
from test_browser import assert_nothing_left_the_machine, screenshot

# The same fixtures, instantiated for this module: its own app server and browser.
server, outside, context = browser.server, browser.outside, browser.context
pytestmark = browser.pytestmark

LINK, IMAGE, EMPHASIS, HTML, MATH = ("[click me](https://example.com/phish)", "![x](http://example.com/x.png)",
                                     "*bold*", "<b>bold</b>", "$x^2$")
NUMERIC = (LINK, IMAGE, HTML, MATH)  # numeric columns; EMPHASIS names the categorical one
CLASSES = ("[yes](https://example.com/yes)", "*no*", "<b>maybe</b> $y^2$")
CATEGORIES = ("[cat](https://example.com/cat)", "![c](http://example.com/c.png) *em*", "<i>it</i> $z^2$")
FILE_NAME = "*data* <b>x</b> $x^2$.csv"
BUNDLE_NAME = "[run B](https://example.com/b) *b*.zip"
# What emphasis or HTML in the strings above would put in a <strong>, <em>, <b> or <i> of its own.
EMPHASISED = {"bold", "no", "maybe", "em", "it", "data", "x", "b"}
WORD_JOINER = "\u2060"  # escape_md's invisible break in bare links and :shortcodes:

# Everything on the page the data could have turned into markup.
FROM_DATA = """words => ({
    links: [...document.querySelectorAll('a[href*="example.com"]')].map(e => e.outerHTML),
    images: [...document.querySelectorAll('img[src*="example.com"]')].map(e => e.outerHTML),
    math: [...document.querySelectorAll('.katex, .katex-display, math')].map(e => e.textContent),
    emphasis: [...document.querySelectorAll('strong, em, b, i, del')].map(e => e.textContent.trim())
        .filter(text => words.includes(text)),
})"""


def csv_bytes(n: int = 180) -> bytes:
    """Three classes that depend on three numeric columns and the category, so the models learn something."""
    gen = np.random.default_rng(0)
    a, b, c, d = gen.normal(size=(4, n))
    category = gen.integers(0, 3, n)
    score = a + 0.8 * b - 0.5 * c + 0.7 * (category == 1)
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    rows = [f"{a[i]:.4f},{b[i]:.4f},{c[i]:.4f},{d[i]:.4f},{CATEGORIES[category[i]]},{CLASSES[y[i]]}" for i in range(n)]
    return (",".join([*NUMERIC, EMPHASIS, "label"]) + "\n" + "\n".join(rows) + "\n").encode()


def shown(locator) -> str:
    """The text a person reads in `locator` (the word joiner is invisible)."""
    return locator.inner_text().replace(WORD_JOINER, "")


def check(page, name: str, *literal: str, sidebar: bool = True) -> None:
    """Nothing on the page is markup made from the data, the data's own strings read as typed in the main area
    (the sidebar shows the file name on every page), and no page raised; a screenshot as tests/artifacts/<name>.png."""
    page.wait_for_timeout(1500)  # let charts and late widgets draw
    made = page.evaluate(FROM_DATA, sorted(EMPHASISED))
    assert made == {"links": [], "images": [], "math": [], "emphasis": []}, (name, made)
    main = shown(page.get_by_test_id("stMain"))
    missing = [text for text in literal if text not in main]
    assert not missing, (name, missing, main[:3000])
    assert not sidebar or FILE_NAME in shown(page.get_by_test_id("stSidebar")), name
    assert page.get_by_test_id("stException").count() == 0, name
    screenshot(page, f"text_{name}")


def open_page(page, title: str, ready: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    page.get_by_text(ready, exact=False).first.wait_for(timeout=60_000)


def pick(page, widget: str, label: str, option: str) -> None:
    """Choose `option` in the selectbox or multiselect (test id `widget`) whose label reads `label`."""
    box = page.get_by_test_id(widget).filter(has=page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True))
    box.locator("input").first.click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(1000)


def train_on_the_csv(page) -> None:
    """Setup: upload the CSV and train 3 small nets with two instant methods (seconds)."""
    page.get_by_role("button", name="Run this demo").wait_for(timeout=60_000)
    page.get_by_text("Upload a CSV", exact=True).click()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": FILE_NAME, "mimeType": "text/csv", "buffer": csv_bytes()}])
    page.get_by_text("features after encoding").wait_for(timeout=60_000)
    page.get_by_text("Hyperparameters", exact=True).click()
    for label, value in (("Hidden layer sizes (comma-separated)", "8"), ("Epochs", "5")):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
        page.wait_for_timeout(800)
    for label, steps in (("Number of models", 1), ("Test rows to explain", 3)):  # 3 models, 20 rows
        slider = page.get_by_role("slider", name=label)
        slider.focus()
        slider.press("Home")
        for _ in range(steps):
            slider.press("ArrowRight")
        page.wait_for_timeout(800)
    for method in ("KernelSHAP", "LIME"):
        page.get_by_role("button", name=f"Remove {method}").click()
        page.wait_for_timeout(800)
    pick(page, "stMultiSelect", "Explanation methods", "Gradient")
    page.keyboard.press("Escape")
    check(page, "setup", sidebar=False)
    page.get_by_role("button", name="Train and explain").click()
    page.get_by_role("heading", name="Equal accuracy, different logic").wait_for(timeout=180_000)


def test_markdown_in_the_data_is_shown_as_text_on_every_page(context, server, outside):
    page = context.new_page()
    page.goto(server, wait_until="networkidle")
    train_on_the_csv(page)
    check(page, "overview")

    open_page(page, "Present", "Step 1 of")
    steps = int(shown(page.get_by_text("Step 1 of").first).split("Step 1 of ")[1].split()[0])
    for step in range(1, steps + 1):
        page.get_by_text(f"Step {step} of {steps}").first.wait_for(timeout=30_000)
        check(page, f"present_{step}")
        if step < steps:
            page.get_by_role("button", name="Next").click()

    open_page(page, "Metrics", "Per-model scores")
    check(page, "metrics")

    open_page(page, "Attributions", "Explaining the probability of class")
    page.get_by_text("Top reasons").first.wait_for(timeout=60_000)
    # The what-if's inputs are labelled with the columns; the category's input shows one of its values.
    check(page, "attributions", *NUMERIC, EMPHASIS)
    assert set(CATEGORIES) & set(page.get_by_test_id("stMain").locator("input").evaluate_all(
        "inputs => inputs.map(input => input.value)"))
    assert any(f"class {label}" in shown(page.get_by_test_id("stMain")) for label in CLASSES)
    page.get_by_role("heading", name="What if?").evaluate("element => element.scrollIntoView({block: 'start'})")
    check(page, "attributions_whatif")

    open_page(page, "Dependence", "Partial dependence of every model")
    pick(page, "stSelectbox", "Feature", EMPHASIS)  # the category: its values on the metric "gap largest at"
    page.get_by_text(f"Gap largest at {EMPHASIS}").wait_for(timeout=60_000)
    check(page, "dependence", EMPHASIS)
    assert any(category in shown(page.get_by_test_id("stMetric").nth(1)) for category in CATEGORIES)

    open_page(page, "Agreement", "Correlated features")
    check(page, "agreement")

    open_page(page, "Cohorts", "Predictions")
    pick(page, "stMultiSelect", EMPHASIS, CATEGORIES[0])
    page.keyboard.press("Escape")
    page.get_by_text("Test rows in the cohort").wait_for(timeout=60_000)
    check(page, "cohorts", EMPHASIS, f"Test rows where {EMPHASIS} is {CATEGORIES[0]}")

    open_page(page, "Report", "Download the HTML report")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the data bundle (.zip)").click()
    bundle = download.value.path().read_bytes()
    check(page, "report", f"{EMPHASIS} is {CATEGORIES[0]}")

    open_page(page, "Compare runs", "Run B (.zip bundle)")
    page.get_by_test_id("stFileUploaderDropzoneInput").nth(1).set_input_files(
        files=[{"name": BUNDLE_NAME, "mimeType": "application/zip", "buffer": bundle}])
    page.get_by_text("Features whose rank moved most").wait_for(timeout=60_000)
    check(page, "compare_runs", BUNDLE_NAME)
    page.close()
    assert_nothing_left_the_machine(outside)
