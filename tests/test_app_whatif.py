"""The what-if on the row explorer and the Dependence page, driven through the real app with AppTest."""
import numpy as np
import pytest

import core
from pages._state import whatif_key
from test_app import new_app, upload, visit

IRIS_QUICK = "Quick check: 3 small nets on iris"
PETAL_LENGTH, PETAL_WIDTH = 2, 3


@pytest.fixture(scope="module")
def trained():
    at = new_app()
    at.selectbox(key="preset").set_value(IRIS_QUICK)
    at.button(key="run_preset").click()
    at.run()
    assert not at.exception and not at.error
    return at


def model_table(at):
    (table,) = [d.value for d in at.dataframe if "differs from most models" in d.value.columns]
    return table


def open_setosa_row(at):
    """The row explorer on an explained test row that every model calls setosa (petals small)."""
    at = visit(at, "pages/attributions.py")
    comp = at.session_state["comparison"]
    rows = comp.explanation.rows[(comp.predictions == 0).all(axis=0)]
    assert len(rows), "the quick preset calls some test rows setosa"
    row = int(rows[0])
    at.selectbox(key="row_select").set_value(row)
    at.run()
    assert not at.exception
    return at, row


def test_what_if_starts_from_the_rows_stored_predictions(trained):
    at, row = open_setosa_row(trained)
    assert at.number_input(key=whatif_key(row, PETAL_LENGTH)).value == pytest.approx(core.load_builtin("iris").X[row, 2])
    table = model_table(at)
    assert list(table["prediction"]) == ["setosa"] * 3
    assert list(table["before the edit"].str.startswith("setosa")) == [True] * 3
    assert any("All 3 models predict" in s.value for s in at.success)
    assert any("No value changed yet" in c.value for c in at.caption)


def test_editing_petals_changes_every_models_prediction_and_reset_restores_it(trained):
    at, row = open_setosa_row(trained)
    before = model_table(at)
    at.number_input(key=whatif_key(row, PETAL_LENGTH)).set_value(6.9)
    at.number_input(key=whatif_key(row, PETAL_WIDTH)).set_value(2.5)
    at.run()
    assert not at.exception and not at.error
    edited = model_table(at)
    assert "setosa" not in set(edited["prediction"])  # long, wide petals: no model still says setosa
    assert not np.allclose(edited["probability"], before["probability"])
    assert list(edited["before the edit"]) == list(before["before the edit"])
    assert any("petal length (cm): " in c.value and "→ 6.9" in c.value for c in at.caption)
    assert np.array_equal(at.session_state["comparison"].run.dataset.X, core.load_builtin("iris").X)  # data untouched

    at.button(key="whatif_reset").click()
    at.run()
    assert not at.exception
    assert at.number_input(key=whatif_key(row, PETAL_LENGTH)).value == pytest.approx(
        core.load_builtin("iris").X[row, PETAL_LENGTH])
    restored = model_table(at)
    assert list(restored["prediction"]) == list(before["prediction"])
    assert np.array_equal(restored["probability"], before["probability"])


def test_kernel_shap_of_the_edited_row_runs_on_demand(trained):
    at, row = open_setosa_row(trained)
    assert "kernel_shap" not in at.radio(key="whatif_method").options
    at.button(key="whatif_shap").click()
    at.run()
    assert not at.exception and not at.error
    assert at.radio(key="whatif_method").value == "kernel_shap"
    assert model_table(at)["top reasons"].str.contains("↑|↓").all()


def test_what_if_on_a_bundle_says_it_needs_models_trained_in_this_session(trained):
    at = new_app()
    at.switch_page("pages/report.py")
    at.run()
    bundle = core.bundle_bytes(trained.session_state["comparison"])
    at.file_uploader(key="bundle_upload").set_value(("past.zip", bundle, "application/zip"))
    at.run()
    at = visit(at, "pages/attributions.py")
    assert any("What-if needs the trained models" in i.value for i in at.info)
    at = visit(at, "pages/dependence.py")
    assert any("Partial dependence needs the trained models" in i.value for i in at.info)
    assert len(at.get("vega_lite_chart")) == 1  # the attribution scatter still draws from the bundle


def test_dependence_page_shows_the_band_between_models_and_a_rows_curves(trained):
    at = visit(trained, "pages/dependence.py")
    labels = {m.label: m.value for m in at.metric}
    assert labels["Largest gap between models"].endswith("%")
    assert " to " in labels["Effect of the feature"]
    assert len(at.get("vega_lite_chart")) == 3  # partial dependence, one row's curves, attribution scatter
    at.selectbox(key="dep_feature").set_value(next(f for f in core.dataset_features(core.load_builtin("iris"))
                                                   if f.name == "sepal width (cm)"))
    at.selectbox(key="dep_class").set_value(2)
    at.run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric} != labels


def test_a_categorical_column_is_edited_with_one_select_box():
    gen = np.random.default_rng(0)
    colour, size = gen.choice(["blue", "red"], size=120), gen.normal(size=120)
    rows = "\n".join(f"{s:.3f},{c},{int(c == 'red' or s > 1)}" for s, c in zip(size, colour))
    at = upload(new_app(), "colours.csv", ("size,colour,label\n" + rows + "\n").encode())
    at.selectbox(key="target").set_value("label")
    at.run()
    at.selectbox(key="family").set_value("logistic_regression")
    at.run()
    at.slider(key="n_models").set_value(2)
    at.checkbox(key="vary_bootstrap").check()
    at.slider(key="rows").set_value(5)
    at.run()
    at.button(key="train").click()
    at.run()
    assert not at.exception and not at.error
    at = visit(at, "pages/attributions.py")
    row = at.session_state["explorer_row"]
    box = at.selectbox(key=whatif_key(row, 1))  # columns: size, colour=blue, colour=red
    assert box.label == "colour" and box.options == ["blue", "red"]
    was, now = box.options[box.value], box.options[1 - box.value]
    box.set_value(1 - box.value)
    at.run()
    assert not at.exception and not at.error
    assert any(f"colour: {was} → {now}" in c.value for c in at.caption)
    assert "top reasons" not in model_table(at)  # a logistic regression has no instant method: on demand only
