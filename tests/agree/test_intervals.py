"""Seed budget: intervals over models, checked where the truth is known."""
import numpy as np
import pytest

from core.agree.intervals import agreement_interval, ambiguity_interval, seed_budget
from core.errors import ConfigError


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def pair_matrix(values: np.ndarray, n: int) -> np.ndarray:
    matrix = np.ones((n, n))
    first, second = np.triu_indices(n, k=1)
    matrix[first, second] = matrix[second, first] = values
    return matrix


def test_identical_models_agree_completely_with_an_interval_of_width_zero():
    budget = seed_budget(np.ones((6, 6)), np.full(6, 0.9), np.zeros((6, 20), dtype=int), rng=rng(0))
    assert (budget.agreement.estimate, budget.agreement.lo, budget.agreement.hi) == (1.0, 1.0, 1.0)
    agreement = budget.curve[budget.curve.quantity == "agreement"]
    assert (agreement[["estimate", "lo", "hi"]] == 1.0).all().all()
    assert (budget.curve[budget.curve.quantity == "accuracy_std"]["hi"] == 0).all()
    assert budget.settled_at == 2 and budget.models_for(0.02) is None


def test_interval_covers_the_true_mean_of_pair_agreements_drawn_from_a_known_distribution():
    n = 30
    matrix = pair_matrix(rng(1).beta(6, 2, size=n * (n - 1) // 2), n)  # true mean 0.75
    interval = agreement_interval(matrix, rng=rng(2))
    assert interval.lo < 0.75 < interval.hi
    assert interval.estimate == pytest.approx(0.75, abs=0.02)
    assert interval.half_width < 0.05


def test_more_models_give_a_narrower_interval_and_the_planner_asks_for_more_to_narrow_it():
    values = rng(3).beta(6, 2, size=40 * 39 // 2)
    wide = agreement_interval(pair_matrix(values[:45], 10), rng=rng(4))
    narrow = agreement_interval(pair_matrix(values, 40), rng=rng(4))
    assert narrow.half_width < wide.half_width
    budget = seed_budget(pair_matrix(values[:45], 10), rng(5).uniform(0.9, 0.95, 10),
                         rng(6).integers(0, 2, (10, 50)), rng=rng(7))
    assert budget.models_for(budget.agreement.half_width / 2) == pytest.approx(40, abs=1)
    assert budget.models_for(budget.agreement.half_width * 2) < 10


def test_ambiguity_interval_contains_its_estimate():
    predictions = rng(8).integers(0, 2, size=(8, 400)) * (rng(9).random((8, 400)) < 0.05)
    interval = ambiguity_interval(predictions, rng=rng(10))
    assert interval.lo <= interval.estimate <= interval.hi
    assert interval.estimate == pytest.approx((predictions != predictions[:1]).any(axis=0).mean())


def test_one_model_has_no_seed_budget():
    with pytest.raises(ConfigError, match="two models"):
        seed_budget(np.ones((1, 1)), np.ones(1), np.zeros((1, 3), dtype=int), rng=rng(0))
