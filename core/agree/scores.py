"""Per-model scores and predictive multiplicity.

Scores come from scikit-learn wherever it has the metric; this module adds only
what scikit-learn lacks: expected calibration error (Guo et al. 2017) and the
predictive-multiplicity measures of Marx, Calmon & Ustun (2020).

Models may have different test rows (when the train/test split varies with the
seed), so scoring takes one array per model. Multiplicity compares predictions
row by row, so it needs the rows every model was tested on; `common_rows` finds
them.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    roc_auc_score,
)

from ..errors import ConfigError
from .topk import DELTA_FRACTION, RMSE_TOLERANCE  # noqa: F401  (light: Setup reads them)

SCORES: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "log_loss", "ece")
REGRESSION_SCORES: tuple[str, ...] = ("rmse", "mae", "r2")


def score_regressor(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² of one regressor (scikit-learn's definitions; R² is 1 - SSE / SST of y_true)."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    return {"rmse": float(np.sqrt(mean_squared_error(y_true, predicted))),
            "mae": float(mean_absolute_error(y_true, predicted)),
            "r2": float(r2_score(y_true, predicted))}


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, *, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence.

    Guo, Pleiss, Sun & Weinberger 2017, "On Calibration of Modern Neural
    Networks" (eq. 3), after Naeini, Cooper & Hauskrecht 2015. Confidences
    are grouped into `n_bins` equal-width bins over [0, 1], each bin right-closed
    (lo, hi] as in Guo et al. (a confidence of exactly 0 goes to the first bin);
    ECE = sum over bins of (bin size / n) * |accuracy in bin - mean confidence in bin|.

    y_true: (row,) integer class labels.
    proba:  (row, class) predicted probabilities.
    """
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(float)
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    # side="left" counts edges strictly below the confidence, giving right-closed bins
    # that agree exactly with the linspace edges (no floating-point rounding of conf * n_bins).
    bin_of_row = np.searchsorted(inner_edges, confidence, side="left")
    gap_per_bin = np.abs(
        np.bincount(bin_of_row, weights=correct, minlength=n_bins)
        - np.bincount(bin_of_row, weights=confidence, minlength=n_bins)
    )
    # sum over bins of (n_b / n) * |acc_b - conf_b| = sum over bins of |sum correct - sum conf| / n
    return float(gap_per_bin.sum() / len(y_true))


def _roc_auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    # ROC AUC is undefined for a class with no positive (or no negative) test row;
    # with small test sets that happens, and a NaN in the table says so better than an error.
    n_classes = proba.shape[1]
    if len(np.unique(y_true)) < n_classes:
        return float("nan")
    if n_classes == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    return float(roc_auc_score(y_true, proba, multi_class="ovr", labels=np.arange(n_classes)))


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # Small test sets often lack a class that a model still predicts; scikit-learn then
    # averages recall over the classes in y_true, which is what we want, and warns each time.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def score_model(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Every score in SCORES for one model.

    y_true: (row,) integer class labels in 0..class-1.
    proba:  (row, class) predicted probabilities; the prediction is the argmax.

    roc_auc is one-vs-rest macro-averaged for more than two classes, and NaN
    when some class is absent from y_true. macro_f1 averages over the classes
    present in y_true or the predictions (scikit-learn's default), counting a
    class never predicted as F1 0. balanced_accuracy averages recall over the
    classes present in y_true.
    """
    y_pred = proba.argmax(axis=1)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0.0)),
        "roc_auc": _roc_auc(y_true, proba),
        "log_loss": float(log_loss(y_true, proba, labels=np.arange(proba.shape[1]))),
        "ece": expected_calibration_error(y_true, proba),
    }


@dataclass(frozen=True)
class Scores:
    """Scores of M models that differ only in seed.

    per_model: index `model` 0..M-1; one column per name in SCORES, then any
               extra columns (e.g. "fingerprint").
    summary:   index mean, std, min, max; one column per name in SCORES.
               std uses ddof=1 (the sample standard deviation across seeds,
               since the M models are a sample of all possible seeds) when
               M > 1, and ddof=0 (so 0, not NaN) when M == 1. NaN scores
               (roc_auc with an absent class) are skipped.
    """

    per_model: pd.DataFrame
    summary: pd.DataFrame


def score_models(
    y_true_per_model: list[np.ndarray],
    proba_per_model: list[np.ndarray],
    *,
    n_classes: int,
    fingerprints: list[str] | None = None,
    regression: bool = False,
) -> Scores:
    """Score each of M models on its own test rows.

    y_true_per_model: M arrays, each (row,) integer labels (or values, for regression); row counts
                      may differ between models.
    proba_per_model:  M arrays, each (row, class) with class == n_classes (regression: (row, 1) values).
    fingerprints:     optional M strings, added as a "fingerprint" column of per_model.
    Classification scores are SCORES, regression ones REGRESSION_SCORES.
    """
    assert all(p.shape[1] == n_classes for p in proba_per_model), "proba must have n_classes columns"
    names, score = (REGRESSION_SCORES, lambda y, p: score_regressor(y, p[:, 0])) if regression else (SCORES, score_model)
    # One scikit-learn call per model and metric: test sets may differ in size, so they can't be stacked.
    per_model = pd.DataFrame(
        [score(y, p) for y, p in zip(y_true_per_model, proba_per_model, strict=True)],
        columns=list(names),
    )
    per_model.index.name = "model"
    if fingerprints is not None:
        per_model["fingerprint"] = list(fingerprints)
    metrics = per_model[list(names)]
    ddof = 1 if len(metrics) > 1 else 0
    summary = pd.DataFrame(
        {"mean": metrics.mean(), "std": metrics.std(ddof=ddof), "min": metrics.min(), "max": metrics.max()}
    ).T
    return Scores(per_model=per_model, summary=summary)


def common_rows(test_idx_per_model: list[np.ndarray]) -> np.ndarray:
    """Sorted dataset row ids present in every model's test set.

    test_idx_per_model: M arrays, each (row,) integer dataset row ids.
    Returns (row,) sorted unique row ids.
    """
    return functools.reduce(np.intersect1d, test_idx_per_model, np.unique(test_idx_per_model[0]))


def departs(predictions: np.ndarray, reference: np.ndarray, delta: float | None = None) -> np.ndarray:
    """Where predictions differ from reference (broadcast): another class, or, for regression
    (delta given), a value more than delta away."""
    return predictions != reference if delta is None else np.abs(predictions - reference) > delta


def disagreement_matrix(predictions: np.ndarray, delta: float | None = None) -> np.ndarray:
    """Pairwise disagreement: entry (i, j) is the fraction of rows on which models i and j predict differently.

    Marx, Calmon & Ustun 2020, "Predictive Multiplicity in Classification".
    predictions: (model, row) integer predicted classes; with delta, regression values that differ
    when further apart than delta.
    Returns (model, model), symmetric, zero on the diagonal.
    """
    n_models, n_rows = predictions.shape
    if delta is not None:
        out = np.empty((n_models, n_models))
        for i in range(n_models):  # a (model, row) comparison per model: memory stays at model x row
            out[i] = departs(predictions, predictions[i], delta).mean(axis=1)
        return out
    agree = np.zeros((n_models, n_models))
    # One (model, row) @ (row, model) product per class instead of a (model, model, row)
    # comparison, so memory stays at model x row however many models there are.
    for c in np.unique(predictions):
        is_c = (predictions == c).astype(float)
        agree += is_c @ is_c.T
    return 1.0 - agree / n_rows


def _differs_from_reference(predictions: np.ndarray, reference: int, delta: float | None = None) -> np.ndarray:
    # (model, row): True where the model's prediction differs from the reference model's.
    return departs(predictions, predictions[reference], delta)


def ambiguity(predictions: np.ndarray, *, reference: int = 0, delta: float | None = None) -> float:
    """Fraction of rows on which at least one model disagrees with the reference model.

    Marx, Calmon & Ustun 2020, Definition 3, with the M seeds standing in for
    the Rashomon set and model `reference` for the baseline model.
    predictions: (model, row) integer predicted classes (regression: values, differing beyond delta).
    """
    return float(_differs_from_reference(predictions, reference, delta).any(axis=0).mean())


def discrepancy(predictions: np.ndarray, *, reference: int = 0, delta: float | None = None) -> float:
    """Largest fraction of rows on which a single model disagrees with the reference model.

    Marx, Calmon & Ustun 2020, Definition 4, with the M seeds standing in for
    the Rashomon set and model `reference` for the baseline model.
    predictions: (model, row) integer predicted classes (regression: values, differing beyond delta).
    """
    return float(_differs_from_reference(predictions, reference, delta).mean(axis=1).max())


@dataclass(frozen=True)
class Multiplicity:
    """Predictive multiplicity of M models (Marx, Calmon & Ustun 2020), model 0 as the reference."""

    disagreement: np.ndarray  # (model, model) fraction of rows predicted differently
    ambiguity: float
    discrepancy: float
    n_rows: int  # test rows the measures were computed on
    common_rows_only: bool  # True when the split varies and only rows shared by all models were used
    delta: float | None = None  # regression: how far apart two predictions must be to differ, in target units

    @property
    def note(self) -> str:
        """One plain-English sentence saying which rows the measures were computed on."""
        rows = f"{self.n_rows} test row" + ("" if self.n_rows == 1 else "s")
        within = ("" if self.delta is None else
                  f" Two predictions differ when they are more than {self.delta:.3g} apart, in the target's units.")
        if self.common_rows_only:
            return (
                f"Computed on the {rows} shared by all models, "
                "because the train/test split varies across models." + within
            )
        return f"Computed on all {rows}." + within


def multiplicity(predictions: np.ndarray, *, common_rows_only: bool, delta: float | None = None) -> Multiplicity:
    """Disagreement matrix, ambiguity and discrepancy of M models, model 0 as the reference.

    predictions: (model, row) integer predicted classes on rows every model was tested on
                 (see `common_rows`).
    common_rows_only: whether those rows are only the ones shared by all models
                      (the split varies); recorded for `Multiplicity.note`.
    """
    n_rows = predictions.shape[1]
    if n_rows == 0:
        raise ConfigError(
            f"No test row is shared by all {predictions.shape[0]} models, so their predictions "
            "cannot be compared; keep the split fixed, use fewer models or a larger test fraction."
        )
    return Multiplicity(
        disagreement=disagreement_matrix(predictions, delta),
        ambiguity=ambiguity(predictions, delta=delta),
        discrepancy=discrepancy(predictions, delta=delta),
        n_rows=n_rows,
        common_rows_only=common_rows_only,
        delta=delta,
    )


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A run scored on its test rows.

    Each model is scored on its own test rows; predictions, proba and correct are
    restricted to `rows`, the dataset row ids in every model's test set.
    predictions, correct: (model, row); proba: (model, row, class).
    Regression: predictions are values in the target's units, proba (model, row, 1) the same, and
    correct says that a prediction lies within delta of the truth.
    """

    scores: Scores
    multiplicity: Multiplicity
    rows: np.ndarray
    proba: np.ndarray
    predictions: np.ndarray
    correct: np.ndarray
    delta: float | None = None  # regression only: see Multiplicity.delta

    @property
    def regression(self) -> bool:
        return self.delta is not None

    @property
    def accuracy(self) -> np.ndarray:
        """(model,) test accuracy of each model on its own test rows (regression: RMSE, lower is better)."""
        return self.scores.per_model["rmse" if self.regression else "accuracy"].to_numpy()

    @property
    def quality_name(self) -> str:
        """What `accuracy` holds: "accuracy", or "RMSE" for regression."""
        return "RMSE" if self.regression else "accuracy"

    @property
    def prediction_range(self) -> np.ndarray:
        """Regression: (row,) max - min of the models' predictions (the viable prediction range of
        Watson-Daniels et al. 2022, over these models)."""
        return self.predictions.max(axis=0) - self.predictions.min(axis=0)


def default_delta(run) -> float:
    """DELTA_FRACTION of the target's standard deviation on model 0's training rows, in target units."""
    return DELTA_FRACTION * float(np.std(run.dataset.y[run.train_rows[0]]))


def evaluate(run, *, delta: float | None = None) -> Evaluation:
    """Score every model of a `core.training.fit.Run` and measure its predictive multiplicity.
    delta: regression's tolerance in target units (None: default_delta); ignored for classification."""
    ds = run.dataset
    tested = np.unique(run.test_rows)  # every row some model is tested on
    proba_tested = run.predict_proba(ds.X[tested])  # (model, tested row, class), one batched pass
    models = range(run.n_models)
    scores = score_models(
        [ds.y[run.test_rows[m]] for m in models],
        [proba_tested[m, np.searchsorted(tested, run.test_rows[m])] for m in models],
        n_classes=ds.n_classes, fingerprints=list(run.fingerprints), regression=ds.regression,
    )
    rows = common_rows(list(run.test_rows))
    split_varies = "split" in run.config.vary
    proba = proba_tested[:, np.searchsorted(tested, rows)]
    if ds.regression:
        delta = default_delta(run) if delta is None else float(delta)
        if not delta > 0:
            raise ConfigError(f"The tolerance must be positive, in the target's units; got {delta}.")
        predictions = proba[..., 0]
        correct = np.abs(predictions - ds.y[rows][None, :]) <= delta
    else:
        delta, predictions = None, proba.argmax(axis=-1)
        correct = predictions == ds.y[rows][None, :]
    return Evaluation(
        scores=scores, multiplicity=multiplicity(predictions, common_rows_only=split_varies, delta=delta),
        rows=rows, proba=proba, predictions=predictions, correct=correct, delta=delta,
    )
