"""Explanations: exact on models whose Shapley values are known, complete, reproducible, shaped (model, row, feature).

Every model here is real and tiny (a few epochs, one hidden layer of 16), so the whole file runs in seconds.
"""
import importlib
from dataclasses import replace
from itertools import combinations
from math import factorial

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from core.training.data import load_builtin
from core.errors import ConfigError
from core.explainers.registry import METHODS, ExplainConfig, methods_for
from core.explainers.methods import (
    attribute_row,
    block_seed,
    blocks_on,
    explain_basis,
    with_blocks,
    _Context,
    as_images,
    explain,
    kmeans_background,
    target_classes,
)
from core.agree.scores import evaluate
from core.agree.verdict import like_with_like
from core.explainers.shap_lime import kernel_shap_values, weighted_ridge
from core.training.models import SklearnBank
from core.training.config import MLPConfig, RunConfig, SklearnConfig
from core.training.fit import train

MLP_METHODS = methods_for("mlp")
TINY_MLP = MLPConfig(hidden=(16,), dropout=0.0, epochs=20, learning_rate=1e-2)


def context(run, rows, *, background_size, kernel_samples, target_class=None) -> _Context:
    """What `explain` builds for its methods, built the same way, for calling one method's internals."""
    X = run.dataset.X[rows]
    train_X = run.dataset.X[np.unique(run.train_rows[0])]
    background, weights = kmeans_background(train_X, background_size)
    config = ExplainConfig(methods=("kernel_shap",), background_size=background_size, kernel_samples=kernel_samples)
    return _Context(run, np.asarray(rows), X, target_classes(run, X, target_class), background, weights, train_X,
                    config)


def brute_force_shapley(bank, ctx: _Context) -> np.ndarray:
    """(model, row, feature) exact Shapley values of p_target, enumerating all 2^F coalitions.

    v(S) = sum_b w_b p_target(x_S, background_b on the rest), the weighted k-means background of `ctx`.
    """
    X, bg, w = ctx.X, ctx.background, ctx.weights
    n_rows, n_features = X.shape

    def value(coalition) -> np.ndarray:  # (model, row)
        z = np.zeros(n_features)
        z[list(coalition)] = 1
        points = z * X[None, :, :] + (1 - z) * bg[:, None, :]  # (bg, row, feature)
        proba = bank.predict_proba(points.reshape(-1, n_features)).reshape(bank.n_models, len(bg), n_rows, -1)
        target = proba[:, :, np.arange(n_rows), ctx.target]  # (model, bg, row)
        return np.einsum("mbr,b->mr", target, w)

    phi = np.zeros((bank.n_models, n_rows, n_features))
    for i in range(n_features):
        others = [f for f in range(n_features) if f != i]
        for size in range(n_features):
            weight = factorial(size) * factorial(n_features - size - 1) / factorial(n_features)
            for s in combinations(others, size):
                phi[:, :, i] += weight * (value(s + (i,)) - value(s))
    return phi


class LogOddsBank:
    """A run's logistic regressions answering with their log-odds in place of P(class 1).

    Column 1 of "predict_proba" is each pipeline's decision_function (the logit), so KernelSHAP
    of target class 1 explains the log-odds, which is linear in the raw features.
    """

    def __init__(self, pipelines):
        self.pipelines = pipelines
        self.n_models = len(pipelines)

    def predict_proba(self, X):
        logit = np.stack([p.decision_function(X) for p in self.pipelines])  # (model, row)
        return np.stack([-logit, logit], axis=-1)

    coalition_proba = SklearnBank.coalition_proba  # builds the masked points and calls predict_proba above


# --- fixtures: one run per family and dataset, explained once -------------------------------------

@pytest.fixture(scope="module")
def syn_run(synthetic_data):
    return train(synthetic_data, RunConfig(n_models=3, seed=0, mlp=MLPConfig(hidden=(16,), dropout=0.0, epochs=60)))


@pytest.fixture(scope="module")
def syn_rows(syn_run):
    return evaluate(syn_run).rows


SYN_CONFIG = ExplainConfig(methods=MLP_METHODS, max_rows=40, background_size=10, kernel_samples=500,
                           lime_samples=1000)


@pytest.fixture(scope="module")
def syn_explanation(syn_run, syn_rows):
    return explain(syn_run, syn_rows, SYN_CONFIG)


@pytest.fixture(scope="module")
def iris_run(iris):
    return train(iris, RunConfig(n_models=3, seed=0, mlp=TINY_MLP))


@pytest.fixture(scope="module")
def rf_run(synthetic_data):
    return train(synthetic_data, RunConfig(family="random_forest", n_models=2))


@pytest.fixture(scope="module")
def rf_explanation(rf_run):
    return explain(rf_run, evaluate(rf_run).rows, ExplainConfig(methods=("tree_shap",), max_rows=40,
                                                                background_size=10))


# --- configuration ----------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [
    {"methods": ("kernel_shap", "magic")},
    {"methods": ()},
    {"max_rows": 0},
    {"background_size": 1},
    {"background_size": 201},
    {"kernel_samples": 9},
    {"lime_samples": 99},
    {"ig_steps": 1},
])
def test_explain_config_rejects_unusable_settings(settings):
    with pytest.raises(ConfigError):
        ExplainConfig(**settings)


def test_weighted_ridge_matches_sklearn_ridge_with_sample_weights_for_every_row_and_target():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 200, 6))  # (row, sample, feature)
    y = np.einsum("rsf,ft->rst", X, rng.normal(size=(6, 4))) + rng.normal(scale=0.3, size=(3, 200, 4))
    w = rng.uniform(0.01, 2.0, size=(3, 200))
    ours = weighted_ridge(X, w, y)  # (row, feature, target)
    for r in range(3):
        for t in range(4):
            ref = Ridge(alpha=1.0).fit(X[r], y[r, :, t], sample_weight=w[r])
            np.testing.assert_allclose(ours[r, :, t], ref.coef_, rtol=1e-9, atol=1e-12)


def test_lime_equals_lime_explain_instance_for_one_model_and_the_same_seed(iris_run):
    from lime.lime_tabular import LimeTabularExplainer

    from core.seeding import int_seed

    run = iris_run
    rows = evaluate(run).rows[:6]
    config = ExplainConfig(methods=("lime",), max_rows=6, lime_samples=400, noise_floor=False)
    ours = explain(run, rows, config).by_method["lime"].values[0]  # model 0
    ctx = context(run, rows, background_size=5, kernel_samples=None)
    reference = LimeTabularExplainer(ctx.train_X, feature_names=list(run.dataset.feature_names),
                                     feature_selection="none", discretize_continuous=False,
                                     sample_around_instance=True, random_state=int_seed(config.seed, "lime"))
    model0 = run.bank.subset([0])
    for r, (x, c) in enumerate(zip(ctx.X, ctx.target)):
        exp = reference.explain_instance(x, lambda p: model0.predict_proba(p)[0], labels=(c,), num_features=4,
                                         num_samples=400)  # lime's own sampling, kernel and sklearn Ridge
        expected = np.zeros(4)
        for f, weight in exp.as_map()[c]:
            expected[f] = weight
        np.testing.assert_allclose(ours[r], expected, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("per_row", [12, 15])  # 15 is odd: lime's generator keeps half a pair between rows
def test_lime_normals_taken_in_any_cut_drawn_ahead_or_not_are_what_lime_draws_row_by_row(monkeypatch, per_row):
    from core.explainers import shap_lime
    from core.explainers.shap_lime import Normals, draw_ahead
    from core.seeding import random_state

    monkeypatch.setattr(shap_lime, "_LIME_NUMBERS", 7)  # blocks drawn ahead end mid-row
    lime = random_state(11)  # what LimeTabularExplainer(random_state=11) draws, one row after another
    expected = np.concatenate([lime.normal(0, 1, per_row) for _ in range(9)])
    plain = Normals(11)
    assert np.array_equal(np.concatenate([plain.take(2 * per_row), plain.take(7 * per_row)]), expected)
    ahead = Normals(11)
    draw_ahead([(ahead, 4 * per_row + 1)]).join()  # part of the way only
    assert np.array_equal(np.concatenate([ahead.take(3 * per_row), ahead.take(6 * per_row)]), expected)


def test_lime_neighbourhoods_equal_lime_sampler_and_kernel_bit_for_bit(iris_run):
    from lime.lime_tabular import LimeTabularExplainer
    from sklearn.metrics import pairwise_distances

    from core.explainers.shap_lime import Normals, _neighbourhoods

    X, train_X = iris_run.dataset.X[:4], iris_run.dataset.X[iris_run.train_rows[0]]
    ours, lime = (LimeTabularExplainer(train_X, feature_selection="none", discretize_continuous=False,
                                       sample_around_instance=True, random_state=3) for _ in range(2))
    data, scaled, weights = _neighbourhoods(ours, X, Normals(3).take(X.size * 50).reshape(4, 50, -1))
    for i, x in enumerate(X):
        expected, _ = lime._LimeTabularExplainer__data_inverse(x, 50)
        expected_scaled = (expected - lime.scaler.mean_) / lime.scaler.scale_  # as explain_instance scales
        distances = pairwise_distances(expected_scaled, expected_scaled[0].reshape(1, -1)).ravel()
        assert np.array_equal(data[i], expected)
        assert np.array_equal(scaled[i], expected_scaled)
        assert np.array_equal(weights[i], lime.base.kernel_fn(distances))


# --- KernelSHAP is exact where the answer is known ------------------------------------------------

def test_kernel_shap_of_logistic_log_odds_is_coefficient_times_distance_from_weighted_background_mean(
        synthetic_data):
    run = train(synthetic_data, RunConfig(family="logistic_regression", n_models=2, vary=frozenset({"split"})))
    ctx = context(run, evaluate(run).rows[:8], background_size=8, kernel_samples=300)
    bank = LogOddsBank(run.bank.pipelines)
    phi = kernel_shap_values(bank, ctx, seed=0)
    # The pipeline standardizes first, so in raw units the slope of feature f is coef_f / scale_f.
    slope = np.stack([p[-1].coef_[0] / p[0].scale_ for p in run.bank.pipelines])  # (model, feature)
    expected = slope[:, None, :] * (ctx.X - ctx.weights @ ctx.background)[None]
    assert phi.shape == expected.shape == (2, 8, synthetic_data.n_features)
    assert not np.allclose(slope[0], slope[1])  # the two models really differ
    np.testing.assert_allclose(phi, expected, rtol=1e-6, atol=1e-8)


def test_kernel_shap_enumerating_all_coalitions_equals_brute_force_shapley_for_an_mlp(iris_run):
    # 4 features: 14 samples cover every coalition but the empty and full ones, so KernelSHAP is exact.
    ctx = context(iris_run, evaluate(iris_run).rows[:6], background_size=5, kernel_samples=14)
    phi = kernel_shap_values(iris_run.bank, ctx, seed=0)
    expected = brute_force_shapley(iris_run.bank, ctx)
    assert np.abs(expected).max() > 1e-2  # non-trivial attributions
    np.testing.assert_allclose(phi, expected, rtol=0, atol=1e-6)


def test_kernel_shap_enumerating_all_coalitions_equals_brute_force_shapley_for_scikit_learn(iris):
    run = train(iris, RunConfig(family="logistic_regression", n_models=2, vary=frozenset({"split"})))
    ctx = context(run, evaluate(run).rows[:6], background_size=5, kernel_samples=14, target_class=2)
    phi = kernel_shap_values(run.bank, ctx, seed=0)
    np.testing.assert_allclose(phi, brute_force_shapley(run.bank, ctx), rtol=0, atol=1e-10)


# --- integrated gradients -------------------------------------------------------------------------

def test_kernel_shap_batched_regression_equals_shaps_own_solve_for_every_output():
    import shap

    from core.explainers.shap_lime import _SeededKernelExplainer

    rng = np.random.default_rng(3)
    coefficients = rng.normal(size=(12, 5))

    def value(masks):  # (coalition, feature) -> (coalition, output): a nonlinear game
        return np.tanh(masks @ coefficients) + (masks[:, :1] * masks[:, 1:2])

    explainer = _SeededKernelExplainer(value, np.zeros((1, 12)), seed=4)
    ours = explainer.shap_values(np.ones((1, 12)), nsamples=300, l1_reg=False, silent=True)[0]  # (feature, output)
    for d in range(5):  # shap's own regression on the same coalitions and values
        reference, _ = shap.KernelExplainer.solve(explainer, explainer.nsamples / explainer.max_samples, d)
        np.testing.assert_allclose(ours[:, d], reference, rtol=1e-9, atol=1e-12)


def completeness_gap(run, attr) -> tuple[np.ndarray, np.ndarray]:
    """(model, row) |sum of attributions - (f(x) - f(baseline))| and |f(x) - f(baseline)|.

    f is each model's probability of the row's target class; the baseline is the mean of model 0's training rows.
    """
    ds = run.dataset
    baseline = ds.X[np.unique(run.train_rows[0])].mean(axis=0)
    cols = np.arange(len(attr.rows))
    f_x = run.predict_proba(ds.X[attr.rows])[:, cols, attr.target_class]
    f_base = run.predict_proba(baseline[None])[:, 0, attr.target_class]
    return np.abs(attr.values.sum(axis=-1) - (f_x - f_base)), np.abs(f_x - f_base)


def test_integrated_gradients_are_complete_to_float32_precision_at_default_nodes(syn_run, syn_explanation):
    assert syn_explanation.config.ig_steps == ExplainConfig().ig_steps
    gap, delta = completeness_gap(syn_run, syn_explanation.by_method["integrated_gradients"])
    assert delta.min() > 1e-3  # no row is trivially complete
    assert gap.max() < 1e-6  # the float32 model's own rounding; the integral itself is exact


def test_integrated_gradients_are_exact_against_the_float64_network_on_a_deep_net(iris):
    from core.training.models import MLPBank
    from core.explainers.gradients import gradients, integrated_gradients

    run = train(iris, RunConfig(n_models=3, mlp=MLPConfig(hidden=(16, 16, 8), dropout=0.0, epochs=30)))
    X, base = iris.X[evaluate(run).rows], iris.X.mean(axis=0)
    target = np.array([0, 1, 2] * (len(X) // 3 + 1))[:len(X)]
    values = integrated_gradients(run.bank, X, target, base, nodes=32)
    double = MLPBank(run.bank.module.subset([0, 1, 2]).double())
    with torch.no_grad():
        f_x = double.torch_proba(torch.tensor(X))[:, np.arange(len(X)), target].numpy()
        f_base = double.torch_proba(torch.tensor(base[None]))[:, 0, target].numpy()
    assert np.abs(values.sum(axis=-1) - (f_x - f_base)).max() < 1e-12
    # Few nodes cannot integrate a curved piece exactly: the kinks are found, the pieces still need nodes.
    coarse = integrated_gradients(run.bank, X, target, base, nodes=1)
    assert np.abs(coarse.sum(axis=-1) - (f_x - f_base)).max() > 1e-9
    # Independent reference: a midpoint Riemann sum of 20,000 steps, feature by feature, on a few rows.
    steps = (np.arange(20_000) + 0.5) / 20_000
    path = torch.tensor(base + steps[:, None, None] * (X[:4] - base)[None])  # (step, row, feature)
    grads = gradients(double, path.expand(3, -1, -1, -1), target[:4]).mean(dim=1).numpy()  # (model, row, feature)
    np.testing.assert_allclose(values[:, :4], grads * (X[:4] - base), atol=1e-5)


# --- known truth: synthetic data with informative features ---------------------------------------

def test_mlp_on_synthetic_data_is_well_trained(syn_run):
    assert evaluate(syn_run).accuracy.min() > 0.85


@pytest.mark.parametrize("method", MLP_METHODS)
def test_every_mlp_method_ranks_the_informative_features_first(method, synthetic_data, syn_explanation):
    # Global importance: mean |attribution| over rows, averaged over the models.
    importance = np.abs(syn_explanation.by_method[method].values).mean(axis=(0, 1))
    informative = list(synthetic_data.informative)
    noise = [f for f in range(synthetic_data.n_features) if f not in informative]
    assert importance[informative].min() > importance[noise].max()


def test_tree_shap_ranks_the_informative_features_first(synthetic_data, rf_run, rf_explanation):
    assert evaluate(rf_run).accuracy.min() > 0.85
    importance = np.abs(rf_explanation.by_method["tree_shap"].values).mean(axis=1)  # (model, feature)
    informative = list(synthetic_data.informative)
    noise = [f for f in range(synthetic_data.n_features) if f not in informative]
    assert (importance[:, informative].min(axis=1) > importance[:, noise].max(axis=1)).all()


# --- common random numbers and reproducibility -----------------------------------------------------

def test_identical_forests_get_identical_attributions_from_every_method(synthetic_data):
    run = train(synthetic_data, RunConfig(family="random_forest", n_models=3, vary=frozenset(),
                                          sklearn=SklearnConfig(n_estimators=10, max_depth=4)))
    assert len(set(run.fingerprints)) == 1
    ex = explain(run, evaluate(run).rows, ExplainConfig(methods=methods_for("random_forest"), max_rows=5,
                                                        background_size=5, kernel_samples=300, lime_samples=500))
    assert set(ex.methods) == {"kernel_shap", "tree_shap", "lime"}
    for name, attr in ex.by_method.items():
        for m in range(1, run.n_models):
            assert np.array_equal(attr.values[m], attr.values[0]), name


def test_explaining_an_mlp_run_twice_gives_bit_identical_attributions(syn_run, syn_rows, syn_explanation):
    again = explain(syn_run, syn_rows, SYN_CONFIG)
    assert np.array_equal(again.rows, syn_explanation.rows)
    for name in MLP_METHODS:
        first, second = syn_explanation.by_method[name], again.by_method[name]
        assert np.array_equal(first.values, second.values), name
        assert (first.halves is None) == (second.halves is None) and first.samples == second.samples
        if first.halves is not None:
            assert np.array_equal(first.halves, second.halves), name


def test_explaining_on_one_thread_gives_the_attributions_shared_out_work_gives(monkeypatch, syn_run, syn_rows,
                                                                            syn_explanation):
    from core import runtime

    monkeypatch.setattr(runtime, "WORKERS", 1)
    alone = explain(syn_run, syn_rows, SYN_CONFIG)
    for name in MLP_METHODS:
        assert np.array_equal(alone.by_method[name].values, syn_explanation.by_method[name].values), name
        if alone.by_method[name].halves is not None:
            assert np.array_equal(alone.by_method[name].halves, syn_explanation.by_method[name].halves), name


def test_a_large_bank_computes_group_by_group_what_each_group_computes_alone(iris):
    """Past _GROUP models the work is shared out a group of models at a time, each group's passes writing
    into its thread's buffers: every model must get the numbers its group alone gives it."""
    from core.training import models

    run = train(iris, RunConfig(n_models=models._GROUP + 2, mlp=MLPConfig(hidden=(8,), dropout=0.0, epochs=2)))
    rows = evaluate(run).rows[:6]
    ctx = context(run, rows, background_size=5, kernel_samples=None)
    masks = (np.random.default_rng(0).random((40, iris.n_features)) < 0.5).astype(float)
    bank = run.bank
    for group in (range(models._GROUP), range(models._GROUP, models._GROUP + 2)):
        alone, part = bank.subset(list(group)), slice(group.start, group.stop)
        assert np.array_equal(bank.predict_proba(ctx.X)[part], alone.predict_proba(ctx.X))
        assert np.array_equal(bank.target_proba(ctx.X, ctx.target)[part], alone.target_proba(ctx.X, ctx.target))
        assert np.array_equal(bank.coalition_proba(masks, ctx.X, ctx.background, ctx.weights, ctx.target)[part],
                              alone.coalition_proba(masks, ctx.X, ctx.background, ctx.weights, ctx.target))


def test_explaining_a_forest_run_twice_gives_bit_identical_attributions(rf_run):
    config = ExplainConfig(methods=("tree_shap", "kernel_shap", "lime"), max_rows=5, background_size=5,
                           kernel_samples=300, lime_samples=500)
    first, second = (explain(rf_run, evaluate(rf_run).rows, config) for _ in range(2))
    for name, attr in first.by_method.items():
        assert np.array_equal(attr.values, second.by_method[name].values), name
        if attr.halves is not None:
            assert np.array_equal(attr.halves, second.by_method[name].halves), name


# --- noise floor -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
def test_sampling_methods_keep_their_values_and_take_two_independent_halves_from_the_same_run(method, syn_run,
                                                                                              syn_rows):
    rows = syn_rows[:6]
    config = ExplainConfig(methods=(method,), max_rows=6, background_size=5, kernel_samples=200, lime_samples=400,
                           precision="fixed")
    attr = explain(syn_run, rows, config).by_method[method]
    assert METHODS[method].stochastic
    assert attr.halves.shape == (2, *attr.values.shape) and attr.samples == (200 if method == "kernel_shap" else 400)
    # The values are the method's own on all its samples, as without the halves (shap's and lime's, exactly).
    ctx = replace(context(syn_run, rows, background_size=5, kernel_samples=200), config=config)
    assert np.array_equal(attr.values, METHODS[method].fn(syn_run.bank, ctx, block_seed(config, method, 0)))
    assert np.array_equal(attr.values, explain(syn_run, rows, replace(config, noise_floor=False)).by_method[method].values)
    assert not np.array_equal(attr.halves[0], attr.halves[1])  # other samples
    for half in attr.halves:  # two estimates of the same values, each noisier than both together
        assert np.corrcoef(half.ravel(), attr.values.ravel())[0, 1] > 0.8


def test_lime_halves_of_runs_side_by_side_equal_each_run_alone(monkeypatch, iris_run):
    from core.explainers import shap_lime

    # Passes of two rows when 3 models x 3 classes set their size: each run, computed beside the other,
    # must not depend on how the rows were cut.
    monkeypatch.setattr(shap_lime, "_LIME_NUMBERS", 400 * 9 * 2)
    rows = evaluate(iris_run).rows[:7]
    config = ExplainConfig(methods=("lime",), max_rows=7, lime_samples=400, precision="fixed")
    ctx = replace(context(iris_run, rows, background_size=20, kernel_samples=None), config=config)
    seeds = [block_seed(config, "lime", b) for b in (0, 1)]
    both = shap_lime.lime_halved(iris_run.bank, ctx, seeds)
    for i, seed in enumerate(seeds):
        assert np.array_equal(both[i], shap_lime.lime_halved(iris_run.bank, ctx, [seed])[0])
    assert np.array_equal(both[0, 0], shap_lime.lime_values(iris_run.bank, ctx, seeds[0]))
    # Half A is the same ridge on the row and its next 199 samples: for the first row, the samples a run of
    # 200 draws (later rows' neighbourhoods start elsewhere in the generator's stream).
    shorter = shap_lime._lime([(iris_run.bank, seeds[0])], replace(ctx, samples=200))[0][0]
    np.testing.assert_allclose(both[0, 1][:, 0], shorter[:, 0], rtol=1e-10, atol=1e-13)
    assert not np.allclose(both[0, 1], both[0, 2])  # the two halves: other samples


def test_kernel_shap_explains_each_group_of_rows_on_coalitions_of_its_own(syn_run, syn_rows):
    """Rows in groups of their own draws (what the verdict's interval needs): a group's values are those of
    the group explained alone, and rows of one group share coalitions whatever else is explained."""
    from core.agree.verdict import row_groups

    rows = syn_rows[:16]
    ctx = context(syn_run, rows, background_size=5, kernel_samples=60)
    groups = row_groups(len(rows))
    assert len(np.unique(groups)) == 8
    values = kernel_shap_values(syn_run.bank, ctx, 7)
    second = groups == 1
    alone = kernel_shap_values(syn_run.bank, replace(ctx, X=ctx.X[second], target=ctx.target[second],
                                                     groups=groups[second]), 7)
    assert np.array_equal(values[:, second], alone)
    one_group = kernel_shap_values(syn_run.bank, replace(ctx, groups=np.zeros(len(rows), dtype=int)), 7)
    assert np.allclose(one_group[:, groups == 0], values[:, groups == 0], rtol=0, atol=1e-6)  # float32 passes cut otherwise
    assert not np.allclose(one_group[:, second], values[:, second])  # other coalitions


INCONCLUSIVE = RunConfig(n_models=6, vary=frozenset({"split"}), seed=1, mlp=MLPConfig(hidden=(8,), epochs=5))
# On breast_cancer, undecided at 100 LIME samples per row, where the explainer's noise outweighs the models'
# spread; decided ("same") at 200.
INCONCLUSIVE_LIME = ExplainConfig(methods=("lime",), max_rows=16, lime_samples=100)


@pytest.fixture(scope="module")
def undecided_run():
    return train(load_builtin("breast_cancer"), INCONCLUSIVE)


def test_precision_auto_doubles_an_undecided_explainer_reusing_what_it_drew_up_to_the_cap(monkeypatch, undecided_run):
    from core.explainers import methods

    run, rows = undecided_run, evaluate(undecided_run).rows
    fixed = explain(run, rows, replace(INCONCLUSIVE_LIME, precision="fixed")).by_method["lime"]
    assert not like_with_like(fixed.values, fixed.halves, metric="feature_agreement", k=5).decided
    seen = []
    auto = explain(run, rows, INCONCLUSIVE_LIME, progress=lambda f, m: seen.append(m)).by_method["lime"]
    assert fixed.samples == 100 and auto.samples == 200
    assert list(dict.fromkeys(m for m in seen if "inconclusive" in m)) == [
        "LIME: the test is inconclusive at 100 samples per row; drawing 200"]  # reported as the draws go on
    assert like_with_like(auto.values, auto.halves, metric="feature_agreement", k=5).decided
    # The first run is the fixed explanation's; the doubling joins a second, on a seed of its own.
    basis = explain_basis(run, rows, INCONCLUSIVE_LIME)
    joined = with_blocks(fixed, blocks_on(run, basis, INCONCLUSIVE_LIME, "lime", range(1, 2)), 100)
    assert np.array_equal(joined.halves, auto.halves) and np.array_equal(joined.values, auto.values)
    monkeypatch.setattr(methods, "MAX_DOUBLINGS", 0)  # the cap: no doubling at all
    assert explain(run, rows, INCONCLUSIVE_LIME).by_method["lime"].samples == 100


def test_precision_auto_leaves_a_decided_test_alone(synthetic_data):
    identical = train(synthetic_data, RunConfig(n_models=3, vary=frozenset(), mlp=TINY_MLP))  # decided: "same"
    config = ExplainConfig(methods=("kernel_shap", "lime"), max_rows=8, kernel_samples=100, lime_samples=200)
    ex = explain(identical, evaluate(identical).rows, config)
    assert ex.by_method["kernel_shap"].samples == 100 and ex.by_method["lime"].samples == 200


def test_a_what_if_row_left_unedited_gets_back_its_kernel_shap_values_pooled_over_runs(undecided_run):
    from core.agree.verdict import row_groups

    run = undecided_run
    config = ExplainConfig(methods=("kernel_shap",), max_rows=6, kernel_samples=64, precision="fixed")
    rows = evaluate(run).rows
    basis = explain_basis(run, rows, config)
    once = explain(run, rows, config).by_method["kernel_shap"]
    twice = with_blocks(once, blocks_on(run, basis, config, "kernel_shap", range(1, 2)), 64)  # as refine joins them
    for attr in (once, twice):
        for position in (0, 4):
            row = int(basis.rows[position])
            again = attribute_row(run, run.dataset.X[row], row=row, target=int(basis.target[position]),
                                  method="kernel_shap", config=config, samples=attr.samples,
                                  group=int(row_groups(len(basis.rows))[position]))
            np.testing.assert_allclose(again, attr.values[:, position], rtol=0, atol=1e-6)
    assert not np.allclose(once.values, twice.values)


def test_kernel_shap_runs_pool_into_one_regression_on_all_their_coalitions(syn_run, syn_rows):
    """Adding two runs' normal equations (Normal) is the regression shap would solve on both runs'
    coalitions at once, each run's kernel weights summing to 1 as shap leaves them."""
    from core.explainers.shap_lime import _SeededKernelExplainer, _constrained_wls, _wls_pieces, _wls_solve

    rows = syn_rows[:4]
    ctx = context(syn_run, rows, background_size=5, kernel_samples=60)
    n_features, runs = ctx.X.shape[1], []
    for seed in (3, 4):
        def value(masks):
            proba = syn_run.bank.coalition_proba(masks, ctx.X, ctx.background, ctx.weights, ctx.target)
            return proba.transpose(1, 2, 0).reshape(len(masks), -1)
        explainer = _SeededKernelExplainer(value, np.zeros((1, n_features)), seed=seed)
        explainer.shap_values(np.ones((1, n_features)), nsamples=60, l1_reg=False, silent=True)
        used = explainer.nsamplesAdded
        runs.append((explainer.maskMatrix[:used], explainer.kernelWeights[:used], np.asarray(explainer.ey[:used]),
                     np.asarray(explainer.fnull), np.asarray(explainer.fx)))
    assert not np.array_equal(runs[0][0], runs[1][0])  # other coalitions
    pooled = _wls_solve(*[a + b if i < 2 else a for i, (a, b) in
                          enumerate(zip(_wls_pieces(*runs[0]), _wls_pieces(*runs[1])))])
    at_once = _constrained_wls(*[np.concatenate([a, b]) for a, b in zip(runs[0][:3], runs[1][:3])], *runs[0][3:])
    np.testing.assert_allclose(pooled, at_once, rtol=0, atol=1e-12)


def test_kernel_shap_halves_agree_exactly_when_every_coalition_is_enumerated(iris_run):
    """Iris has 4 features, 14 coalitions: shap enumerates them all, so the halves carry no sampling noise."""
    attr = explain(iris_run, evaluate(iris_run).rows, ExplainConfig(methods=("kernel_shap",), max_rows=5,
                                                                    background_size=5, kernel_samples=100)).by_method["kernel_shap"]
    assert np.allclose(attr.halves[0], attr.halves[1], atol=1e-12)


def test_deterministic_methods_have_no_halves(syn_explanation, rf_explanation):
    deterministic = {**syn_explanation.by_method, **rf_explanation.by_method}
    deterministic = {n: a for n, a in deterministic.items() if not METHODS[n].stochastic}
    assert set(deterministic) == {"deep_shap", "gradient", "gradient_x_input", "integrated_gradients", "tree_shap"}
    assert all(a.halves is None and a.samples is None for a in deterministic.values())


def test_noise_floor_off_explains_once_on_the_whole_budget(iris_run):
    config = ExplainConfig(methods=("kernel_shap",), max_rows=3, background_size=3, kernel_samples=100,
                           noise_floor=False)
    rows = evaluate(iris_run).rows
    attr = explain(iris_run, rows, config).by_method["kernel_shap"]
    assert attr.halves is None and attr.samples == 100
    ctx = replace(context(iris_run, attr.rows, background_size=3, kernel_samples=100), config=config)
    assert np.array_equal(attr.values, METHODS["kernel_shap"].fn(iris_run.bank, ctx, block_seed(config, "kernel_shap", 0)))


# --- shapes, rows, target classes, skipped methods -------------------------------------------------

def test_attributions_are_model_row_feature_on_at_most_max_rows_common_test_rows(syn_run, syn_rows,
                                                                                 syn_explanation):
    ex = syn_explanation
    assert len(syn_rows) > SYN_CONFIG.max_rows  # the cap really applies
    assert len(ex.rows) == SYN_CONFIG.max_rows
    assert np.isin(ex.rows, syn_rows).all()
    assert np.array_equal(ex.rows, np.sort(np.unique(ex.rows)))  # distinct, in dataset order
    assert ex.methods == MLP_METHODS and ex.skipped == ()
    for attr in ex.by_method.values():
        assert attr.values.shape == (syn_run.n_models, len(ex.rows), syn_run.dataset.n_features)
        assert np.array_equal(attr.rows, ex.rows)
        assert np.array_equal(attr.target_class, ex.target_class)
        assert np.isfinite(attr.values).all()
    assert (ex.target_class == 1).all()  # binary: the positive class


def test_fewer_rows_than_max_rows_are_all_explained(iris_run):
    rows = evaluate(iris_run).rows[:4]
    ex = explain(iris_run, rows, ExplainConfig(methods=("gradient",), max_rows=10, background_size=3))
    assert np.array_equal(ex.rows, rows)


def test_multiclass_target_is_the_class_most_models_predict(iris_run):
    rows = evaluate(iris_run).rows
    ex = explain(iris_run, rows, ExplainConfig(methods=("gradient",), max_rows=30, background_size=3))
    votes = iris_run.predict_proba(iris_run.dataset.X[ex.rows]).argmax(axis=-1)  # (model, row)
    counts = np.stack([(votes == c).sum(axis=0) for c in range(3)], axis=-1)  # (row, class)
    assert (counts[np.arange(len(ex.rows)), ex.target_class] == counts.max(axis=-1)).all()
    assert len(np.unique(ex.target_class)) > 1  # iris test rows span several classes


def test_explicit_target_class_is_honoured(iris_run):
    rows = evaluate(iris_run).rows
    ex = explain(iris_run, rows, ExplainConfig(methods=("gradient",), max_rows=5, background_size=3,
                                               target_class=2))
    assert (ex.target_class == 2).all()
    assert (ex.by_method["gradient"].target_class == 2).all()


@pytest.mark.parametrize("target_class", [-1, 3])
def test_target_class_outside_the_classes_raises(iris_run, target_class):
    with pytest.raises(ConfigError, match="Target class"):
        explain(iris_run, evaluate(iris_run).rows, ExplainConfig(methods=("gradient",), max_rows=3,
                                                                 background_size=3, target_class=target_class))


def test_method_the_family_lacks_is_skipped(iris_run):
    ex = explain(iris_run, evaluate(iris_run).rows, ExplainConfig(methods=("gradient", "tree_shap"), max_rows=3,
                                                                  background_size=3))
    assert ex.methods == ("gradient",)
    assert ex.skipped == ("tree_shap",)


def test_only_unsupported_methods_raise(rf_run):
    with pytest.raises(ConfigError, match="random_forest"):
        explain(rf_run, evaluate(rf_run).rows, ExplainConfig(methods=("gradient", "deep_shap"), max_rows=3))


def test_as_images_turns_digits_attributions_into_8_by_8_pictures():
    digits = load_builtin("digits")
    run = train(digits, RunConfig(n_models=2, mlp=MLPConfig(hidden=(16,), dropout=0.0, epochs=2)))
    attr = explain(run, evaluate(run).rows, ExplainConfig(methods=("gradient",), max_rows=5,
                                                          background_size=5)).by_method["gradient"]
    pictures = as_images(attr.values, digits.image_shape)
    assert pictures.shape == (2, 5, 8, 8)
    # Pixel (r, c) is feature 8 * r + c, the order of load_digits' flattened images.
    assert pictures[1, 3, 2, 5] == attr.values[1, 3, 8 * 2 + 5]
    np.testing.assert_array_equal(pictures[0, 0], attr.values[0, 0].reshape(8, 8))


def breast_cancer_subset(n_features: int = 6):
    """breast_cancer's first n_features columns: few enough to enumerate every coalition."""
    from sklearn.datasets import load_breast_cancer

    from core.training.data import from_frame

    frame = load_breast_cancer(as_frame=True).frame
    return from_frame(frame[[*frame.columns[:n_features], "target"]], "target", name="breast_cancer_6")


def tree_run_and_context(data, family):
    run = train(data, RunConfig(family=family, n_models=2, vary={"init", "split"}, sklearn=SklearnConfig(n_estimators=15)))
    ex = explain(run, evaluate(run).rows, ExplainConfig(methods=("tree_shap",), max_rows=25))
    ctx = context(run, ex.rows, background_size=ExplainConfig().background_size, kernel_samples=None)
    background = ctx.expanded_background  # what TreeSHAP is given: over 100 rows on breast_cancer
    uniform = replace(ctx, background=background, weights=np.full(len(background), 1 / len(background)))
    return run, ex.by_method["tree_shap"].values, uniform


def efficiency_gap(run, values, ctx) -> np.ndarray:
    """|sum of attributions - (f(x) - E[f])| per (model, row), E over the context's background."""
    proba = run.bank.predict_proba(ctx.X)[:, np.arange(len(ctx.X)), ctx.target]
    expected = run.bank.predict_proba(ctx.background)[:, :, ctx.target].mean(axis=1)
    return np.abs(values.sum(axis=-1) - (proba - expected))


@pytest.mark.parametrize("dataset", ["iris", "breast_cancer_6"])
def test_forest_tree_shap_equals_brute_force_enumeration_on_the_whole_background(dataset, iris):
    run, values, ctx = tree_run_and_context(iris if dataset == "iris" else breast_cancer_subset(), "random_forest")
    np.testing.assert_allclose(values, brute_force_shapley(run.bank, ctx), rtol=0, atol=1e-6)
    assert efficiency_gap(run, values, ctx).max() < 1e-6


def test_boosting_tree_shap_adds_up_to_the_probability_over_the_whole_background():
    # shap explains boosting's log-odds exactly and maps each background row's values onto the
    # probability, which keeps efficiency exact (the per-feature split is not the probability's own
    # Shapley value: that has no exact tree algorithm).
    run, values, ctx = tree_run_and_context(breast_cancer_subset(), "gradient_boosting")
    assert efficiency_gap(run, values, ctx).max() < 1e-6


def test_tree_shap_is_not_offered_for_multiclass_gradient_boosting():
    from core.explainers.registry import default_methods

    assert "tree_shap" in methods_for("gradient_boosting", 2)
    assert "tree_shap" not in methods_for("gradient_boosting", 3)
    assert "tree_shap" not in default_methods("gradient_boosting", 3)
    assert "tree_shap" in default_methods("random_forest", 3)


def test_tree_shap_gives_zero_to_a_class_a_bootstrapped_forest_never_saw():
    import pandas as pd

    from core.training.data import from_frame

    gen = np.random.default_rng(0)
    frame = pd.DataFrame({"x": gen.normal(size=60), "z": gen.normal(size=60),
                          "label": ["a"] * 29 + ["b"] * 29 + ["c"] * 2})
    ds = from_frame(frame, "label")
    run = train(ds, RunConfig(family="random_forest", n_models=8, vary={"init", "bootstrap"},
                              sklearn=SklearnConfig(n_estimators=5)))
    ex = explain(run, evaluate(run).rows, ExplainConfig(methods=("tree_shap",), target_class=2, max_rows=5))
    values = ex.by_method["tree_shap"].values
    lacking = [m for m, pipe in enumerate(run.bank.pipelines) if 2 not in pipe[-1].classes_]
    assert 0 < len(lacking) < run.n_models  # this seed gives both kinds of forest
    assert (values[lacking] == 0).all()
    assert np.isfinite(values).all() and (values != 0).any()


def test_kernel_shap_for_scikit_learn_models_never_makes_empty_chunks(monkeypatch, iris):
    monkeypatch.setattr(importlib.import_module("core.training.models"), "_SKLEARN_POINTS", 3)  # under one coalition's points
    run = train(iris, RunConfig(family="logistic_regression", n_models=2, vary={"split"}))
    ex = explain(run, evaluate(run).rows, ExplainConfig(methods=("kernel_shap",), max_rows=4, background_size=3,
                                                         kernel_samples=20, noise_floor=False))
    assert np.isfinite(ex.by_method["kernel_shap"].values).all()
