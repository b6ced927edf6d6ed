"""Regression in the app, as a user drives it (AppTest): a numeric CSV is taken as a regression and says so,
trains, and every page speaks of predicted numbers, not classes."""
from pathlib import Path

import numpy as np
import pandas as pd
import shap  # noqa: F401  (imported up front so the app's first run fits its timeout)
import torch  # noqa: F401
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ["pages/overview.py", "pages/present.py", "pages/metrics.py", "pages/attributions.py", "pages/dependence.py",
         "pages/agreement.py", "pages/cohorts.py", "pages/report.py"]


def prices() -> bytes:
    g = np.random.default_rng(0)
    x, z = g.normal(size=150), g.normal(size=150)
    frame = pd.DataFrame({"size": x, "age": z, "area": np.where(x > 0, "north", "south"),
                          "price": 50 * x - 20 * z + 300 + g.normal(0, 5, 150)})
    return frame.to_csv(index=False).encode()


def test_a_numeric_csv_trains_as_a_regression_and_every_page_speaks_of_numbers():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.radio(key="data_source").set_value("Upload a CSV")
    at.run()
    at.file_uploader(key="upload").set_value(("prices.csv", prices(), "text/csv"))
    at.run()
    assert at.radio(key="task_price").value == "regression"
    assert any("regression: the target price is predicted as a number" in c.value for c in at.caption)
    assert "logistic_regression" not in at.selectbox(key="family_regression").options
    assert any("Tolerance δ: 10% of the target's standard deviation" in c.value for c in at.caption)
    at.text_input(key="hidden").set_value("8")
    at.number_input(key="epochs").set_value(10)
    at.slider(key="n_models").set_value(3)
    at.slider(key="rows").set_value(10)
    at.run()
    at.button(key="train").click()
    at.run()
    assert not at.exception and not at.error
    comp = at.session_state["comparison"]
    assert comp.run.dataset.regression and comp.evaluation.delta > 0
    at.switch_page("pages/overview.py")
    at.run()
    assert at.markdown[0].value.startswith("### 3 models, RMSE ")
    assert {m.label for m in at.metric} >= {"RMSE", "Prediction ambiguity"}
    for page in PAGES:
        at.switch_page(page)
        at.run()
        assert not at.exception, page
        assert not at.error, (page, [e.value for e in at.error])
        shown = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.info])
        assert "true class" not in shown and "probability of" not in shown, page
