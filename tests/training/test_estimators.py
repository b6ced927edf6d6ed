"""Any scikit-learn estimator by import path: checked before training with what to do, seeded from the init
source, refused outside the app's allow-list without importing anything, and carried by bundles as data."""
import sys

import numpy as np
import pytest

import core
from core.errors import ConfigError
from core.explainers.registry import ExplainConfig
from core.training.config import RunConfig, SklearnConfig
from core.training.data import load_builtin
from core.training.estimators import check_allowed, parse_param
from core.training.fit import train

EXTRA = "sklearn.ensemble.ExtraTreesClassifier"


def config(path=EXTRA, params=(("n_estimators", 10),), vary=frozenset({"init"})) -> RunConfig:
    return RunConfig(family="estimator", n_models=3, vary=vary, sklearn=SklearnConfig(estimator=path, params=params))


def test_an_estimator_by_path_trains_seeded_from_init_and_reruns_bit_identically(iris):
    run = train(iris, config())
    assert [p[-1].random_state for p in run.bank.pipelines] == [
        p[-1].random_state for p in train(iris, config()).bank.pipelines]
    assert len(set(run.fingerprints)) == 3 and run.fingerprints == train(iris, config()).fingerprints
    assert all(p[-1].n_estimators == 10 for p in run.bank.pipelines)
    fixed = train(iris, config(vary=frozenset({"split"})))  # init fixed: one seed for all, varied by the split
    assert len({p[-1].random_state for p in fixed.bank.pipelines}) == 1


@pytest.mark.parametrize("path, params, message", [
    ("sklearn.ensemble.NoSuchForest", (), "has no 'NoSuchForest'"),
    ("no_such_package.Model", (), "Cannot import 'no_such_package'"),
    ("sklearn.preprocessing.StandardScaler", (), "no predict_proba"),
    ("collections.OrderedDict", (), "not a scikit-learn estimator"),
    ("sklearn.svm.SVC", (), "no predict_proba"),
    (EXTRA, (("n_trees", 5),), "takes no parameter n_trees"),
    (EXTRA, (("n_estimators", "many"),), "n_estimators"),
    (EXTRA, (("random_state", 3),), "drawn from the init source"),
    ("sklearn.ensemble.ExtraTreesRegressor", (), "is a regressor"),
])
def test_a_bad_estimator_is_refused_before_training_with_what_to_do(iris, path, params, message):
    with pytest.raises(ConfigError, match=message):
        core.compare(iris, config(path, params), ExplainConfig(methods=("kernel_shap",), max_rows=3))


def test_a_regressor_by_path_explains_the_predicted_value():
    diabetes = load_builtin("diabetes")
    comparison = core.compare(diabetes, config("sklearn.ensemble.ExtraTreesRegressor"),
                              ExplainConfig(methods=("kernel_shap", "lime"), max_rows=4, kernel_samples=64,
                                            lime_samples=200))
    summary = core.summarize(comparison)
    assert summary.headline.startswith("3 models, RMSE")
    assert "3 ExtraTreesRegressor models" in core.story(comparison, summary)[0].text[1]


def test_parameters_read_as_python_literals_or_text():
    assert parse_param("n_estimators=300") == ("n_estimators", 300)
    assert parse_param("max_features = 0.5") == ("max_features", 0.5)
    assert parse_param("max_features=sqrt") == ("max_features", "sqrt")
    assert parse_param("bootstrap=True") == ("bootstrap", True) and parse_param("max_depth=None")[1] is None
    with pytest.raises(ConfigError, match="name=value"):
        parse_param("300")
    with pytest.raises(ConfigError, match="number, True/False, None or text"):
        parse_param("weights=[1, 2]")


def test_the_allow_list_refuses_other_packages_without_importing_them(monkeypatch):
    check_allowed("sklearn.ensemble.ExtraTreesClassifier")
    check_allowed("xgboost.XGBClassifier")
    with pytest.raises(ConfigError, match="SEEDSCOPE_ESTIMATOR_PACKAGES"):
        check_allowed("os.system")
    assert "antigravity" not in sys.modules
    with pytest.raises(ConfigError):
        check_allowed("antigravity.Model")
    assert "antigravity" not in sys.modules  # refused by name, never imported
    monkeypatch.setenv("SEEDSCOPE_ESTIMATOR_PACKAGES", "mypkg, other")
    check_allowed("mypkg.models.Fancy")


def test_a_bundle_carries_the_estimator_as_data_and_loads_without_importing_it(iris):
    comparison = core.compare(iris, config(params=(("n_estimators", 10), ("max_features", 0.5))),
                              ExplainConfig(methods=("kernel_shap",), max_rows=3, kernel_samples=64))
    loaded = core.load_bundle(core.bundle_bytes(comparison, core.summarize(comparison)))
    assert loaded.run.config == comparison.run.config
    assert loaded.run.config.sklearn.params == (("n_estimators", 10), ("max_features", 0.5))


def test_the_cli_takes_an_estimator_and_its_parameters(tmp_path, capsys):
    from core.cli import main

    out = tmp_path / "report.html"
    code = main(["compare", "--dataset", "iris", "--estimator", EXTRA, "--param", "n_estimators=20",
                 "--param", "max_features=0.5", "--models", "3", "--vary", "init", "--methods", "kernel_shap",
                 "--rows", "3", "--kernel-samples", "64", "--quiet", "--out", str(out)])
    assert code == 0 and out.exists()
    assert core.load_bundle(out.with_suffix(".zip")).run.config.sklearn.params == (
        ("n_estimators", 20), ("max_features", 0.5))
    assert main(["compare", "--dataset", "iris", "--estimator", "sklearn.svm.SVC", "--out", str(out)]) == 2
    assert "probability=True" in capsys.readouterr().err
