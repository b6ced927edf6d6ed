"""The like-with-like test (core.agree.verdict): its arithmetic on hand-worked matrices, and its verdicts on
real comparisons, which must not flip with the explainer's sample count."""
import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy import stats

import core
from core.agree.topk import HEADLINE_METRIC, default_k
from core.agree.verdict import MARGIN, ROW_GROUPS, like_with_like, row_groups, verdict
from core.agree.scores import evaluate
from core.explainers.methods import explain
from core.training.models import SklearnBank

T2 = stats.t.ppf(0.975, df=2)


# --- the arithmetic ---------------------------------------------------------------------------------

def test_difference_is_between_models_across_halves_minus_each_model_against_itself():
    cross = np.array([[0.8, 0.6, 0.6],
                      [0.6, 0.8, 0.6],
                      [0.6, 0.6, 0.8]])
    v = verdict(cross[None], np.array([10]))
    assert v.within == pytest.approx(0.8) and v.between == pytest.approx(0.6)
    assert v.difference.estimate == pytest.approx(-0.2)
    # Every model left out gives the same difference: no spread over models, one group of rows.
    assert v.difference.lo == pytest.approx(-0.2) and v.difference.hi == pytest.approx(-0.2)
    assert v.outcome == "differ"


def test_jackknife_over_models_matches_the_hand_worked_value():
    cross = np.array([[1.0, 0.5, 0.7],
                      [0.5, 0.9, 0.6],
                      [0.7, 0.6, 0.8]])
    v = verdict(cross[None], np.array([5]))
    d = (0.5 + 0.7 + 0.5 + 0.6 + 0.7 + 0.6) / 6 - (1.0 + 0.9 + 0.8) / 3
    # Leaving out model 0, 1, 2: the pair left, minus the two diagonal cells left.
    leave = np.array([0.6 - (0.9 + 0.8) / 2, 0.7 - (1.0 + 0.8) / 2, 0.5 - (1.0 + 0.9) / 2])
    se = np.sqrt(2 / 3 * np.sum((leave - leave.mean()) ** 2))
    assert v.difference.estimate == pytest.approx(d)
    assert v.difference.hi - v.difference.estimate == pytest.approx(T2 * se)


def test_groups_of_rows_add_their_jackknife_variance():
    """Two equal groups of rows with differences -0.1 and -0.3: the delete-a-group jackknife gives |a - b| / 2."""
    first = np.full((3, 3), 0.7) + np.eye(3) * 0.1   # D = -0.1
    second = np.full((3, 3), 0.5) + np.eye(3) * 0.3  # D = -0.3
    v = verdict(np.stack([first, second]), np.array([4, 4]))
    assert v.difference.estimate == pytest.approx(-0.2)
    t = stats.t.ppf(0.975, df=1)  # min(3 models, 2 groups) - 1
    assert v.difference.hi - v.difference.estimate == pytest.approx(t * 0.1)


def test_identical_models_are_no_detectable_difference_and_a_small_gap_is_not_a_difference():
    assert verdict(np.full((2, 4, 4), 0.7), np.array([3, 3])).outcome == "same"
    slight = np.full((4, 4), 0.7) + np.eye(4) * (MARGIN / 2)
    assert verdict(slight[None], np.array([10])).outcome == "same"


def test_an_interval_that_holds_the_margin_is_inconclusive():
    rng = np.random.default_rng(0)
    cross = 0.7 + rng.normal(0, 0.05, size=(4, 6, 6)) + np.eye(6) * MARGIN
    v = verdict(cross, np.array([2, 2, 2, 2]))
    assert v.difference.lo < -MARGIN <= v.difference.hi and v.outcome == "inconclusive"


def test_two_models_on_one_row_have_no_interval_and_only_identical_ones_are_decided():
    assert verdict(np.full((1, 2, 2), 0.6), np.array([1])).outcome == "same"
    v = verdict(np.array([[[0.9, 0.5], [0.5, 0.9]]]), np.array([1]))
    assert v.outcome == "inconclusive" and np.isnan(v.difference.lo)


def test_rows_fall_in_contiguous_groups_each_row_its_own_below_the_group_count():
    assert list(row_groups(16)) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]
    assert list(row_groups(3)) == [0, 1, 2]
    assert np.bincount(row_groups(143)).min() >= 143 // ROW_GROUPS


def test_a_deterministic_method_is_tested_against_complete_agreement():
    values = np.random.default_rng(1).normal(size=(3, 8, 6))
    same = like_with_like(np.repeat(values[:1], 3, axis=0), None, metric=HEADLINE_METRIC, k=2)
    assert same.outcome == "same" and same.within == 1.0 and same.samples is None
    apart = like_with_like(values, None, metric=HEADLINE_METRIC, k=2)
    assert apart.within == 1.0 and apart.difference.estimate < 0


# --- on real comparisons ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cancer_run():
    ds = core.load_builtin("breast_cancer")
    return core.train(ds, core.RunConfig(n_models=6, vary=frozenset({"init", "order"}),
                                         mlp=core.MLPConfig(hidden=(32,), epochs=40)))


def _kernel_verdict(run, samples: int, *, rows: int = 24, seed: int = 0):
    config = core.ExplainConfig(methods=("kernel_shap",), max_rows=rows, kernel_samples=samples, precision="fixed",
                                seed=seed)
    attr = explain(run, evaluate(run).rows, config).by_method["kernel_shap"]
    return like_with_like(attr.values, attr.halves, metric=HEADLINE_METRIC, k=default_k(run.dataset.n_features),
                          samples=attr.samples)


def test_breast_cancer_networks_differ_at_every_coalition_count(cancer_run):
    """The headline flipped with the sample count when it read a same-samples agreement against a
    noise floor made on other samples. Compared like with like, the verdict holds at every count."""
    verdicts = {n: _kernel_verdict(cancer_run, n) for n in (512, 4096, 16384)}
    assert {n: v.outcome for n, v in verdicts.items()} == {512: "differ", 4096: "differ", 16384: "differ"}
    assert all(v.within > v.between for v in verdicts.values())


def test_identical_models_show_no_detectable_difference_at_every_coalition_count():
    ds = core.load_builtin("breast_cancer")
    run = core.train(ds, core.RunConfig(n_models=4, vary=frozenset(), mlp=core.MLPConfig(hidden=(16,), epochs=10)))
    assert len(set(run.fingerprints)) == 1
    for n in (64, 512, 4096):
        v = _kernel_verdict(run, n, rows=16)
        assert v.outcome == "same" and abs(v.difference.estimate) < 1e-12, n


def _logistic_on_own_features(run, width: int = 3):
    """The run's logistic regressions, each rewired to weigh only `width` features of its own (model m:
    features m .. m + width - 1): models that truly rely on different features."""
    pipes = []
    for m, pipe in enumerate(run.bank.pipelines):
        pipe = copy.deepcopy(pipe)
        model = pipe[-1]
        coef = np.zeros_like(model.coef_)
        coef[:, m:m + width] = 2.0
        model.coef_, model.intercept_ = coef, np.zeros_like(model.intercept_)
        pipes.append(pipe)
    return replace(run, bank=SklearnBank(tuple(pipes), run.dataset.n_classes))


def test_models_that_use_different_features_differ_even_at_64_coalitions():
    ds = core.load_builtin("synthetic")
    run = _logistic_on_own_features(core.train(ds, core.RunConfig(family="logistic_regression", n_models=5,
                                                                  vary=frozenset({"bootstrap"}))))
    for n in (64, 512):
        v = _kernel_verdict(run, n, rows=24)
        assert v.outcome != "same", n
        assert v.outcome == "differ", (n, v)


def test_near_identical_models_are_never_called_different_across_explainer_seeds():
    """False positives: models of one logic (one network, copied with weights nudged by 1e-6) explained
    under 30 explainer seeds. "differ" is wrong at most 2.5% of the time by construction; here never."""
    ds = core.load_builtin("breast_cancer")
    base = core.train(ds, core.RunConfig(n_models=4, vary=frozenset(), mlp=core.MLPConfig(hidden=(16,), epochs=10)))
    module = base.bank.module
    generator = np.random.default_rng(0)
    with torch.no_grad():
        for tensor in [*module.weights, *module.biases]:
            tensor += torch.from_numpy(1e-6 * generator.standard_normal(tuple(tensor.shape)).astype(np.float32))
    outcomes = [_kernel_verdict(base, 256, rows=16, seed=s).outcome for s in range(30)]
    assert outcomes.count("differ") <= 1, outcomes


def test_two_models_count_one_degree_of_freedom_whatever_the_groups_of_rows():
    cross = np.stack([np.array([[0.9, 0.6], [0.6, 0.9]]), np.array([[0.8, 0.6], [0.6, 0.8]])] * 4)  # D: -0.3, -0.2
    v = verdict(cross, np.full(8, 2))
    leave = np.array([(8 * -0.25 - (-0.3 if g % 2 == 0 else -0.2)) / 7 for g in range(8)])  # D without group g
    se = np.sqrt(7 / 8 * np.sum((leave - leave.mean()) ** 2))
    assert v.difference.estimate == pytest.approx(-0.25)
    assert v.difference.hi - v.difference.estimate == pytest.approx(stats.t.ppf(0.975, df=1) * se)
