"""Setup with the new families, as a user drives it (AppTest): XGBoost trains from the family list, and an
estimator typed by import path trains when its package is allowed and is refused, before anything is
imported, when it is not."""
import sys
from pathlib import Path

import shap  # noqa: F401  (imported up front so the app's first run fits its timeout)
import torch  # noqa: F401
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def setup(family: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.selectbox(key="builtin").set_value("iris")
    at.run()
    at.selectbox(key="family").set_value(family)
    at.run()
    at.slider(key="n_models").set_value(3)
    at.slider(key="rows").set_value(5)
    at.run()
    return at


def test_xgboost_is_a_family_in_setup_and_trains():
    at = setup("xgboost")
    at.number_input(key="n_trees").set_value(10)
    at.run()
    at.button(key="train").click()
    at.run()
    assert not at.exception and not at.error
    comp = at.session_state["comparison"]
    assert comp.run.config.family == "xgboost" and comp.run.config.sklearn.colsample == 0.8


def test_an_estimator_outside_the_allowed_packages_is_refused_without_importing_it():
    at = setup("estimator")
    at.text_input(key="estimator_classification").set_value("antigravity.Model")
    at.run()
    assert any("not in a package this app imports estimators from" in e.value for e in at.error)
    assert at.button(key="train").disabled and "antigravity" not in sys.modules
    at.text_input(key="estimator_classification").set_value("sklearn.ensemble.ExtraTreesClassifier")
    at.text_area(key="estimator_params_classification").set_value("n_estimators=10\nmax_features=0.5")
    at.run()
    assert not at.error and not at.button(key="train").disabled
    at.button(key="train").click()
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["comparison"].run.config.sklearn.params == (("n_estimators", 10), ("max_features", 0.5))
