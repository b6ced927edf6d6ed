import numpy as np
import pandas as pd
import pytest

from core.agree.agreement import (
    METRICS,
    _simulated_null,
    accuracy_difference_ci,
    contested_rows,
    feature_agreement,
    global_importance,
    importance_ranks,
    model_pairs,
    null_baseline,
    pairwise_rank_agreement,
    rank_agreement,
    rank_correlation,
    rank_distribution,
    same_prediction_divergent_rows,
    sign_flips,
    variance_share,
)
from core.errors import ConfigError
from core.agree.pairs import agreement_matrix, method_matrices, pair_summary


def _rng(seed: int) -> np.random.Generator:
    # A seeded numpy stream is all these tests need; core.seeding would also import torch (~1 s).
    return np.random.Generator(np.random.PCG64(seed))


# |a| = [3, 2, 1, 0.5]     -> order f0, f1, f2, f3; signs + - + +
# |b| = [3.5, 1, 0.1, 2]   -> order f0, f3, f1, f2; signs - - + -
A = np.array([[3.0, -2.0, 1.0, 0.5]])
B = np.array([[-3.5, -1.0, 0.1, -2.0]])

# k=3: top a = [f0, f1, f2], top b = [f0, f3, f1]
#   shared {f0, f1}                        -> feature agreement 2/3
#   same feature at position: only pos 0   -> rank agreement 1/3
#   shared with same sign: f1 (f0 flips)   -> sign agreement 1/3
#   pos 0 holds f0 in both, but signs flip -> signed rank agreement 0
# k=2: top a = [f0, f1], top b = [f0, f3]
#   shared {f0}: 1/2; pos 0 matches: 1/2; f0 flips sign: 0; 0
# Spearman on ranks of |a| = [4, 3, 2, 1], |b| = [4, 2, 1, 3]: d = [0, 1, 1, -2],
#   rho = 1 - 6 * 6 / (4 * 15) = 0.4
# Pairs (i<j) ordered by |a|: all "i > j". By |b|: (0,1) (0,2) (0,3) (1,2) agree,
#   (1,3) and (2,3) flip -> 4/6
HAND_EXPECTED = {
    ("feature_agreement", 3): 2 / 3,
    ("rank_agreement", 3): 1 / 3,
    ("sign_agreement", 3): 1 / 3,
    ("signed_rank_agreement", 3): 0.0,
    ("feature_agreement", 2): 1 / 2,
    ("rank_agreement", 2): 1 / 2,
    ("sign_agreement", 2): 0.0,
    ("signed_rank_agreement", 2): 0.0,
    ("rank_correlation", 2): 0.4,
    ("pairwise_rank_agreement", 2): 4 / 6,
}


@pytest.mark.parametrize(("metric", "k"), list(HAND_EXPECTED))
def test_metric_matches_hand_computed_example(metric, k):
    assert METRICS[metric].fn(A, B, k=k) == pytest.approx([HAND_EXPECTED[(metric, k)]])


# |a| = [1, 1, 0.5, 0]: f0 and f1 tie, the lower index wins -> order f0, f1, f2, f3
# |b| = [0.5, 1, 1, 0]: f1 and f2 tie                       -> order f1, f2, f0, f3
TIED_A = np.array([[1.0, -1.0, 0.5, 0.0]])
TIED_B = np.array([[0.5, 1.0, -1.0, 0.0]])
# k=2: top a = [f0, f1], top b = [f1, f2]
#   shared {f1}: 1/2; no position matches: 0; f1 flips sign (- vs +): 0; 0
# Average ranks: |a| -> [3.5, 3.5, 2, 1], |b| -> [2, 3.5, 3.5, 1]; centred
#   [1, 1, -0.5, -1.5] and [-0.5, 1, 1, -1.5]; rho = 2.25 / 4.5 = 0.5
# Pairs: (0,1) tie vs less: no; (0,2) greater vs less: no; (0,3) yes;
#   (1,2) greater vs tie: no; (1,3) yes; (2,3) yes -> 3/6
TIED_EXPECTED = {
    "feature_agreement": 1 / 2,
    "rank_agreement": 0.0,
    "sign_agreement": 0.0,
    "signed_rank_agreement": 0.0,
    "rank_correlation": 0.5,
    "pairwise_rank_agreement": 0.5,
}


@pytest.mark.parametrize("metric", list(TIED_EXPECTED))
def test_ties_break_by_lower_feature_index_and_average_in_spearman(metric):
    assert METRICS[metric].fn(TIED_A, TIED_B, k=2) == pytest.approx([TIED_EXPECTED[metric]])


def test_metrics_score_each_row_separately():
    a = np.concatenate([A, TIED_A])
    b = np.concatenate([B, TIED_B])
    assert feature_agreement(a, b, k=2) == pytest.approx([1 / 2, 1 / 2])
    assert rank_agreement(a, b, k=2) == pytest.approx([1 / 2, 0.0])
    assert rank_correlation(a, b, k=2) == pytest.approx([0.4, 0.5])


@pytest.mark.parametrize("metric", list(METRICS))
def test_identical_inputs_agree_fully(metric):
    values = _rng(0).standard_normal((5, 6))
    values[0] = 1.0  # a row with every |attribution| tied
    assert METRICS[metric].fn(values, values, k=3) == pytest.approx(np.ones(5))


@pytest.mark.parametrize("metric", list(METRICS))
def test_k_larger_than_the_number_of_features_raises_config_error(metric):
    with pytest.raises(ConfigError, match=r"k=5 is larger than the number of features \(4\); pick k between 1 and 4"):
        METRICS[metric].fn(A, B, k=5)


def test_k_of_zero_raises_config_error():
    with pytest.raises(ConfigError, match="pick k between 1 and 4"):
        feature_agreement(A, B, k=0)


def test_rank_correlation_with_one_constant_side_is_zero_and_with_both_is_one():
    constant = np.array([[1.0, -1.0, 1.0]])
    varied = np.array([[3.0, 2.0, 1.0]])
    assert rank_correlation(constant, varied, k=1) == pytest.approx([0.0])
    assert rank_correlation(varied, constant, k=1) == pytest.approx([0.0])
    assert rank_correlation(constant, 2 * constant, k=1) == pytest.approx([1.0])


def test_reversed_ranking_has_correlation_minus_one_and_no_agreeing_pairs():
    a = np.array([[4.0, 3.0, 2.0, 1.0]])
    b = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert rank_correlation(a, b, k=1) == pytest.approx([-1.0])
    assert pairwise_rank_agreement(a, b, k=1) == pytest.approx([0.0])


def test_unknown_metric_name_raises_config_error_listing_the_choices():
    with pytest.raises(ConfigError, match="feature_agreement"):
        agreement_matrix(np.ones((2, 3, 4)), metric="kendall", k=2)


@pytest.mark.parametrize("metric", list(METRICS))
def test_agreement_matrix_is_symmetric_with_ones_on_the_diagonal(metric):
    values = _rng(1).standard_normal((4, 10, 6))
    matrix = agreement_matrix(values, metric=metric, k=3)
    assert matrix.shape == (4, 4)
    assert matrix == pytest.approx(matrix.T)
    assert np.diag(matrix) == pytest.approx(np.ones(4))
    assert matrix[1, 3] == pytest.approx(METRICS[metric].fn(values[1], values[3], k=3).mean())


def test_method_matrices_compare_methods_model_by_model():
    frames = method_matrices({"shap": np.stack([A, A]), "lime": np.stack([B, A])}, metric="feature_agreement", k=3)
    assert frames.shape == (2, 2, 2)  # (model, method, method)
    assert frames[0, 0, 1] == frames[0, 1, 0] == pytest.approx(2 / 3)
    assert frames[1, 0, 1] == 1.0  # model 1: both methods gave A


@pytest.mark.parametrize("metric", list(METRICS))
@pytest.mark.parametrize("n_features, k", [(6, 2), (5, 5), (1, 1)])
def test_all_pairs_at_once_equal_each_pair_scored_on_its_own_exactly(metric, n_features, k):
    values = _rng(15).standard_normal((5, 9, n_features))
    values[:, :3] = np.round(values[:, :3])  # ties and zeros: the cases an encoding could get wrong
    values[1, 4], values[3, 5] = values[2, 4], 0.0  # an identical row and an all-zero row
    from core.agree.pairs import _scores
    scores = _scores(values, metric, k)  # (row, model, model)
    for a, b in zip(*np.triu_indices(5, k=1)):
        np.testing.assert_array_equal(scores[:, a, b], METRICS[metric].fn(values[a], values[b], k=k))
    matrix, per_row = pair_summary(values, metric=metric, k=k)
    pairs = np.stack([METRICS[metric].fn(values[a], values[b], k=k) for a, b in zip(*np.triu_indices(5, k=1))])
    np.testing.assert_allclose(per_row, pairs.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(matrix[np.triu_indices(5, k=1)], pairs.mean(axis=1), rtol=0, atol=1e-12)


def test_global_importance_and_ranks_follow_mean_absolute_attribution():
    # model 0: mean |a| = [2, 1, 2] (f0 and f2 tie: f0 first); model 1: [0.5, 3, 1]
    values = np.array(
        [
            [[2.0, -1.0, 1.0], [-2.0, 1.0, -3.0]],
            [[0.5, 3.0, -1.0], [-0.5, -3.0, 1.0]],
        ]
    )
    assert global_importance(values) == pytest.approx(np.array([[2.0, 1.0, 2.0], [0.5, 3.0, 1.0]]))
    np.testing.assert_array_equal(importance_ranks(values), [[1, 3, 2], [3, 1, 2]])
    long = rank_distribution(values, ["age", "income", "debt"])
    assert long.shape == (6, 3)
    assert long.set_index(["model", "feature"]).loc[(1, "income"), "rank"] == 1


def test_null_baselines_have_the_closed_forms():
    rng = _rng(2)
    assert null_baseline(10, metric="feature_agreement", k=3, rng=rng) == pytest.approx(0.3)
    assert null_baseline(10, metric="rank_agreement", k=3, rng=rng) == pytest.approx(0.1)
    assert null_baseline(10, metric="sign_agreement", k=3, rng=rng) == pytest.approx(0.15)
    assert null_baseline(10, metric="signed_rank_agreement", k=3, rng=rng) == pytest.approx(0.05)
    assert null_baseline(10, metric="rank_correlation", k=3, rng=rng) == 0.0
    assert null_baseline(10, metric="pairwise_rank_agreement", k=3, rng=rng) == 0.5


@pytest.mark.parametrize("metric", list(METRICS))
@pytest.mark.parametrize(("n_features", "k"), [(6, 3), (1, 1)])
def test_exact_null_baseline_matches_simulation(metric, n_features, k):
    exact = null_baseline(n_features, metric=metric, k=k, rng=_rng(3))
    simulated = _simulated_null(n_features, metric=metric, k=k, rng=_rng(4), n_samples=4000)
    assert exact == pytest.approx(simulated, abs=0.02)


def test_null_baseline_rejects_k_above_the_number_of_features():
    with pytest.raises(ConfigError, match="pick k between 1 and 5"):
        null_baseline(5, metric="feature_agreement", k=6, rng=_rng(5))


def test_model_pairs_flags_close_pairs_and_sorts_least_agreeing_first():
    accuracy = np.array([0.80, 0.81, 0.95, 0.805])
    agreement = np.array(
        [
            [1.0, 0.7, 0.1, 0.9],
            [0.7, 1.0, 0.2, 0.6],
            [0.1, 0.2, 1.0, 0.3],
            [0.9, 0.6, 0.3, 1.0],
        ]
    )
    pairs = model_pairs(accuracy, agreement, tolerance=0.01)
    assert len(pairs) == 6 and list(pairs.agreement) == [0.1, 0.2, 0.3, 0.6, 0.7, 0.9]
    equal = pairs[pairs.equal_accuracy]
    # (0, 1) has a gap of exactly the tolerance and stays; model 2 is far from all.
    assert list(zip(equal.model_a, equal.model_b)) == [(1, 3), (0, 1), (0, 3)]
    assert equal.accuracy_gap.to_numpy() == pytest.approx([0.005, 0.01, 0.005])
    assert list(pairs.columns) == ["model_a", "model_b", "accuracy_a", "accuracy_b", "accuracy_gap", "agreement",
                                   "equal_accuracy"]


def test_accuracy_ci_contains_the_true_difference_and_excludes_zero():
    # model 0 is right on 80% of 1000 rows, model 1 on the same rows minus 100: difference 0.1
    correct = np.zeros((2, 1000), dtype=bool)
    correct[0, :800] = True
    correct[1, :700] = True
    lo, hi = accuracy_difference_ci(correct, rng=_rng(6), n_boot=500)
    assert lo.shape == hi.shape == (2, 2)
    assert lo[0, 1] < 0.1 < hi[0, 1]
    assert lo[0, 1] > 0  # paired rows make a 0.1 gap on 1000 rows clear
    assert lo[1, 0] == pytest.approx(-hi[0, 1])


def test_accuracy_ci_is_zero_for_identical_models():
    correct = _rng(7).random((1, 300)) < 0.7
    lo, hi = accuracy_difference_ci(np.repeat(correct, 2, axis=0), rng=_rng(8), n_boot=200)
    assert lo[0, 1] == 0.0 and hi[0, 1] == 0.0


def test_accuracy_ci_matches_resampling_rows_one_by_one():
    # Hand-rolled reference: draw row indices with replacement, score both models on them.
    correct = _rng(10).random((3, 400)) < [[0.9], [0.8], [0.85]]
    draws = _rng(11).integers(0, 400, size=(4000, 400))
    accuracy = correct[:, draws].mean(axis=-1)  # (model, boot)
    reference = np.quantile(accuracy[0] - accuracy[1], [0.025, 0.975])
    lo, hi = accuracy_difference_ci(correct, rng=_rng(12), n_boot=4000)
    assert [lo[0, 1], hi[0, 1]] == pytest.approx(reference, abs=0.01)


def test_accuracy_ci_memory_does_not_grow_with_the_test_rows():
    import tracemalloc

    correct = _rng(13).random((2, 50_000)) < 0.9  # drawing counts per row would hold 1000 x 50,000 numbers
    tracemalloc.start()
    accuracy_difference_ci(correct, rng=_rng(14))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2**20


def test_accuracy_ci_rejects_a_level_outside_zero_one():
    with pytest.raises(ConfigError, match="between 0 and 1"):
        accuracy_difference_ci(np.ones((2, 5), dtype=bool), rng=_rng(9), level=95)


# Three models, three rows, three features, k=1:
# row 0: every model's top feature is f0                    -> agreement 1
# row 1: tops f0, f1, f2                                     -> agreement 0
# row 2: tops f0, f0, f1 -> pairs (0,1) yes, (0,2) (1,2) no   -> agreement 1/3
ROW_VALUES = np.array(
    [
        [[5.0, 1.0, 0.0], [5.0, 1.0, 0.0], [5.0, 1.0, 0.0]],
        [[4.0, 1.0, 0.0], [1.0, 4.0, 0.0], [5.0, 1.0, 0.0]],
        [[3.0, 1.0, 0.0], [0.0, 1.0, 4.0], [1.0, 5.0, 0.0]],
    ]
)
ROW_PREDICTIONS = np.array([[0, 1, 2], [0, 1, 2], [0, 2, 1]])  # (model, row)


def row_agreement(values: np.ndarray) -> np.ndarray:
    return pair_summary(values, metric="feature_agreement", k=1)[1]


DATASET_ROWS = np.array([10, 20, 30])  # dataset row ids of the three rows


def test_contested_rows_sorts_rows_by_agreement_and_flags_prediction_flips():
    rows = contested_rows(row_agreement(ROW_VALUES), ROW_PREDICTIONS, DATASET_ROWS)
    assert list(rows.row) == [20, 30, 10]
    assert rows.agreement.to_numpy() == pytest.approx([0.0, 1 / 3, 1.0])
    assert list(rows.prediction_flips) == [True, True, False]
    assert list(rows.n_classes_predicted) == [2, 2, 1]
    assert list(rows.votes) == [((1, 2), (2, 1)), ((2, 2), (1, 1)), ((0, 3),)]  # most predicted class first


def test_same_prediction_divergent_rows_keeps_unanimous_rows_most_divergent_first():
    predictions = np.array([[0, 1, 2], [0, 1, 2], [0, 1, 1]])  # row 2 is split
    rows = same_prediction_divergent_rows(row_agreement(ROW_VALUES), predictions, DATASET_ROWS)
    assert list(rows.row) == [20, 10]
    assert list(rows.prediction) == [1, 0]
    assert rows.divergence.to_numpy() == pytest.approx([1.0, 0.0])


def test_sign_flips_marks_features_with_opposite_mean_signs_across_models():
    # mean over rows per (model, feature):
    #   model 0: [ 1,  2, 0,       1e-15]
    #   model 1: [-1,  3, 0,      -1e-15]
    # f0 flips; f1 does not; f2 is zero in both; f3 is rounding noise.
    values = np.array(
        [
            [[2.0, 2.0, 1.0, 1e-15], [0.0, 2.0, -1.0, 1e-15]],
            [[-2.0, 3.0, 0.0, -1e-15], [0.0, 3.0, 0.0, -1e-15]],
        ]
    )
    np.testing.assert_array_equal(sign_flips(values), [True, False, False, False])


def test_variance_share_splits_spread_across_sources():
    # init:  accuracy [0.80, 0.82] -> std 0.01; off-diagonal agreement 0.6 -> disagreement 0.4
    # order: accuracy all 0.80     -> std 0;    off-diagonal agreement 0.9 -> disagreement 0.1
    # shares: accuracy 0.01 / 0.01 = 1 and 0; disagreement 0.4 / 0.5 = 0.8 and 0.2
    spread = {
        "init": (np.array([0.80, 0.82]), np.array([[1.0, 0.6], [0.6, 1.0]])),
        "order": (np.full(3, 0.80), np.full((3, 3), 0.9) + 0.1 * np.eye(3)),
    }
    shares = variance_share(spread).set_index("source")
    assert shares.accuracy_std.to_numpy() == pytest.approx([0.01, 0.0])
    assert shares.disagreement.to_numpy() == pytest.approx([0.4, 0.1])
    assert shares.accuracy_share.to_numpy() == pytest.approx([1.0, 0.0])
    assert shares.disagreement_share.to_numpy() == pytest.approx([0.8, 0.2])


def test_variance_share_is_zero_where_no_source_moves_anything():
    spread = {"init": (np.full(2, 0.8), np.ones((2, 2))), "order": (np.full(2, 0.8), np.ones((2, 2)))}
    shares = variance_share(spread)
    assert isinstance(shares, pd.DataFrame)
    assert list(shares.accuracy_share) == [0.0, 0.0]
    assert list(shares.disagreement_share) == [0.0, 0.0]
