"""XGBoost and LightGBM as model families: bit-identical reruns with fingerprints of their trees, seeds that
matter only through subsampling (and are said to be inert without it), TreeSHAP exact against brute-force
interventional Shapley values for regression and adding up for classification, and the whole comparison."""
from dataclasses import replace

import numpy as np
import pytest

import core
from core.agree.scores import evaluate
from core.explainers.registry import ExplainConfig, methods_for
from core.training.config import RunConfig, SklearnConfig
from core.training.data import load_builtin
from core.training.fit import train

from explainers.test_methods import brute_force_shapley, context

LIBRARIES = ("xgboost", "lightgbm")
SMALL = SklearnConfig(n_estimators=15, max_depth=3)


@pytest.fixture(scope="module")
def friedman4():
    """Friedman #1 on four of its informative features: few enough to enumerate every coalition."""
    ds = load_builtin("friedman1")
    return replace(ds, X=ds.X[:, :4], feature_names=ds.feature_names[:4], informative=None, content_hash="")


@pytest.fixture(scope="module")
def cancer4():
    ds = load_builtin("breast_cancer")
    return replace(ds, X=ds.X[:, :4], feature_names=ds.feature_names[:4], content_hash="")


@pytest.mark.parametrize("family", LIBRARIES)
def test_reruns_are_bit_identical_and_seeds_differ_only_through_subsampling(family, cancer4):
    config = RunConfig(family=family, n_models=3, vary=frozenset({"init"}), sklearn=SMALL)
    run, again = train(cancer4, config), train(cancer4, config)
    assert run.fingerprints == again.fingerprints and len(set(run.fingerprints)) == 3
    np.testing.assert_array_equal(run.predict_proba(cancer4.X), again.predict_proba(cancer4.X))
    assert np.allclose(run.predict_proba(cancer4.X).sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    whole = replace(config, sklearn=replace(SMALL, subsample=1.0, colsample=1.0))
    assert len(set(train(cancer4, whole).fingerprints)) == 1
    assert core.identical_models(whole) and "both subsamples are 1.0" in core.inert_note(whole)
    assert not core.identical_models(config)


@pytest.mark.parametrize("family", LIBRARIES)
def test_tree_shap_of_a_regressor_equals_brute_force_interventional_shapley(family, friedman4):
    run = train(friedman4, RunConfig(family=family, n_models=2, vary=frozenset({"init"}), sklearn=SMALL))
    ex = core.explain(run, evaluate(run).rows, ExplainConfig(methods=("tree_shap",), max_rows=10))
    ctx = context(run, ex.rows, background_size=ExplainConfig().background_size, kernel_samples=None)
    background = ctx.expanded_background
    uniform = replace(ctx, background=background, weights=np.full(len(background), 1 / len(background)))
    values = ex.by_method["tree_shap"].values
    assert np.abs(values).max() > 0.5
    np.testing.assert_allclose(values, brute_force_shapley(run.bank, uniform), rtol=0, atol=1e-4)


@pytest.mark.parametrize("family", LIBRARIES)
def test_tree_shap_of_a_classifier_adds_up_to_the_probability(family, cancer4):
    run = train(cancer4, RunConfig(family=family, n_models=2, vary=frozenset({"init"}), sklearn=SMALL))
    ex = core.explain(run, evaluate(run).rows, ExplainConfig(methods=("tree_shap",), max_rows=10))
    ctx = context(run, ex.rows, background_size=ExplainConfig().background_size, kernel_samples=None)
    proba = run.bank.predict_proba(ctx.X)[:, np.arange(len(ctx.X)), ctx.target]
    expected = run.bank.predict_proba(ctx.expanded_background)[:, :, 1].mean(axis=1)
    gap = np.abs(ex.by_method["tree_shap"].values.sum(axis=-1) - (proba - expected[:, None]))
    assert gap.max() < 1e-5


@pytest.mark.parametrize("family", LIBRARIES)
def test_a_comparison_of_boosting_libraries_runs_end_to_end_and_round_trips_a_bundle(family, cancer4):
    config = ExplainConfig(methods=methods_for(family, 2), max_rows=6, kernel_samples=64, lime_samples=200)
    assert set(config.methods) == {"kernel_shap", "tree_shap", "lime"}
    comparison = core.compare(cancer4, RunConfig(family=family, n_models=3, sklearn=SMALL), config)
    summary = core.summarize(comparison)
    assert summary.headline.startswith("3 models, accuracy")
    assert f"3 {core.FAMILIES[family]} models" in core.story(comparison, summary)[0].text[1]
    assert "colsample=0.8" in core.render_html(comparison, summary)
    loaded = core.load_bundle(core.bundle_bytes(comparison, summary))
    assert loaded.run.config.family == family and loaded.run.fingerprints == comparison.run.fingerprints
    assert core.summarize(loaded).headline == summary.headline
