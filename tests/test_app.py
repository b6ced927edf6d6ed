"""Drive the real app with streamlit's AppTest: train a small run, visit every page, check what a user sees."""
import importlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import shap  # noqa: F401  (imported up front so the app's first run fits its timeout)
import torch  # noqa: F401
from streamlit.testing.v1 import AppTest

import core

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ["pages/overview.py", "pages/present.py", "pages/metrics.py", "pages/attributions.py", "pages/dependence.py",
         "pages/agreement.py"]


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(page)
    at.run()
    assert not at.exception, page
    return at


@pytest.fixture(scope="module")
def trained():
    at = new_app()
    at.selectbox(key="preset").set_value("Quick check: 3 small nets on iris")
    at.button(key="run_preset").click()
    at.run()
    assert not at.exception
    assert not at.error
    return at


def test_pages_before_a_run_say_what_to_do_first():
    at = new_app()
    for page in PAGES:
        at.switch_page(page)
        at.run()
        assert not at.exception
        assert any("Setup" in info.value for info in at.info)


def test_demo_preset_trains_and_overview_states_the_finding(trained):
    at = visit(trained, "pages/overview.py")
    headline = at.markdown[0].value
    assert "3 models" in headline and "accuracy" in headline
    labels = {m.label: m.value for m in at.metric}
    assert labels["Models"] == "3"
    assert "%" in labels["Accuracy"]
    summary = core.summarize(at.session_state["comparison"])
    assert labels["Do they differ?"] == core.VERDICT_LABELS[summary.by_method[summary.headline_method].verdict.outcome]


def test_metrics_page_shows_scores_fingerprints_and_disagreement(trained):
    at = visit(trained, "pages/metrics.py")
    per_model = at.dataframe[0].value
    assert len(per_model) == 3
    assert per_model["fingerprint"].str.len().eq(12).all()
    assert {"Ambiguity", "Discrepancy", "Rows compared"} <= {m.label for m in at.metric}
    assert len(at.get("vega_lite_chart")) >= 3  # accuracy, curves, disagreement heatmap


def test_attributions_page_draws_importance_and_row_explorer(trained):
    at = visit(trained, "pages/attributions.py")
    assert len(at.get("vega_lite_chart")) >= 2
    rows = at.selectbox(key="row_select")
    last = rows.options[-1]
    rows.select(last)
    at.run()
    assert not at.exception
    assert at.session_state["explorer_row"] == int(last.split()[1])


def test_agreement_page_k_slider_recomputes_without_retraining(trained):
    at = visit(trained, "pages/agreement.py")
    before = {m.label: m.value for m in at.metric}
    assert {"Between models", "Explainer noise floor", "Random rankings"} <= set(before)
    at.slider(key="k_slider").set_value(1)
    at.run()
    assert not at.exception
    after = {m.label: m.value for m in at.metric}
    assert after["Random rankings"] != before["Random rankings"]  # k changed the null baseline
    fingerprints = at.session_state["comparison"].run.fingerprints
    at.switch_page("pages/metrics.py")
    at.run()
    assert at.session_state["comparison"].run.fingerprints == fingerprints


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.radio(key="data_source").set_value("Upload a CSV")
    at.run()
    at.file_uploader(key="upload").set_value((name, content, "text/csv"))
    at.run()
    assert not at.exception
    return at


def test_upload_asks_for_a_file_first():
    at = new_app()
    at.radio(key="data_source").set_value("Upload a CSV")
    at.run()
    assert not at.exception
    assert any("Upload a CSV" in i.value for i in at.info)


def test_empty_csv_upload_shows_an_error_not_a_traceback():
    at = upload(new_app(), "empty.csv", b"")
    assert any("empty" in e.value for e in at.error)
    assert at.button(key="train").disabled


def test_single_class_target_shows_what_to_do():
    at = upload(new_app(), "one.csv", b"a,b,label\n1,2,x\n3,4,x\n5,6,x\n")
    at.selectbox(key="target").set_value("label")
    at.run()
    assert not at.exception
    assert any("single class" in e.value and "at least two classes" in e.value for e in at.error)


def test_good_csv_upload_previews_and_trains():
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{'ab'[i % 2]},{int(i % 7 > 3)}" for i in range(80))
    at = upload(new_app(), "tiny.csv", ("x,y,colour,label\n" + rows + "\n").encode())
    at.selectbox(key="target").set_value("label")
    at.run()
    assert not at.exception and not at.error
    assert len(at.dataframe) == 1  # the preview
    at.selectbox(key="family").set_value("logistic_regression")
    at.run()
    at.slider(key="n_models").set_value(2)
    at.checkbox(key="vary_split").check()
    at.slider(key="rows").set_value(5)
    at.run()
    at.button(key="train").click()
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["comparison"].run.n_models == 2


def test_report_page_offers_the_html_report_and_the_bundle(trained):
    at = visit(trained, "pages/report.py")
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download the HTML report" in labels and "Download the data bundle (.zip)" in labels


def test_a_bundle_too_large_to_load_back_is_an_error_beside_the_html_report(trained, monkeypatch):
    from pages import _state
    monkeypatch.setattr(importlib.import_module("core.export.bundle"), "_MAX_UNZIPPED", 20_000)
    _state.bundle.clear()  # a bundle made under the real limit may be cached
    at = visit(trained, "pages/report.py")
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download the HTML report"]
    assert any("more than a bundle may hold" in e.value and "Explain fewer rows" in e.value for e in at.error)


def test_present_steps_from_the_question_to_what_to_do_with_the_buttons(trained):
    at = visit(trained, "pages/present.py")
    comparison = at.session_state["comparison"]
    steps = core.story(comparison, core.summarize(comparison))
    assert at.button(key="present_back").disabled and not at.button(key="present_next").disabled
    for i, step in enumerate(steps):
        assert at.main.title[0].value == step.title
        assert at.main.markdown[0].value.startswith(f"Step {i + 1} of 6")
        assert len(at.get("vega_lite_chart")) == (step.chart is not None)
        if i < len(steps) - 1:
            at.button(key="present_next").click()
            at.run()
            assert not at.exception, step.title
    assert at.button(key="present_next").disabled
    at.button(key="present_back").click()
    at.run()
    assert at.main.title[0].value == steps[-2].title


def test_a_saved_bundle_loads_back_and_every_page_shows_it(trained):
    original = trained.session_state["comparison"]
    at = new_app()
    at.switch_page("pages/report.py")
    at.run()
    at.file_uploader(key="bundle_upload").set_value(("past.zip", core.bundle_bytes(original), "application/zip"))
    at.run()
    assert not at.exception and not at.error
    assert any("Loaded past.zip" in s.value for s in at.success)
    assert at.session_state["comparison"].run.fingerprints == original.run.fingerprints
    for page in PAGES:
        at.switch_page(page)
        at.run()
        assert not at.exception, page


def test_a_tampered_bundle_is_rejected_with_a_message():
    at = new_app()
    at.switch_page("pages/report.py")
    at.run()
    at.file_uploader(key="bundle_upload").set_value(("bad.zip", b"not a zip at all", "application/zip"))
    at.run()
    assert not at.exception
    assert any("not a SeedScope bundle" in e.value for e in at.error)


def test_agreement_page_measures_each_sources_share(trained):
    at = visit(trained, "pages/agreement.py")
    at.button(key="spread").click()
    at.run()
    assert not at.exception
    shares = at.dataframe[-1].value
    assert set(shares["source"]) == {"init", "order", "dropout", "split", "bootstrap"}
    assert shares["disagreement_share"].sum() == pytest.approx(1.0)


def test_visiting_setup_keeps_the_k_of_the_comparison_shown(trained):
    at = visit(trained, "pages/overview.py")
    before = {m.label: m.value for m in at.metric}
    at = visit(at, "pages/setup.py")  # its own dataset box says breast_cancer (30 features)
    at = visit(at, "pages/overview.py")
    assert {m.label: m.value for m in at.metric} == before


def test_a_bad_hyperparameter_shows_an_error_and_keeps_the_other_settings():
    at = new_app()
    at.checkbox(key="vary_split").check()
    at.text_input(key="hidden").set_value("64,x")
    at.run()
    assert not at.exception
    assert any("whole numbers" in e.value for e in at.error)
    assert at.button(key="train").disabled
    at.text_input(key="hidden").set_value("8")
    at.run()
    assert not at.error and not at.button(key="train").disabled
    assert at.checkbox(key="vary_split").value


def test_sources_that_cannot_change_the_family_are_flagged_before_training():
    at = new_app()
    at.selectbox(key="family").set_value("logistic_regression")
    at.run()
    assert not at.exception
    assert any("identical" in w.value for w in at.warning)  # default vary init+order: inert for lbfgs
    at.checkbox(key="vary_bootstrap").check()
    at.run()
    assert not any("identical" in w.value for w in at.warning)


def test_a_single_feature_dataset_shows_every_page():
    rows = "\n".join(f"{i},{int(i % 10 > 4)}" for i in range(120))
    at = upload(new_app(), "one_feature.csv", ("a,label\n" + rows + "\n").encode())
    at.selectbox(key="target").set_value("label")
    at.run()
    at.slider(key="n_models").set_value(2)
    at.multiselect(key="methods_mlp").set_value(["integrated_gradients"])
    at.run()
    at.button(key="train").click()
    at.run()
    assert not at.exception and not at.error
    for page in PAGES:
        visit(at, page)


def test_markdown_in_user_strings_is_shown_literally():
    from pages._state import escape_md

    assert escape_md("$50K_*bold*") == "\\$50K\\_\\*bold\\*"


def test_a_feature_named_like_a_link_is_not_a_link_in_the_sign_flip_caption():
    from pages._state import escape_md

    gen = np.random.default_rng(0)
    signal, noise = gen.normal(size=200), gen.normal(size=200)
    rows = "\n".join(f"{a:.4f},{b:.4f},{int(a > 0)}" for a, b in zip(signal, noise))
    at = upload(new_app(), "links.csv", ("signal,[click me](https://example.com),label\n" + rows + "\n").encode())
    at.selectbox(key="target").set_value("label")
    at.text_input(key="hidden").set_value("4")
    at.number_input(key="epochs").set_value(2)
    at.slider(key="n_models").set_value(4)
    at.multiselect(key="methods_mlp").set_value(["integrated_gradients"])
    at.run()
    at.button(key="train").click()
    at.run()
    at = visit(at, "pages/agreement.py")
    (caption,) = [c.value for c in at.caption if c.value.startswith("Features whose mean attribution")]
    assert escape_md("[click me](https://example.com)") in caption  # the noise feature flips sign, shown as text


def test_a_session_training_while_others_compute_shows_the_numbers_it_gets_alone():
    # Streamlit runs sessions as threads of one process. AppTest drives one session at a time, so the
    # other sessions are threads running comparisons of their own, with other seeds, all the while.
    at = new_app()
    at.selectbox(key="builtin").set_value("breast_cancer")  # 30 features: KernelSHAP draws its coalitions
    at.text_input(key="hidden").set_value("8")
    at.number_input(key="epochs").set_value(3)
    at.slider(key="n_models").set_value(2)
    at.multiselect(key="methods_mlp").set_value(["kernel_shap", "lime"])
    at.slider(key="rows").set_value(5)
    at.number_input(key="kernel_samples").set_value(1000)
    at.number_input(key="lime_samples").set_value(300)
    at.run()
    at.button(key="train").click()
    data = core.load_builtin("breast_cancer")
    others = [(core.RunConfig(n_models=2, seed=seed, mlp=core.MLPConfig(hidden=(8,), epochs=3)),
               core.ExplainConfig(methods=("kernel_shap", "lime"), max_rows=5, kernel_samples=1000,
                                  lime_samples=300, seed=seed)) for seed in (7, 8)]
    done = threading.Event()

    def other_session(configs):
        while not done.is_set():
            core.compare(data, *configs)

    with ThreadPoolExecutor(len(others)) as pool:
        busy = [pool.submit(other_session, configs) for configs in others]
        at.run()
        done.set()
        [future.result() for future in busy]
    assert not at.exception and not at.error
    shown = at.session_state["comparison"]
    alone = core.compare(shown.run.dataset, shown.run.config, shown.explanation.config)
    assert shown.run.fingerprints == alone.run.fingerprints
    for name, attr in alone.explanation.by_method.items():
        assert np.array_equal(shown.explanation.by_method[name].values, attr.values), name
        assert np.array_equal(shown.explanation.by_method[name].halves, attr.halves), name


def test_setup_says_how_long_a_run_will_take_before_it_starts():
    at = new_app()
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Takes about") for c in captions)  # the demo preset
    before = next(c for c in captions if c.startswith("Estimated time: about"))
    at.slider(key="n_models").set_value(200)  # the app's maximum
    at.run()
    after = next(c.value for c in at.caption if c.value.startswith("Estimated time: about"))
    assert after != before and not at.error


def test_a_run_on_this_machine_times_the_estimates_that_follow(trained):
    setup = visit(trained, "pages/setup.py")  # the quick preset ran: too short to time the machine by
    assert any(c.value.endswith("on a 2-core machine.") for c in setup.caption)
    at = new_app()
    at.selectbox(key="builtin").set_value("breast_cancer")
    at.multiselect(key="methods_mlp").set_value(["kernel_shap"])
    at.slider(key="rows").set_value(100)  # about 3 s on the reference machine
    at.run()
    deadline = time.monotonic() + 60
    while core.computations() and time.monotonic() < deadline:  # the app's warm-up: a run beside it is not timed
        time.sleep(0.1)
    at.button(key="train").click()
    at.run()
    assert not at.exception and not at.error
    visit(at, "pages/setup.py")
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Estimated time: about") and "on this machine (timed from your runs here)" in c
               for c in captions)
    assert any(c.startswith("Takes about") and c.endswith("on this machine (timed from your runs here).")
               for c in captions)


def test_agreement_page_says_how_many_seeds_are_enough(trained):
    at = visit(trained, "pages/agreement.py")
    (caption,) = [c.value for c in at.caption if "resampling models" in c.value]
    assert "95% CI" in caption and ("models give agreement within ±2 points" in caption or "identically" in caption)
    overview = visit(trained, "pages/overview.py")
    assert "95% CI" in overview.markdown[0].value or "agree completely" in overview.markdown[0].value


def test_compare_runs_sets_the_current_comparison_against_a_bundle(trained):
    original = trained.session_state["comparison"]
    at = visit(trained, "pages/compare_runs.py")
    assert any("Choose run B" in i.value for i in at.info)
    at.file_uploader(key="diff_b").set_value(("same.zip", core.bundle_bytes(original), "application/zip"))
    at.run()
    assert not at.exception and not at.error
    labels = {m.label: m.value for m in at.metric}
    assert labels["Accuracy A"] == labels["Accuracy B"]
    at.file_uploader(key="diff_b").set_value(("bad.zip", b"nope", "application/zip"))
    at.run()
    assert not at.exception and any("bad.zip" in e.value for e in at.error)


def test_two_sessions_never_see_each_others_runs(trained):
    other = new_app()
    assert "comparison" not in other.session_state and "job" not in other.session_state
    other = visit(other, "pages/overview.py")
    assert any("No comparison yet" in info.value for info in other.info)
    assert trained.session_state["comparison"] is not None  # the first session's comparison, its own


def _queueing_script():
    """Two comparisons asked for in one go, then the app's own polling: each run takes what has ended."""
    from dataclasses import replace

    import streamlit as st

    import core
    from pages import _state

    if "asked" not in st.session_state:
        ds = core.load_builtin("iris")
        run = core.RunConfig(n_models=2, mlp=core.MLPConfig(hidden=(4,), epochs=2))
        explain = core.ExplainConfig(methods=("integrated_gradients",), max_rows=3)
        st.session_state.asked = (_state.start_comparison(ds, run, explain),
                                  _state.start_comparison(ds, replace(run, seed=1), explain))
    _state.take_finished()


def test_a_comparison_asked_for_while_another_runs_is_queued_and_starts_when_it_ends():
    at = AppTest.from_function(_queueing_script, default_timeout=60)
    at.run()
    assert at.session_state["asked"] == (True, False)  # the second was queued, not started
    deadline = time.time() + 120
    while time.time() < deadline and ("queued_run" in at.session_state or "job" in at.session_state):
        time.sleep(0.2)
        at.run()
    assert not at.exception and "queued_run" not in at.session_state and "job" not in at.session_state
    assert at.session_state["comparison"].run.config.seed == 1  # the queued one ran last, and is shown


def test_a_comparison_another_session_already_computed_is_shown_in_the_same_run(trained):
    """The cache holds it, so the session's job ends at once: the page that started it takes it right away,
    in the run that started it, not at the user's next click."""
    at = new_app()
    at.selectbox(key="preset").set_value("Quick check: 3 small nets on iris")
    at.button(key="run_preset").click()
    at.run()
    assert not at.exception and not at.error
    shown, first = at.session_state["comparison"], trained.session_state["comparison"]
    assert shown.run.fingerprints == first.run.fingerprints  # the same comparison (shared, unless the cache let it go)
    assert "job" not in at.session_state
