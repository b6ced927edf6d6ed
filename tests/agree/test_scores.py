"""Metrics against small examples worked out by hand (the arithmetic is in the comments)."""
import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core.errors import ConfigError
from core.agree.scores import (
    SCORES,
    Multiplicity,
    ambiguity,
    common_rows,
    disagreement_matrix,
    discrepancy,
    expected_calibration_error,
    multiplicity,
    score_model,
    score_models,
)

# Binary example: 5 rows, positive-class probabilities 0.1, 0.6, 0.8, 0.4, 0.9.
BINARY_Y = np.array([0, 0, 1, 1, 1])
BINARY_P1 = np.array([0.1, 0.6, 0.8, 0.4, 0.9])
BINARY_PROBA = np.column_stack([1 - BINARY_P1, BINARY_P1])

# Three models, five rows.
PREDICTIONS = np.array(
    [
        [0, 1, 1, 0, 2],  # model 0
        [0, 1, 0, 0, 2],  # model 1: differs from model 0 on row 2
        [1, 1, 0, 0, 1],  # model 2: differs from model 0 on rows 0, 2, 4; from model 1 on rows 0, 4
    ]
)


def test_score_model_matches_hand_computed_binary_scores():
    scores = score_model(BINARY_Y, BINARY_PROBA)
    # predictions = [0, 1, 1, 0, 1]; correct on rows 0, 2, 4 -> 3/5
    assert scores["accuracy"] == pytest.approx(3 / 5)
    # recall class 0 = 1/2, recall class 1 = 2/3 -> (1/2 + 2/3) / 2 = 7/12
    assert scores["balanced_accuracy"] == pytest.approx(7 / 12)
    # class 0: tp 1, fp 1, fn 1 -> F1 1/2; class 1: tp 2, fp 1, fn 1 -> F1 2/3; mean 7/12
    assert scores["macro_f1"] == pytest.approx(7 / 12)
    # positives {0.8, 0.4, 0.9} vs negatives {0.1, 0.6}: 5 of 6 pairs ranked right (0.4 < 0.6)
    assert scores["roc_auc"] == pytest.approx(5 / 6)
    # probability of the true class: 0.9, 0.4, 0.8, 0.4, 0.9
    expected_log_loss = -(2 * math.log(0.9) + 2 * math.log(0.4) + math.log(0.8)) / 5
    assert scores["log_loss"] == pytest.approx(expected_log_loss)
    # confidences 0.9, 0.6, 0.8, 0.6, 0.9 (correct, wrong, correct, wrong, correct) in 15 bins:
    # {0.9, 0.9}: |2 - 1.8| = 0.2; {0.6, 0.6}: |0 - 1.2| = 1.2; {0.8}: |1 - 0.8| = 0.2 -> 1.6 / 5
    assert scores["ece"] == pytest.approx(0.32)
    assert list(scores) == list(SCORES)


def test_ece_matches_hand_computed_three_class_example():
    y = np.array([0, 1, 1, 2, 2])
    proba = np.array(
        [
            [0.5, 0.3, 0.2],  # conf 0.5, correct -> bin (0.25, 0.5]
            [0.4, 0.35, 0.25],  # conf 0.4, wrong  -> bin (0.25, 0.5]
            [0.1, 0.7, 0.2],  # conf 0.7, correct -> bin (0.5, 0.75]
            [0.05, 0.9, 0.05],  # conf 0.9, wrong  -> bin (0.75, 1]
            [0.2, 0.0, 0.8],  # conf 0.8, correct -> bin (0.75, 1]
        ]
    )
    # (2/5)|1/2 - 0.45| + (1/5)|1 - 0.7| + (2/5)|1/2 - 0.85| = 0.02 + 0.06 + 0.14
    assert expected_calibration_error(y, proba, n_bins=4) == pytest.approx(0.22)


def test_ece_bins_are_right_closed():
    # Confidence 0.5 (correct) lies in (0, 0.5], confidence 0.6 (wrong) in (0.5, 1]:
    # (1/2)|1 - 0.5| + (1/2)|0 - 0.6| = 0.55. Were they in one bin it would be |1 - 1.1| / 2 = 0.05.
    y = np.array([0, 1])
    proba = np.array([[0.5, 0.5], [0.6, 0.4]])
    assert expected_calibration_error(y, proba, n_bins=2) == pytest.approx(0.55)


def test_ece_is_zero_when_confidence_equals_accuracy():
    # Both rows predict class 0 with confidence 0.5; one of the two is right.
    y = np.array([0, 1])
    proba = np.array([[0.5, 0.5], [0.5, 0.5]])
    assert expected_calibration_error(y, proba) == pytest.approx(0.0)


MULTI_Y = np.array([0, 1, 2, 0, 1, 2])
MULTI_PROBA = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.3, 0.4, 0.3],
        [0.2, 0.5, 0.3],
        [0.3, 0.3, 0.4],
        [0.1, 0.8, 0.1],
        [0.1, 0.1, 0.8],
    ]
)


def test_multiclass_roc_auc_equals_sklearn_one_vs_rest():
    # One vs rest, 2 positives x 4 negatives = 8 pairs per class:
    # class 0: positives {0.7, 0.3} vs {0.3, 0.2, 0.1, 0.1}: 4 + (0.5 + 1 + 1 + 1) = 7.5 -> 7.5/8
    # class 1: positives {0.4, 0.8} vs {0.2, 0.5, 0.3, 0.1}: 3 + 4 = 7 -> 7/8
    # class 2: positives {0.3, 0.8} vs {0.1, 0.3, 0.4, 0.1}: (1 + 0.5 + 0 + 1) + 4 = 6.5 -> 6.5/8
    # macro mean = (7.5 + 7 + 6.5) / 24 = 21/24
    auc = score_model(MULTI_Y, MULTI_PROBA)["roc_auc"]
    assert auc == pytest.approx(21 / 24)
    assert auc == pytest.approx(roc_auc_score(MULTI_Y, MULTI_PROBA, multi_class="ovr", labels=[0, 1, 2]))


@pytest.mark.parametrize(
    ("y", "proba"),
    [
        (np.array([1, 1, 1]), np.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])),
        (np.array([0, 1, 0, 1]), MULTI_PROBA[:4]),
    ],
    ids=["binary", "multiclass"],
)
def test_roc_auc_is_nan_without_warning_when_a_class_is_absent(y, proba):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = score_model(y, proba)
    assert math.isnan(scores["roc_auc"])
    assert not math.isnan(scores["log_loss"])


def test_log_loss_counts_classes_absent_from_y_true():
    # labels=all classes lets log_loss score rows whose y_true lacks class 2:
    # true-class probabilities 0.7, 0.4 -> -(log 0.7 + log 0.4) / 2
    scores = score_model(np.array([0, 1]), MULTI_PROBA[:2])
    assert scores["log_loss"] == pytest.approx(-(math.log(0.7) + math.log(0.4)) / 2)


def _one_hot_proba(predicted: list[int]) -> np.ndarray:
    # 0.9 on the predicted class of each row, 0.1 on the other (binary).
    predicted = np.array(predicted)
    return np.column_stack([np.where(predicted == 0, 0.9, 0.1), np.where(predicted == 1, 0.9, 0.1)])


def test_score_models_summary_uses_sample_std_across_models():
    # Accuracies 1, 1/2, 0; model 2 has four test rows (the split varies).
    ys = [np.array([0, 1]), np.array([0, 1]), np.array([0, 1, 0, 1])]
    probas = [_one_hot_proba([0, 1]), _one_hot_proba([0, 0]), _one_hot_proba([1, 0, 1, 0])]
    scores = score_models(ys, probas, n_classes=2, fingerprints=["a1", "b2", "c3"])

    assert scores.per_model.index.tolist() == [0, 1, 2]
    assert scores.per_model["accuracy"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert scores.per_model["fingerprint"].tolist() == ["a1", "b2", "c3"]
    assert scores.summary.index.tolist() == ["mean", "std", "min", "max"]
    assert scores.summary.columns.tolist() == list(SCORES)
    # mean 1/2; std with ddof=1: sqrt((0.25 + 0 + 0.25) / 2) = 1/2
    assert scores.summary["accuracy"].tolist() == pytest.approx([0.5, 0.5, 0.0, 1.0])
    # every row's true-class probability is 0.9 or 0.1; model 0: -log 0.9, model 2: -log 0.1
    assert scores.summary.loc["min", "log_loss"] == pytest.approx(-math.log(0.9))
    assert scores.summary.loc["max", "log_loss"] == pytest.approx(-math.log(0.1))


def test_score_models_with_one_model_has_zero_std():
    scores = score_models([BINARY_Y], [BINARY_PROBA], n_classes=2)
    assert "fingerprint" not in scores.per_model.columns
    assert scores.summary.loc["std"].tolist() == pytest.approx([0.0] * len(SCORES))
    assert scores.summary.loc["mean", "accuracy"] == pytest.approx(3 / 5)


def test_summary_skips_nan_roc_auc():
    # Model 1's test rows hold only class 1, so its ROC AUC is NaN; the mean is model 0's 5/6.
    ys = [BINARY_Y, np.array([1, 1])]
    probas = [BINARY_PROBA, _one_hot_proba([1, 0])]
    scores = score_models(ys, probas, n_classes=2)
    assert math.isnan(scores.per_model.loc[1, "roc_auc"])
    assert scores.summary.loc["mean", "roc_auc"] == pytest.approx(5 / 6)


def test_disagreement_matrix_counts_rows_predicted_differently():
    # model 0 vs 1: row 2 -> 1/5; model 0 vs 2: rows 0, 2, 4 -> 3/5; model 1 vs 2: rows 0, 4 -> 2/5
    expected = np.array(
        [
            [0.0, 0.2, 0.6],
            [0.2, 0.0, 0.4],
            [0.6, 0.4, 0.0],
        ]
    )
    np.testing.assert_allclose(disagreement_matrix(PREDICTIONS), expected)


def test_ambiguity_counts_rows_where_any_model_leaves_the_reference():
    # Some model differs from model 0 on rows 0, 2, 4 -> 3/5.
    assert ambiguity(PREDICTIONS) == pytest.approx(3 / 5)
    # From model 1: model 0 differs on row 2, model 2 on rows 0, 4 -> rows 0, 2, 4 -> 3/5.
    assert ambiguity(PREDICTIONS, reference=1) == pytest.approx(3 / 5)


def test_discrepancy_is_the_largest_single_model_disagreement_with_the_reference():
    # From model 0: model 1 differs on 1/5 rows, model 2 on 3/5 -> 3/5.
    assert discrepancy(PREDICTIONS) == pytest.approx(3 / 5)
    # From model 1: model 0 differs on 1/5, model 2 on 2/5 -> 2/5.
    assert discrepancy(PREDICTIONS, reference=1) == pytest.approx(2 / 5)


def test_identical_models_have_no_multiplicity():
    same = np.tile(PREDICTIONS[0], (4, 1))
    result = multiplicity(same, common_rows_only=False)
    np.testing.assert_array_equal(result.disagreement, np.zeros((4, 4)))
    assert result.ambiguity == 0.0
    assert result.discrepancy == 0.0


def test_multiplicity_bundles_the_three_measures():
    result = multiplicity(PREDICTIONS, common_rows_only=True)
    np.testing.assert_allclose(result.disagreement, disagreement_matrix(PREDICTIONS))
    assert result.ambiguity == pytest.approx(3 / 5)
    assert result.discrepancy == pytest.approx(3 / 5)
    assert result.n_rows == 5
    assert result.common_rows_only


def test_note_says_rows_are_shared_when_the_split_varies():
    result = Multiplicity(np.zeros((2, 2)), 0.0, 0.0, n_rows=37, common_rows_only=True)
    assert result.note == (
        "Computed on the 37 test rows shared by all models, "
        "because the train/test split varies across models."
    )


def test_note_says_all_rows_when_the_split_is_fixed():
    result = Multiplicity(np.zeros((2, 2)), 0.0, 0.0, n_rows=143, common_rows_only=False)
    assert result.note == "Computed on all 143 test rows."
    single = Multiplicity(np.zeros((2, 2)), 0.0, 0.0, n_rows=1, common_rows_only=False)
    assert single.note == "Computed on all 1 test row."


def test_multiplicity_without_shared_rows_raises_config_error_with_advice():
    with pytest.raises(ConfigError, match="No test row is shared by all 3 models"):
        multiplicity(np.zeros((3, 0), dtype=int), common_rows_only=True)


def test_common_rows_are_sorted_ids_in_every_test_set():
    # {5, 1, 3, 9} & {3, 5, 7} & {9, 5, 3, 2} = {3, 5}
    tests = [np.array([5, 1, 3, 9]), np.array([3, 5, 7]), np.array([9, 5, 3, 2])]
    np.testing.assert_array_equal(common_rows(tests), [3, 5])


def test_common_rows_of_one_model_are_its_sorted_unique_rows():
    np.testing.assert_array_equal(common_rows([np.array([4, 2, 2])]), [2, 4])


def test_common_rows_can_be_empty():
    assert common_rows([np.array([0, 1]), np.array([2, 3])]).size == 0
