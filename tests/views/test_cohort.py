"""Cohorts: filters select the rows they say, figures match a hand count and the whole set, and the
definition travels through JSON, the bundle, the report, the command line and the app."""
import html
import io
import itertools
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shap  # noqa: F401  (imported up front so the app's first run fits its timeout)
from streamlit.testing.v1 import AppTest

import core
from pages._state import escape_md
from core.export.bundle import bundle_bytes, load_bundle, load_bundle_and_cohort
from core.cli import main
from core.views.cohort import Bound, Category, Cohort, categorical_columns, cohort_mask
from core.explainers.methods import majority_vote
from core.views.cohort_figures import cohort_figures, side_by_side
from core.errors import BundleError, ConfigError
from core.export.report import render_html

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PETAL = "petal length (cm)"
EVIL = "<script>alert(1)</script>"
TINY_RUN = core.RunConfig(n_models=3, mlp=core.MLPConfig(hidden=(8,), epochs=10))


@pytest.fixture(scope="module")
def comparison(iris):
    return core.compare(iris, TINY_RUN, core.ExplainConfig(methods=("kernel_shap", "integrated_gradients"),
                                                          max_rows=12, background_size=5, kernel_samples=100))


@pytest.fixture(scope="module")
def summary(comparison):
    return core.summarize(comparison, k=2)


@pytest.fixture(scope="module")
def evil():
    """A CSV-like dataset whose feature, column and category names are HTML."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({EVIL: rng.normal(size=150), "dose <mg>": rng.normal(size=150),
                          "<b>colour</b>": rng.choice(["red & <i>", "blue"], size=150)})
    frame["target"] = np.where(frame[EVIL] + (frame["<b>colour</b>"] == "blue") > 0.3, "yes", "no")
    dataset = core.from_frame(frame, "target", name="evil.csv")
    return core.compare(dataset, TINY_RUN, core.ExplainConfig(methods=("integrated_gradients",), max_rows=20))


def test_figures_match_a_count_by_hand(comparison, summary):
    ds, ev, ex = comparison.run.dataset, comparison.evaluation, comparison.explanation
    cohort = Cohort(bounds=(Bound(PETAL, ">=", 4.5),))
    figures = cohort_figures(comparison, summary, cohort)
    inside = ds.X[ev.rows, 2] >= 4.5
    assert 0 < inside.sum() < len(ev.rows)
    assert np.array_equal(figures.rows, ev.rows[inside])
    for m in range(3):
        hand = np.mean(ev.predictions[m, inside] == ds.y[ev.rows[inside]])
        assert figures.scores.per_model.at[m, "accuracy"] == pytest.approx(hand)
    differs = [any(ev.predictions[m, i] != ev.predictions[0, i] for m in range(3)) for i in np.flatnonzero(inside)]
    assert figures.ambiguity.estimate == pytest.approx(np.mean(differs))
    values = ex.by_method["kernel_shap"].values  # (model, row, feature)
    scores = []
    for r in np.flatnonzero(np.isin(ex.rows, ev.rows[inside])):
        for a, b in itertools.combinations(range(3), 2):
            top = [set(np.argsort(-np.abs(values[m, r]), kind="stable")[:2]) for m in (a, b)]
            scores.append(len(top[0] & top[1]) / 2)
    line = figures.agreement.query("method == 'kernel_shap' and metric == 'feature_agreement'")
    assert line["agreement"].item() == pytest.approx(np.mean(scores))


def test_the_cohort_of_every_row_gives_the_whole_set_figures(comparison, summary):
    whole = cohort_figures(comparison, summary, Cohort())
    ev = comparison.evaluation
    assert np.array_equal(whole.rows, ev.rows) and np.array_equal(whole.explained, comparison.explanation.rows)
    np.testing.assert_allclose(whole.scores.per_model["accuracy"], ev.scores.per_model["accuracy"])
    np.testing.assert_allclose(whole.scores.per_model["log_loss"], ev.scores.per_model["log_loss"], rtol=1e-6)
    assert whole.ambiguity == summary.ambiguity
    assert whole.discrepancy == ev.multiplicity.discrepancy
    for line in whole.agreement.itertuples():
        agreement = summary.by_method[line.method]
        assert line.agreement == pytest.approx(agreement.between[line.metric])
        np.testing.assert_equal(line.noise_floor, agreement.noise_floor[line.metric])
    pd.testing.assert_frame_equal(whole.contested, summary.contested)
    table = side_by_side(whole, whole, summary)
    assert (table["this cohort"] == table["all test rows"]).all() and not table.isin(["nan"]).any().any()


def test_filters_compose_as_and(comparison):
    ds = comparison.run.dataset
    a = Cohort(bounds=(Bound(PETAL, ">", 3.0),))
    b = Cohort(predicted=("virginica", "setosa"))
    c = Cohort(outcome="correct")
    both = Cohort(bounds=a.bounds, predicted=b.predicted, outcome="correct")
    masks = [cohort_mask(comparison, x) for x in (a, b, c)]
    assert np.array_equal(cohort_mask(comparison, both), masks[0] & masks[1] & masks[2])
    wrong = cohort_mask(comparison, Cohort(outcome="incorrect"))
    assert not (masks[2] & wrong).any() and (masks[2] | wrong).all()
    vote = majority_vote(comparison.evaluation.predictions, ds.n_classes)
    assert np.array_equal(masks[1], np.isin(vote, [0, 2]))
    narrow = Cohort(bounds=(Bound(PETAL, ">=", 3.0), Bound(PETAL, "<", 5.0)))
    values = ds.X[comparison.evaluation.rows, 2]
    assert np.array_equal(cohort_mask(comparison, narrow), (values >= 3.0) & (values < 5.0))


def test_a_category_filter_selects_its_one_hot_rows(evil):
    ds, rows = evil.run.dataset, evil.evaluation.rows
    columns = categorical_columns(ds)
    assert set(columns) == {"<b>colour</b>"} and set(columns["<b>colour</b>"]) == {"red & <i>", "blue"}
    mask = cohort_mask(evil, Cohort(categories=(Category("<b>colour</b>", ("red & <i>",)),)))
    assert np.array_equal(mask, ds.X[rows, columns["<b>colour</b>"]["red & <i>"]] == 1.0)
    both = cohort_mask(evil, Cohort(categories=(Category("<b>colour</b>", ("red & <i>", "blue")),)))
    assert both.all()


def test_json_and_typed_text_round_trip():
    cohort = Cohort(bounds=(Bound(PETAL, ">=", 4.5), Bound(PETAL, "<", 6.25), Bound("a<b", ">", -1e-3)),
                    categories=(Category("colour", ("red", "light blue")),), predicted=("virginica",),
                    outcome="incorrect")
    assert Cohort.from_json(cohort.to_json()) == cohort
    assert Cohort.parse(cohort.to_text()) == cohort == Cohort.parse(cohort.to_option())
    assert Cohort.parse(" petal length (cm) >= 4.5 ,outcome=correct") == Cohort(
        bounds=(Bound(PETAL, ">=", 4.5),), outcome="correct")
    awkward = Cohort(bounds=(Bound("income, net", "<=", 5.0),), categories=(Category("x", ("a|b",)),))
    assert awkward.to_option().startswith("{") and Cohort.parse(awkward.to_option()) == awkward
    assert Cohort.parse("") == Cohort() and Cohort().describe() == "All test rows."


def test_a_description_says_every_condition_in_words():
    cohort = Cohort(bounds=(Bound(PETAL, ">=", 4.5), Bound(PETAL, "<", 6)), predicted=("virginica",),
                    categories=(Category("colour", ("red", "blue")),), outcome="incorrect")
    assert cohort.describe() == ("Test rows where 4.5 ≤ petal length (cm) < 6, colour is red or blue, the models' "
                                 "majority vote is virginica and that vote is wrong.")


@pytest.mark.parametrize("make, message", [
    (lambda: Cohort(bounds=(Bound(PETAL, ">=", 5), Bound(PETAL, "<", 3))), "leave no value"),
    (lambda: Cohort(bounds=(Bound(PETAL, ">", 5), Bound(PETAL, "<=", 5))), "leave no value"),
    (lambda: Cohort(bounds=(Bound(PETAL, "==", 5),)), "Unknown comparison"),
    (lambda: Cohort(bounds=(Bound(PETAL, ">=", float("nan")),)), "finite"),
    (lambda: Cohort(categories=(Category("colour", ()),)), "at least one value"),
    (lambda: Cohort(outcome="maybe"), "Outcome must be"),
    (lambda: Cohort.parse("petal length"), "Cannot read the condition"),
    (lambda: Cohort.from_json('{"bounds": [{"feature": "x", "op": ">=", "value": NaN}]}'), "not valid JSON"),
    (lambda: Cohort.from_json('{"bounds": [{"feature": "x", "op": ">=", "value": true}]}'), "finite number"),
    (lambda: Cohort.from_json('{"rows": [1, 2]}'), "keys bounds"),
    (lambda: Cohort.from_json('{"predicted": "virginica"}'), "must be a list"),
])
def test_an_impossible_cohort_is_refused_with_advice(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


@pytest.mark.parametrize("cohort, message", [
    (Cohort(bounds=(Bound("petal lenght", ">=", 4),)), "no feature 'petal lenght'; similar names: 'petal length"),
    (Cohort(predicted=("dog",)), "no class 'dog'; the classes are 'setosa'"),
    (Cohort(categories=(Category("colour", ("red",)),)), "no categorical column"),
])
def test_a_cohort_naming_what_the_data_lacks_is_refused(comparison, summary, cohort, message):
    with pytest.raises(ConfigError, match=message):
        cohort_figures(comparison, summary, cohort)


def test_an_empty_cohort_says_so_instead_of_nan(comparison, summary):
    figures = cohort_figures(comparison, summary, Cohort(bounds=(Bound(PETAL, ">=", 100),)))
    assert len(figures.rows) == 0 and figures.scores is None and figures.contested.empty
    assert any("No test row matches" in note for note in figures.notes)
    table = side_by_side(figures, cohort_figures(comparison, summary, Cohort()), summary)
    assert set(table["this cohort"].iloc[2:-1]) == {"n/a"}  # every figure but the row counts and chance
    assert table["this cohort"].iloc[0] == f"0 of {len(comparison.evaluation.rows)}"


def test_a_cohort_without_explained_rows_keeps_its_scores_and_says_why_agreement_is_missing(comparison, summary):
    ds, ev, ex = comparison.run.dataset, comparison.evaluation, comparison.explanation
    X = ds.X[ev.rows]
    unexplained = ~np.isin(ev.rows, ex.rows)
    for j, value in ((j, X[i, j]) for i in np.flatnonzero(unexplained) for j in range(ds.n_features)):
        if not (X[:, j] == value)[~unexplained].any():
            cohort = Cohort(bounds=(Bound(ds.feature_names[j], ">=", value), Bound(ds.feature_names[j], "<=", value)))
            break
    figures = cohort_figures(comparison, summary, cohort)
    assert len(figures.rows) > 0 and len(figures.explained) == 0 and figures.agreement.empty
    assert figures.scores is not None
    assert any("explained rows, so its explanation agreement cannot be measured" in n for n in figures.notes)


def test_a_single_model_has_cohort_scores_and_says_agreement_needs_two(iris):
    single = core.compare(iris, core.RunConfig(n_models=1, mlp=core.MLPConfig(hidden=(8,), epochs=5)),
                          core.ExplainConfig(methods=("integrated_gradients",), max_rows=10))
    summary = core.summarize(single)
    cohort = Cohort(bounds=(Bound(PETAL, ">=", 4.5),))
    figures = cohort_figures(single, summary, cohort)
    assert figures.scores is not None and figures.agreement.empty and figures.contested.empty
    assert any("at least two models" in note for note in figures.notes)
    table = side_by_side(figures, cohort_figures(single, summary, Cohort()), summary)
    assert not table.isin(["nan"]).any().any()
    assert '<h2 id="cohort">' in render_html(single, summary, cohort=cohort)


def test_the_bundle_restores_its_cohort_and_saves_back_to_the_same_bytes(comparison, summary):
    cohort = Cohort(bounds=(Bound(PETAL, ">=", 4.5),), predicted=("virginica",), outcome="correct")
    data = bundle_bytes(comparison, summary, cohort=cohort)
    loaded, restored = load_bundle_and_cohort(data)
    assert restored == cohort
    assert loaded.run.fingerprints == comparison.run.fingerprints
    assert bundle_bytes(loaded, summary, cohort=restored) == data
    assert load_bundle_and_cohort(bundle_bytes(comparison))[1] is None
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert json.loads(zf.read("cohort.json"))["predicted"] == ["virginica"]


def _with_cohort_json(data: bytes, text: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, text if name == "cohort.json" else src.read(name))
    return out.getvalue()


@pytest.mark.parametrize("text, message", [
    ('{"bounds": [{"feature": "height", "op": ">=", "value": 1}]}', "no feature 'height'"),
    ('{"bounds": [{"feature": "petal length (cm)", "op": ">=", "value": 5}, '
     '{"feature": "petal length (cm)", "op": "<", "value": 2}]}', "leave no value"),
    ('{"predicted": ["virginica"], "outcome": "sometimes"}', "Outcome must be"),
    ('{"bounds": [{"feature": "petal length (cm)", "op": ">=", "value": Infinity}]}', "not valid JSON"),
    ('{"bounds": "all", "__class__": "os.system"}', "keys bounds"),
    ("\x80\x81 not text", "not valid JSON"),
])
def test_a_tampered_cohort_in_a_bundle_is_refused(comparison, text, message):
    data = _with_cohort_json(bundle_bytes(comparison, cohort=Cohort(predicted=("setosa",))), text)
    with pytest.raises(BundleError, match="cohort.json") as info:
        load_bundle(data)
    assert message in str(info.value)


def test_the_report_has_a_cohort_section_with_every_name_escaped(evil):
    summary = core.summarize(evil, k=1)
    cohort = Cohort(bounds=(Bound(EVIL, ">=", -0.5),), categories=(Category("<b>colour</b>", ("red & <i>",)),),
                    predicted=("yes",))
    page = render_html(evil, summary, cohort=cohort)
    assert '<h2 id="cohort">Cohort</h2>' in page and '<a href="#cohort">' in page
    section = page[page.index('<h2 id="cohort">'):]
    assert html.escape(cohort.describe()) in section
    assert "Accuracy, mean of 3 models" in section and "this cohort" in section
    assert html.escape("<b>colour</b>") in section and html.escape("red & <i>") in section
    assert EVIL not in page and "<b>colour</b>" not in page and "<i>" not in page
    assert '<h2 id="cohort">' not in render_html(evil, summary)


def test_the_command_line_carries_a_typed_cohort_into_report_and_bundle(tmp_path, capsys):
    out = tmp_path / "r.html"
    args = ["compare", "--dataset", "iris", "--models", "2", "--epochs", "5", "--hidden", "8", "--rows", "5",
            "--methods", "integrated_gradients", "--quiet", "--out", str(out)]
    assert main([*args, "--cohort", f"{PETAL}>=4.5, outcome=correct"]) == 0
    stdout = capsys.readouterr().out
    assert "cohort: Test rows where petal length (cm) ≥ 4.5 and the models' majority vote is right." in stdout
    assert '<h2 id="cohort">' in out.read_text()
    assert load_bundle_and_cohort(out.with_suffix(".zip"))[1] == Cohort(bounds=(Bound(PETAL, ">=", 4.5),),
                                                                        outcome="correct")
    assert main([*args, "--cohort", "petal lenght>=4.5"]) == 2  # refused before training
    assert "error: --cohort: The data has no feature 'petal lenght'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def app():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.selectbox(key="preset").set_value("Quick check: 3 small nets on iris")
    at.button(key="run_preset").click()
    at.run()
    at.switch_page("pages/cohorts.py")
    at.run()
    assert not at.exception
    return at


def test_the_cohorts_page_shows_a_defined_cohort_beside_all_test_rows(app):
    assert any("No condition yet" in i.value for i in app.info)
    app.multiselect(key="cohort_features").set_value([2])
    app.run()
    low, high = app.slider(key="cohort_range_2").value
    app.slider(key="cohort_range_2").set_value((4.5, high))
    app.multiselect(key="cohort_predicted").set_value(["virginica"])
    app.run()
    assert not app.exception and not app.error
    cohort = app.session_state["cohort"]
    assert cohort == Cohort(bounds=(Bound(PETAL, ">=", 4.5),), predicted=("virginica",))
    metrics = {m.label: m.value for m in app.metric}
    comparison = app.session_state["comparison"]
    n = len(cohort_figures(comparison, core.summarize(comparison), cohort).rows)
    assert metrics["Test rows in the cohort"] == f"{n} of {len(comparison.evaluation.rows)}"
    assert "%" in metrics["Accuracy, mean of models"]
    table = app.dataframe[0].value
    assert list(table.columns) == ["figure", "this cohort", "all test rows"]
    assert table.set_index("figure").at["Accuracy, mean of 3 models", "this cohort"].endswith("%")
    assert any("--cohort" in c.value for c in app.code)
    app.switch_page("pages/report.py")
    app.run()
    assert any("include the cohort" in c.value for c in app.caption)


def test_a_bundle_with_a_cohort_opens_on_the_cohorts_page_with_it(app):
    comparison = app.session_state["comparison"]
    cohort = Cohort(bounds=(Bound(PETAL, "<", 5.0),), outcome="incorrect")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/report.py")
    at.run()
    at.file_uploader(key="bundle_upload").set_value(
        ("with_cohort.zip", bundle_bytes(comparison, cohort=cohort), "application/zip"))
    at.run()
    assert not at.exception and not at.error
    at.switch_page("pages/cohorts.py")
    at.run()
    assert not at.exception and at.session_state["cohort"] == cohort  # the strict < survives the slider
    assert at.radio(key="cohort_outcome").value == "incorrect"
    assert any(m.label == "Test rows in the cohort" for m in at.metric)


def test_the_cohorts_page_before_a_run_says_what_to_do_first():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/cohorts.py")
    at.run()
    assert not at.exception and any("Setup" in i.value for i in at.info)


def test_a_categorical_column_of_an_uploaded_csv_filters_the_cohort():
    rng = np.random.default_rng(1)
    x = rng.normal(size=120)
    colour = rng.choice(["red", "blue", "[green](https://example.com)"], size=120)
    rows = "\n".join(f"{a:.3f},{c},{int(a > 0)}" for a, c in zip(x, colour))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.radio(key="data_source").set_value("Upload a CSV")
    at.run()
    at.file_uploader(key="upload").set_value(("colours.csv", f"x,colour,label\n{rows}\n".encode(), "text/csv"))
    at.run()
    at.selectbox(key="target").set_value("label")
    at.text_input(key="hidden").set_value("4")
    at.number_input(key="epochs").set_value(3)
    at.slider(key="n_models").set_value(2)
    at.multiselect(key="methods_mlp").set_value(["integrated_gradients"])
    at.run()
    at.button(key="train").click()
    at.run()
    at.switch_page("pages/cohorts.py")
    at.run()
    assert not at.exception and not at.error
    at.multiselect(key="cohort_category_0").set_value(["red", "[green](https://example.com)"])
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["cohort"] == Cohort(categories=(Category("colour", ("red", "[green](https://example.com)")),))
    shown = f"colour is red or {escape_md('[green](https://example.com)')}"
    assert any(shown in m.value for m in at.markdown)  # no link
    assert {m.label for m in at.metric} >= {"Test rows in the cohort", "Accuracy, mean of models"}
