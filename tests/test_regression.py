"""Regression end to end: data, training, scores against hand-worked numbers, multiplicity at a tolerance,
explanations against known answers (brute-force Shapley, lime's own regression mode, exact TreeSHAP,
complete integrated gradients), the summary, the report, the bundle, the CLI and diff.

The models are real and tiny: a few features, a few models, a few epochs."""
import io
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import core
from core.agree.agreement import rmse_difference_ci
from core.agree.scores import ambiguity, departs, disagreement_matrix, discrepancy, evaluate, score_regressor
from core.errors import ConfigError, DatasetError
from core.explainers.registry import ExplainConfig, methods_for
from core.explainers.shap_lime import kernel_shap_values
from core.training.config import MLPConfig, RunConfig, SklearnConfig
from core.training.data import from_frame, load_builtin, read_csv
from core.training.fit import train

from explainers.test_methods import brute_force_shapley, context

TINY = MLPConfig(hidden=(16,), epochs=30, learning_rate=1e-2)


@pytest.fixture(scope="module")
def friedman():
    return load_builtin("friedman1")


@pytest.fixture(scope="module")
def small(friedman):
    """Friedman #1 on its first five (informative) features: few enough to enumerate every coalition."""
    return replace(friedman, X=friedman.X[:, :4], feature_names=friedman.feature_names[:4], informative=None,
                   content_hash="")


@pytest.fixture(scope="module")
def mlp_run(small):
    return train(small, RunConfig(n_models=3, mlp=TINY))


def csv(text: str, name: str = "data.csv"):
    f = io.BytesIO(text.encode())
    f.name = name
    return read_csv(f)


def numeric_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    g = np.random.default_rng(seed)
    x, z = g.normal(size=n), g.normal(size=n)
    return pd.DataFrame({"x": x, "z": z, "colour": np.where(x > 0, "red", "blue"), "price": 3 * x - z + 100})


# --- data ---------------------------------------------------------------------------------------------

def test_a_numeric_target_with_many_values_is_taken_as_regression_and_the_task_can_be_overridden():
    frame = numeric_frame()
    assert core.guess_task(frame, "price") == "regression"
    ds = from_frame(frame, "price")
    assert ds.regression and ds.y.dtype == np.float64 and ds.class_names == ("price",) and ds.n_classes == 1
    np.testing.assert_array_equal(ds.y, frame["price"].to_numpy())
    scores = pd.DataFrame({"a": np.arange(40.0), "score": np.arange(40) % 11})  # a 0-10 score: either
    assert core.guess_task(scores, "score") == "classification"
    assert from_frame(scores, "score", task="regression").regression
    assert from_frame(scores, "score").n_classes == 11


def test_rows_without_a_target_are_dropped_with_a_count_and_bad_targets_are_refused_with_advice():
    frame = numeric_frame()
    frame.loc[[3, 7], "price"] = np.nan
    ds = from_frame(frame, "price")
    assert ds.n_rows == 58 and any("Dropped 2 rows" in note for note in ds.notes)
    with pytest.raises(DatasetError, match="thousands separators"):
        from_frame(csv('a,price\n1,"1,234.5"\n2,3\n3,4\n'), "price", task="regression")
    with pytest.raises(DatasetError, match="single value"):
        from_frame(csv("a,price\n1,5\n2,5\n3,5\n"), "price", task="regression")
    with pytest.raises(DatasetError, match="single value"):
        from_frame(csv("a,price\n1,5\n2,\n3,\n"), "price", task="regression")
    with pytest.raises(DatasetError, match="infinite"):
        from_frame(pd.DataFrame({"a": [1.0, 2, 3], "price": [1.0, np.inf, 3]}), "price", task="regression")
    with pytest.raises(DatasetError, match="rescale"):
        from_frame(pd.DataFrame({"a": [1.0, 2, 3], "price": [1e300, 2, 3]}), "price", task="regression")


def test_friedman_has_five_informative_features_and_diabetes_ships_with_scikit_learn(friedman):
    assert friedman.informative == (0, 1, 2, 3, 4) and friedman.regression
    x = friedman.X
    truth = 10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2 + 10 * x[:, 3] + 5 * x[:, 4]
    assert np.std(friedman.y - truth) == pytest.approx(1.0, abs=0.15)  # noise 1: the rest is the known formula
    diabetes = load_builtin("diabetes")
    assert diabetes.regression and diabetes.n_rows == 442 and diabetes.target_std == pytest.approx(77.0, abs=0.1)


# --- training -------------------------------------------------------------------------------------------

def test_mlps_predict_in_the_target_s_units_and_rerun_bit_identically(friedman):
    config = RunConfig(n_models=3, mlp=MLPConfig(epochs=60))
    run = train(friedman, config)
    ev = evaluate(run)
    assert ev.regression and set(ev.scores.per_model.columns) == {"rmse", "mae", "r2", "fingerprint"}
    assert (ev.scores.per_model["r2"] > 0.6).all()  # trained on the standardized target, answering in units
    assert abs(ev.predictions.mean() - friedman.y[ev.rows].mean()) < 1.0
    again = train(friedman, config)
    assert again.fingerprints == run.fingerprints and len(set(run.fingerprints)) == 3
    np.testing.assert_array_equal(again.predict_proba(friedman.X[:50]), run.predict_proba(friedman.X[:50]))


def test_scikit_learn_regressors_vary_with_their_seed_except_ridge(small):
    varied = {}
    for family in ("random_forest", "gradient_boosting", "ridge"):
        run = train(small, RunConfig(family=family, n_models=3, vary=frozenset({"init"}),
                                     sklearn=SklearnConfig(n_estimators=10)))
        varied[family] = len(set(run.fingerprints))
    assert varied == {"random_forest": 3, "gradient_boosting": 3, "ridge": 1}
    assert core.identical_models(RunConfig(family="ridge", vary=frozenset({"init"})))
    with pytest.raises(ConfigError, match="Logistic regression cannot learn a regression"):
        train(small, RunConfig(family="logistic_regression", n_models=2))
    with pytest.raises(ConfigError, match="Ridge regression cannot learn a classification"):
        train(load_builtin("iris"), RunConfig(family="ridge", n_models=2))


# --- scores and multiplicity, by hand ------------------------------------------------------------------

def test_rmse_mae_and_r2_match_a_hand_worked_example():
    y, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 4.0])
    # errors 0.5, 0, -1, 0: MSE (0.25 + 1) / 4, MAE 1.5 / 4; SST = 5
    assert score_regressor(y, p) == pytest.approx({"rmse": np.sqrt(1.25 / 4), "mae": 0.375, "r2": 1 - 1.25 / 5})


def test_regression_multiplicity_counts_predictions_further_apart_than_the_tolerance():
    predictions = np.array([[10.0, 20.0, 30.0, 40.0],
                            [10.4, 21.0, 30.0, 40.0],
                            [9.7, 20.0, 28.0, 40.5]])
    # Against model 0 at delta 0.5: model 1 departs on row 1, model 2 on row 2.
    assert ambiguity(predictions, delta=0.5) == 0.5 and discrepancy(predictions, delta=0.5) == 0.25
    np.testing.assert_array_equal(departs(predictions, predictions[0], 0.5).sum(axis=1), [0, 1, 1])
    matrix = disagreement_matrix(predictions, 0.5)  # model 1 vs 2: rows 0 (0.7 apart), 1, 2
    np.testing.assert_allclose(matrix, [[0, 0.25, 0.25], [0.25, 0, 0.75], [0.25, 0.75, 0]])
    assert ambiguity(predictions, delta=5.0) == 0.0


def test_rmse_difference_interval_covers_the_observed_difference_and_is_antisymmetric():
    g = np.random.default_rng(0)
    errors = np.stack([g.normal(0, 1.0, 200), g.normal(0, 1.3, 200)]) ** 2
    lo, hi = rmse_difference_ci(errors, rng=np.random.default_rng(1))
    observed = np.sqrt(errors[0].mean()) - np.sqrt(errors[1].mean())
    assert lo[0, 1] < observed < hi[0, 1] < 0  # model 0 is clearly better
    np.testing.assert_allclose(lo[0, 1], -hi[1, 0])


# --- explanations: known answers -----------------------------------------------------------------------

def test_kernel_shap_of_regression_mlps_equals_brute_force_shapley(mlp_run):
    ctx = context(mlp_run, evaluate(mlp_run).rows[:5], background_size=5, kernel_samples=14)
    phi = kernel_shap_values(mlp_run.bank, ctx, seed=0)
    expected = brute_force_shapley(mlp_run.bank, ctx)
    assert np.abs(expected).max() > 0.5  # in the target's units
    np.testing.assert_allclose(phi, expected, rtol=0, atol=1e-4)


def test_lime_equals_lime_regression_mode_explain_instance_for_one_model_and_the_same_seed(mlp_run):
    from lime.lime_tabular import LimeTabularExplainer

    from core.seeding import int_seed

    rows = evaluate(mlp_run).rows[:5]
    config = ExplainConfig(methods=("lime",), max_rows=5, lime_samples=400, noise_floor=False)
    ours = core.explain(mlp_run, rows, config).by_method["lime"].values[0]
    ctx = context(mlp_run, rows, background_size=5, kernel_samples=None)
    reference = LimeTabularExplainer(ctx.train_X, mode="regression", feature_selection="none",
                                     discretize_continuous=False, sample_around_instance=True,
                                     random_state=int_seed(config.seed, "lime"))
    model0 = mlp_run.bank.subset([0])
    for r, x in enumerate(ctx.X):
        exp = reference.explain_instance(x, lambda p: model0.predict_proba(p)[0, :, 0], num_features=4,
                                         num_samples=400)
        expected = np.zeros(4)
        for f, weight in exp.as_map()[1]:  # lime files a regression's weights under label 1 (label 0: negated)
            expected[f] = weight
        np.testing.assert_allclose(ours[r], expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("family", ["random_forest", "gradient_boosting"])
def test_tree_shap_of_regressors_equals_brute_force_interventional_shapley(small, family):
    run = train(small, RunConfig(family=family, n_models=2, vary=frozenset({"init", "split"}),
                                 sklearn=SklearnConfig(n_estimators=15)))
    ex = core.explain(run, evaluate(run).rows, ExplainConfig(methods=("tree_shap",), max_rows=10))
    ctx = context(run, ex.rows, background_size=ExplainConfig().background_size, kernel_samples=None)
    background = ctx.expanded_background  # what TreeSHAP is given, every row weighing the same
    uniform = replace(ctx, background=background, weights=np.full(len(background), 1 / len(background)))
    values = ex.by_method["tree_shap"].values
    assert np.abs(values).max() > 0.5
    np.testing.assert_allclose(values, brute_force_shapley(run.bank, uniform), rtol=0, atol=1e-5)


def test_integrated_gradients_of_a_regression_mlp_are_complete(mlp_run, small):
    rows = evaluate(mlp_run).rows[:8]
    ig = core.explain(mlp_run, rows, ExplainConfig(methods=("integrated_gradients",), max_rows=8))
    values = ig.by_method["integrated_gradients"].values
    base = small.X[np.unique(mlp_run.train_rows[0])].mean(axis=0)
    import copy

    import torch

    module = copy.deepcopy(mlp_run.bank.module).double()  # the network in float64, as IG integrates it
    with torch.no_grad():
        f_x = module(torch.as_tensor(small.X[rows]))[..., 0].numpy()
        f_base = module(torch.as_tensor(base[None]))[..., 0].numpy()
    np.testing.assert_allclose(values.sum(axis=-1), f_x - f_base, rtol=0, atol=1e-9)


# --- the comparison, the report, the bundle --------------------------------------------------------------

@pytest.fixture(scope="module")
def comparison(friedman):
    config = ExplainConfig(methods=("kernel_shap", "integrated_gradients"), max_rows=12, kernel_samples=128)
    return core.compare(friedman, RunConfig(n_models=4, mlp=MLPConfig(hidden=(16,), epochs=20)), config)


def test_the_summary_speaks_of_error_in_the_target_s_units(comparison):
    s = core.summarize(comparison)
    ev = comparison.evaluation
    assert s.headline.startswith("4 models, RMSE ") and "±" in s.headline and "%" not in s.headline.split(";")[0]
    assert s.tolerance == pytest.approx(0.05 * ev.accuracy.mean())  # equal error: within 5% of the mean RMSE
    assert ev.delta == pytest.approx(0.1 * np.std(comparison.run.dataset.y[comparison.run.train_rows[0]]))
    assert s.ambiguity.estimate == ev.multiplicity.ambiguity == ambiguity(ev.predictions, delta=ev.delta)
    assert {"low", "high", "prediction_flips"} <= set(s.contested.columns)
    spread = s.contested.high - s.contested.low
    np.testing.assert_array_equal(s.contested.prediction_flips, spread > ev.delta)
    steps = core.story(comparison, s)
    assert steps[1].title.endswith("error") and "RMSE" not in steps[0].text[1]
    assert "a number" in steps[0].text[1]


def test_a_tolerance_of_one_s_own_changes_only_what_reads_it(friedman, comparison):
    config = comparison.explanation.config
    wide = core.compare(friedman, comparison.run.config, config, delta=100.0)
    assert wide.run.fingerprints == comparison.run.fingerprints
    np.testing.assert_array_equal(wide.explanation.by_method["kernel_shap"].values,
                                  comparison.explanation.by_method["kernel_shap"].values)
    assert wide.evaluation.multiplicity.ambiguity == 0.0 and wide.evaluation.correct.all()
    with pytest.raises(ConfigError, match="positive"):
        core.compare(friedman, comparison.run.config, config, delta=0.0)


def test_the_report_and_the_bundle_speak_regression_and_the_bundle_loads_back(comparison, tmp_path):
    s = core.summarize(comparison)
    html = core.render_html(comparison, s)
    for words in ("test RMSE, mean ± std", "Predicted against actual", "lie furthest apart", "RMSE A",
                  "regression of y"):
        assert words in html, words
    assert "share of test cases predicted right" not in html
    loaded = core.load_bundle(core.bundle_bytes(comparison, s))
    assert loaded.run.dataset.regression and loaded.evaluation.delta == comparison.evaluation.delta
    assert core.summarize(loaded).headline == s.headline
    np.testing.assert_array_equal(loaded.evaluation.predictions, comparison.evaluation.predictions)


@pytest.mark.parametrize("family", ["ridge", "random_forest", "gradient_boosting"])
def test_every_regression_family_goes_through_the_story_and_the_report(family, small):
    comparison = core.compare(small, RunConfig(family=family, n_models=3, vary=frozenset({"init", "bootstrap"}),
                                               sklearn=SklearnConfig(n_estimators=10)),
                              ExplainConfig(methods=methods_for(family, 1), max_rows=5, kernel_samples=64,
                                            lime_samples=200))
    summary = core.summarize(comparison)
    assert summary.headline.startswith("3 models, RMSE")
    assert len(core.story(comparison, summary)) == 6 and "RMSE" in core.render_html(comparison, summary)


def test_a_classification_and_a_regression_cannot_be_diffed(comparison):
    iris = core.compare(load_builtin("iris"), RunConfig(n_models=2, mlp=MLPConfig(hidden=(4,), epochs=2)),
                        ExplainConfig(methods=("integrated_gradients",), max_rows=3))
    with pytest.raises(ConfigError, match="cannot be compared"):
        core.diff_runs(iris, comparison)


def test_the_cli_takes_a_numeric_csv_through_to_a_report_and_a_gate(tmp_path, capsys):
    from core.cli import main

    path = tmp_path / "prices.csv"
    numeric_frame(120).to_csv(path, index=False)
    out = tmp_path / "report.html"
    code = main(["compare", "--csv", str(path), "--target", "price", "--models", "3", "--epochs", "10",
                 "--hidden", "8", "--rows", "6", "--methods", "integrated_gradients", "--tolerance", "0.5",
                 "--quiet", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and out.exists() and "RMSE" in printed
    bundle = core.load_bundle(out.with_suffix(".zip"))
    assert bundle.evaluation.delta == 0.5 and bundle.run.dataset.regression
    assert main(["check", str(out.with_suffix(".zip")), "--max-ambiguity", "1"]) == 0
    assert main(["compare", "--dataset", "iris", "--tolerance", "1", "--out", str(out)]) == 2
    assert "--tolerance is for regression" in capsys.readouterr().err
    assert main(["compare", "--csv", str(path), "--target", "price", "--family", "logistic_regression",
                 "--out", str(tmp_path / "r2.html")]) == 2
    assert "cannot learn a regression" in capsys.readouterr().err


def test_a_regression_cohort_reads_the_median_prediction_and_the_tolerance(comparison):
    from core.views.cohort import cohort_mask

    ev, ds = comparison.evaluation, comparison.run.dataset
    median = np.median(ev.predictions, axis=0)
    cut = float(np.median(median))
    cohort = core.Cohort.parse(f"predicted>={cut},outcome=correct")
    assert cohort.describe(regression=True) == (f"Test rows where the models' median prediction ≥ {cut:g} and the "
                                                "models' median prediction lies within the tolerance of the true "
                                                "value.")
    expected = (median >= cut) & (np.abs(median - ds.y[ev.rows]) <= ev.delta)
    np.testing.assert_array_equal(cohort_mask(comparison, cohort), expected)
    figures = core.cohort_figures(comparison, core.summarize(comparison), cohort)
    assert len(figures.rows) == expected.sum() and figures.scores is not None and "rmse" in figures.scores.summary
    with pytest.raises(ConfigError, match="numbers, not classes"):
        core.cohort_figures(comparison, core.summarize(comparison), core.Cohort.parse("predicted=y"))
    with pytest.raises(ConfigError, match="is for regression"):
        cohort_mask(core.compare(load_builtin("iris"), RunConfig(n_models=2, mlp=MLPConfig(hidden=(4,), epochs=1)),
                                 ExplainConfig(methods=("gradient",), max_rows=2)), core.Cohort.parse("predicted>=1"))
