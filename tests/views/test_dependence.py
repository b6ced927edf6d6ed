"""Dependence: partial dependence equals scikit-learn's, the band holds every model, ICE and scatter add up.

Real tiny models (iris: small forests, logistic regressions, nets of 16 units), so the file runs in seconds.
"""
import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import partial_dependence as sklearn_partial_dependence

from core.views import dependence
from core.export.bundle import bundle_bytes, load_bundle
from core.run.compare import compare
from core.training.data import from_frame
from core.errors import ConfigError
from core.explainers.registry import ExplainConfig
from core.training.features import Feature, dataset_features
from core.training.config import MLPConfig, RunConfig, SklearnConfig

SHAP = ExplainConfig(methods=("kernel_shap",), max_rows=6, background_size=10, kernel_samples=100, noise_floor=False)


@pytest.fixture(scope="module")
def runs(iris):
    """One comparison per family, each of models that differ (bootstrap resamples; nets: init and order)."""
    varied = frozenset({"init", "bootstrap"})
    return {
        "logistic_regression": compare(iris, RunConfig(family="logistic_regression", n_models=3, vary=varied), SHAP),
        "random_forest": compare(iris, RunConfig(family="random_forest", n_models=3, vary=varied,
                                                 sklearn=SklearnConfig(n_estimators=10)), SHAP),
        "mlp": compare(iris, RunConfig(n_models=4, mlp=MLPConfig(hidden=(16,), epochs=15, learning_rate=1e-2)),
                       ExplainConfig(methods=("integrated_gradients",), max_rows=6)),
    }


@pytest.mark.parametrize("family", ["logistic_regression", "random_forest"])
def test_partial_dependence_equals_scikit_learns_for_every_model_feature_and_class(runs, family):
    comparison = runs[family]
    X = comparison.run.dataset.X[comparison.evaluation.rows]
    for feature in dataset_features(comparison.run.dataset):
        column = feature.columns[0]
        deps = [dependence.partial_dependence(comparison, feature, target=target) for target in range(3)]
        for m, pipeline in enumerate(comparison.run.bank.pipelines):
            expected = sklearn_partial_dependence(
                pipeline, X, [column], custom_values={column: deps[0].grid}, method="brute",
                response_method="predict_proba", kind="average")
            for target, dep in enumerate(deps):
                np.testing.assert_allclose(dep.curves[m], expected["average"][target], rtol=0, atol=1e-12)


def test_the_grid_is_scikit_learns_own_where_the_feature_has_few_values(runs):
    comparison = runs["random_forest"]
    X = comparison.run.dataset.X[comparison.evaluation.rows]
    feature = dataset_features(comparison.run.dataset)[3]  # petal width: under 20 distinct test values
    dep = dependence.partial_dependence(comparison, feature, target=1)
    expected = sklearn_partial_dependence(comparison.run.bank.pipelines[0], X, [3], method="brute",
                                          response_method="predict_proba", kind="average")
    assert np.array_equal(dep.grid, expected["grid_values"][0])
    np.testing.assert_allclose(dep.curves[0], expected["average"][1], rtol=0, atol=1e-12)


def test_a_feature_with_many_values_gets_quantiles_between_the_5th_and_95th_percentile():
    values = np.arange(1000, dtype=float)[:, None]
    grid = dependence.grid(Feature("x", (0,), low=0, high=999), values, points=10)
    np.testing.assert_allclose(grid, np.quantile(values[:, 0], np.linspace(0.05, 0.95, 10)))


def test_every_models_curve_lies_in_the_band_and_the_models_differ(runs):
    for comparison in runs.values():
        for feature in dataset_features(comparison.run.dataset):
            dep = dependence.partial_dependence(comparison, feature, target=2)
            assert (dep.low <= dep.curves).all() and (dep.curves <= dep.high).all()
            assert (dep.low <= dep.inner_low).all() and (dep.inner_high <= dep.high).all()
            np.testing.assert_array_equal(dep.gap, dep.high - dep.low)
        assert dep.gap.max() > 0  # bootstrap and init make different models, so the band has width


def test_mlp_curves_of_all_models_at_once_equal_each_model_alone(runs):
    comparison = runs["mlp"]
    feature = dataset_features(comparison.run.dataset)[2]
    dep = dependence.partial_dependence(comparison, feature, target=0)
    X = comparison.run.dataset.X[dep.rows]
    for m in range(comparison.run.n_models):
        alone = dependence.sweep(comparison.run.bank.subset([m]), X, feature, dep.grid, target=0)[0]
        np.testing.assert_allclose(dep.curves[m], alone, rtol=0, atol=1e-6)


def test_individual_curves_average_to_the_partial_dependence(runs):
    comparison = runs["mlp"]
    feature = dataset_features(comparison.run.dataset)[3]
    dep = dependence.partial_dependence(comparison, feature, target=1)
    rows = [dependence.ice(comparison, dep, int(row)) for row in dep.rows]
    np.testing.assert_allclose(np.mean([r.curves for r in rows], axis=0), dep.curves, rtol=0, atol=1e-6)
    X = comparison.run.dataset.X
    assert [r.position for r in rows] == list(X[dep.rows, 3])
    position = np.searchsorted(comparison.evaluation.rows, dep.rows)
    np.testing.assert_allclose([r.now for r in rows], comparison.evaluation.proba[:, position, 1].T, rtol=0, atol=1e-6)


def test_a_one_hot_group_is_swept_one_whole_category_at_a_time():
    gen = np.random.default_rng(1)
    colour = gen.choice(["blue", "green", "red"], size=150)
    size = gen.normal(size=150)
    data = from_frame(pd.DataFrame({"size": size, "colour": colour,
                                    "label": ((colour == "red") | (size > 1)).astype(int)}), "label")
    comparison = compare(data, RunConfig(family="logistic_regression", n_models=2, vary=frozenset({"bootstrap"})),
                         SHAP)
    colour_feature = dataset_features(data)[1]
    dep = dependence.partial_dependence(comparison, colour_feature, target=1)
    assert dep.labels == ("blue", "green", "red") and np.array_equal(dep.grid, [0, 1, 2])
    X = data.X[comparison.evaluation.rows].copy()
    X[:, 1:] = [0, 0, 1]  # every row red, no row two colours
    expected = comparison.run.bank.predict_proba(X)[..., 1].mean(axis=1)
    np.testing.assert_allclose(dep.curves[:, 2], expected, rtol=0, atol=1e-12)
    assert dep.curves[:, 2].min() > dep.curves[:, 0].max()  # red is the class-1 colour
    scatter = dependence.attribution_scatter(comparison, colour_feature, "kernel_shap")
    values = comparison.explanation.by_method["kernel_shap"].values[..., 1:].sum(axis=-1).ravel()
    np.testing.assert_allclose(scatter["attribution"], values)
    assert set(scatter["value"]) <= {"blue", "green", "red"}


def test_the_attribution_scatter_holds_every_model_and_explained_row(runs):
    comparison = runs["random_forest"]
    feature = dataset_features(comparison.run.dataset)[2]
    scatter = dependence.attribution_scatter(comparison, feature, "kernel_shap")
    ex = comparison.explanation
    assert len(scatter) == 3 * len(ex.rows)
    values = ex.by_method["kernel_shap"].values
    for line in scatter.itertuples():
        row = list(ex.rows).index(line.row)
        assert line.attribution == values[line.model, row, 2]
        assert line.value == comparison.run.dataset.X[line.row, 2]
    with pytest.raises(ConfigError, match="kernel_shap"):
        dependence.attribution_scatter(comparison, feature, "lime")


def test_a_bundle_keeps_the_scatter_and_says_partial_dependence_needs_the_models(runs):
    loaded = load_bundle(bundle_bytes(runs["random_forest"]))
    feature = dataset_features(loaded.run.dataset)[0]
    assert len(dependence.attribution_scatter(loaded, feature, "kernel_shap")) == 3 * len(loaded.explanation.rows)
    with pytest.raises(ConfigError, match="loaded from a bundle"):
        dependence.partial_dependence(loaded, feature, target=0)


def test_a_class_outside_the_classes_is_refused(runs):
    feature = dataset_features(runs["mlp"].run.dataset)[0]
    with pytest.raises(ConfigError, match="between 0 and 2"):
        dependence.partial_dependence(runs["mlp"], feature, target=3)
