"""What-if: an unedited row gives back what the comparison stored; an edit moves every model; bad edits are refused.

Real tiny models (iris, one hidden layer of 16, a few epochs; small forests), so the file runs in seconds.
"""
import numpy as np
import pandas as pd
import pytest

from core.views import whatif
from core.export.bundle import bundle_bytes, load_bundle
from core.run.compare import compare
from core.training.data import from_frame, load_builtin
from core.errors import ConfigError
from core.explainers.registry import ExplainConfig
from core.training.features import dataset_features
from core.training.config import MLPConfig, RunConfig, SklearnConfig

EXPLAIN = ExplainConfig(methods=("kernel_shap", "gradient_x_input", "integrated_gradients"), max_rows=8, noise_floor=False,
                        background_size=10, kernel_samples=200)


@pytest.fixture(scope="module")
def mlp(iris):
    return compare(iris, RunConfig(n_models=3, mlp=MLPConfig(hidden=(16,), epochs=30, learning_rate=1e-2)), EXPLAIN)


@pytest.fixture(scope="module")
def forest(iris):
    return compare(iris, RunConfig(family="random_forest", n_models=3, vary=frozenset({"init", "bootstrap"}),
                                   sklearn=SklearnConfig(n_estimators=10)),
                   ExplainConfig(methods=("kernel_shap",), max_rows=5, background_size=10, kernel_samples=200))


def unedited(comparison, i):
    row = int(comparison.explanation.rows[i])
    ds = comparison.run.dataset
    return row, whatif.what_if(comparison, ds.X[row], row=row, features=dataset_features(ds))


def test_an_unedited_row_gets_back_the_stored_predictions_and_gradient_attributions(mlp):
    for i in range(len(mlp.explanation.rows)):
        row, result = unedited(mlp, i)
        position = np.searchsorted(mlp.evaluation.rows, row)
        assert np.array_equal(result.predicted, mlp.evaluation.predictions[:, position])
        # one row through float32 layers instead of many: the same numbers up to the last bits
        np.testing.assert_allclose(result.proba, mlp.evaluation.proba[:, position], rtol=0, atol=1e-6)
        assert result.target == mlp.explanation.target_class[i]
        stored = {m: mlp.explanation.by_method[m].values[:, i] for m in whatif.INSTANT}
        np.testing.assert_allclose(result.attributions["gradient_x_input"], stored["gradient_x_input"],
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(result.attributions["integrated_gradients"], stored["integrated_gradients"],
                                   rtol=0, atol=1e-12)  # float64 path integral
        assert not result.notes and not whatif.what_if_changes(result, dataset_features(mlp.run.dataset))


def test_kernel_shap_of_an_unedited_row_equals_the_stored_values(mlp, forest):
    for comparison in (mlp, forest):
        for i in range(3):
            row, result = unedited(comparison, i)
            values = whatif.kernel_shap_row(comparison, result.x, row=row, target=result.target)
            np.testing.assert_allclose(values, comparison.explanation.by_method["kernel_shap"].values[:, i],
                                       rtol=0, atol=1e-6)


def test_growing_a_setosas_petals_changes_every_models_prediction_and_reasons(mlp):
    ds = mlp.run.dataset
    setosa = mlp.explanation.rows[(mlp.predictions == 0).all(axis=0)]
    row = int(setosa[0])
    x = ds.X[row].copy()
    x[2], x[3] = 6.9, 2.5  # the longest and widest petals in the data
    before, after = (whatif.what_if(mlp, v, row=row, features=dataset_features(ds)) for v in (ds.X[row], x))
    assert (before.predicted == 0).all() and (after.predicted != 0).all()
    assert np.array_equal(after.before, before.before)  # "before" is the stored row, whatever the edit
    assert after.target == before.target  # the same class explained, so the reasons compare
    for method in whatif.INSTANT:
        assert not np.allclose(after.attributions[method], before.attributions[method])
    assert whatif.what_if_changes(after, dataset_features(ds)) == (f"petal length (cm): {ds.X[row, 2]:.1f} → 6.9",
                                                          f"petal width (cm): {ds.X[row, 3]:.1f} → 2.5")
    assert np.array_equal(ds.X, load_builtin("iris").X)  # the data is never written to


def test_a_forest_has_no_instant_attributions_but_answers(forest):
    _, result = unedited(forest, 0)
    assert result.attributions == {}
    assert result.proba.shape == (3, 3)


def test_values_outside_the_data_are_clipped_with_a_note(mlp):
    ds = mlp.run.dataset
    row = int(mlp.explanation.rows[0])
    x = ds.X[row].copy()
    x[0] = 100.0
    result = whatif.what_if(mlp, x, row=row, features=dataset_features(ds))
    assert result.x[0] == ds.X[:, 0].max()
    (note,) = result.notes
    assert "sepal length (cm)" in note and "7.9" in note


@pytest.mark.parametrize("bad, message", [(np.nan, "finite"), (np.inf, "finite"), ("tall", "number")])
def test_a_value_that_is_not_a_finite_number_is_refused(mlp, bad, message):
    ds = mlp.run.dataset
    x = list(ds.X[0])
    x[1] = bad
    with pytest.raises(ConfigError, match=message):
        whatif.check_row(x, features=dataset_features(ds), n_columns=ds.n_features)


def test_a_row_of_the_wrong_length_is_refused(iris):
    with pytest.raises(ConfigError, match="4 values"):
        whatif.check_row(np.zeros(3), features=dataset_features(iris), n_columns=iris.n_features)


def colour_data():
    gen = np.random.default_rng(0)
    colour = gen.choice(["blue", "green", "red"], size=120)
    size = gen.normal(size=120)
    frame = pd.DataFrame({"size": size, "colour": colour, "a=b": gen.normal(size=120),
                          "label": ((colour == "red") | (size > 1)).astype(int)})
    return from_frame(frame, "label")


def test_one_hot_columns_are_one_categorical_feature_and_a_name_with_equals_stays_a_number():
    data = colour_data()
    features = dataset_features(data)
    assert [f.name for f in features] == ["size", "colour", "a=b"]
    colour = features[1]
    assert colour.categorical and colour.categories == ("blue", "green", "red")
    assert [data.feature_names[c] for c in colour.columns] == ["colour=blue", "colour=green", "colour=red"]
    assert not features[2].categorical and features[2].columns == (4,)


@pytest.mark.parametrize("chosen", [(), (0, 2)])
def test_a_category_must_be_exactly_one(chosen):
    data = colour_data()
    features = dataset_features(data)
    x = data.X[0].copy()
    x[list(features[1].columns)] = 0
    x[[features[1].columns[c] for c in chosen]] = 1
    with pytest.raises(ConfigError, match="exactly one of blue, green, red"):
        whatif.check_row(x, features=features, n_columns=data.n_features)


def test_an_edited_category_reads_as_words():
    data = colour_data()
    comparison = compare(data, RunConfig(family="logistic_regression", n_models=2, vary=frozenset({"bootstrap"})),
                         ExplainConfig(methods=("kernel_shap",), max_rows=3, background_size=5, kernel_samples=50))
    features = dataset_features(data)
    row = int(comparison.explanation.rows[0])
    x = data.X[row].copy()
    was = data.X[row, list(features[1].columns)].argmax()
    x[list(features[1].columns)] = np.eye(3)[(was + 1) % 3]
    result = whatif.what_if(comparison, x, row=row, features=features)
    names = features[1].categories
    assert whatif.what_if_changes(result, features) == (f"colour: {names[was]} → {names[(was + 1) % 3]}",)


def test_a_comparison_loaded_from_a_bundle_says_what_if_needs_its_models(mlp):
    loaded = load_bundle(bundle_bytes(mlp))
    row = int(loaded.explanation.rows[0])
    with pytest.raises(ConfigError, match="loaded from a bundle"):
        whatif.what_if(loaded, loaded.run.dataset.X[row], row=row, features=dataset_features(loaded.run.dataset))


def test_reasons_name_the_largest_attributions_with_their_direction():
    values = np.array([[0.1, -0.5, 0.0, 0.05], [0.0, 0.0, 0.0, 0.0]])
    assert whatif.reasons(values, ("a", "b", "c", "d")) == ["b ↓ · a ↑ · d ↑", ""]


def test_the_model_table_flags_models_that_part_from_the_majority(mlp):
    ds = mlp.run.dataset
    row = int(mlp.explanation.rows[0])
    result = whatif.what_if(mlp, ds.X[row], row=row, features=dataset_features(ds))
    split = whatif.WhatIf(result.row, result.original, result.x, result.before,
                          np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1]]), result.predicted_before,
                          np.array([0, 1, 0]), result.target, {}, ())
    assert split.split and split.votes == ((0, 2), (1, 1))
    table = whatif.what_if_table(split, ds.class_names, ds.feature_names)
    assert list(table["differs from most models"]) == [False, True, False]
    assert list(table["prediction"]) == ["setosa", "versicolor", "setosa"]
    assert "top reasons" not in table
