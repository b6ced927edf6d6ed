"""How much explanations of seed-varied models agree.

The six per-row metrics are those of Krishna et al. 2022, "The Disagreement
Problem in Explainable Machine Learning: A Practitioner's Perspective". Each
takes two attribution arrays `a`, `b` shaped (..., row, feature) and returns
one score per row, shaped (..., row); leading axes broadcast. A score is 1.0
for identical inputs and never nan. core.agree.pairs computes them for every pair of
models at once.

Conventions shared by all metrics:
- importance is |attribution|; rank 1 is the largest |attribution|;
- the top-k features are the k largest |attribution|, ties broken by the
  lower feature index (a stable argsort of -|a|), so top-k lists are always
  exactly k long;
- signs are compared with np.sign, so an attribution of exactly 0 agrees only
  with another 0;
- every metric takes k and raises ConfigError unless 1 <= k <= n_features,
  even the two (rank_correlation, pairwise_rank_agreement) that ignore it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..errors import ConfigError
from .topk import check_k


def _top_k(a: np.ndarray, k: int) -> np.ndarray:
    """Feature indices of the top k, most important first: (..., row, k)."""
    return np.argsort(-np.abs(a), axis=-1, kind="stable")[..., :k]


def _top_k_mask(a: np.ndarray, k: int) -> np.ndarray:
    """True on the top-k features: (..., row, feature) bool."""
    mask = np.zeros(a.shape, dtype=bool)
    np.put_along_axis(mask, _top_k(a, k), True, axis=-1)
    return mask


def feature_agreement(a: np.ndarray, b: np.ndarray, *, k: int) -> np.ndarray:
    """|topk(a) ∩ topk(b)| / k, per row: (..., row, feature) -> (..., row)."""
    check_k(k, a.shape[-1])
    return (_top_k_mask(a, k) & _top_k_mask(b, k)).sum(axis=-1) / k


def rank_agreement(a: np.ndarray, b: np.ndarray, *, k: int) -> np.ndarray:
    """Fraction of the k top positions holding the same feature in a and b: (..., row)."""
    check_k(k, a.shape[-1])
    return (_top_k(a, k) == _top_k(b, k)).mean(axis=-1)


def sign_agreement(a: np.ndarray, b: np.ndarray, *, k: int) -> np.ndarray:
    """|{f in topk(a) ∩ topk(b) : sign(a_f) == sign(b_f)}| / k, per row: (..., row)."""
    check_k(k, a.shape[-1])
    same_sign = np.sign(a) == np.sign(b)
    return (_top_k_mask(a, k) & _top_k_mask(b, k) & same_sign).sum(axis=-1) / k


def signed_rank_agreement(a: np.ndarray, b: np.ndarray, *, k: int) -> np.ndarray:
    """Fraction of the k top positions holding the same feature with the same sign: (..., row)."""
    check_k(k, a.shape[-1])
    top_a, top_b = _top_k(a, k), _top_k(b, k)
    sign_a = np.sign(np.take_along_axis(a, top_a, axis=-1))
    sign_b = np.sign(np.take_along_axis(b, top_b, axis=-1))
    return ((top_a == top_b) & (sign_a == sign_b)).mean(axis=-1)


def rank_correlation(a: np.ndarray, b: np.ndarray, *, k: int) -> np.ndarray:
    """Spearman correlation of |a| and |b| over all features, per row: (..., row).

    Tied values get their average rank. k is checked like every metric's but
    otherwise ignored. A row where every |attribution| is equal has no ranking
    to correlate: the score is 1.0 when both sides are constant (they agree
    that nothing stands out) and 0.0 when only one side is.
    """
    check_k(k, a.shape[-1])
    a, b = np.broadcast_arrays(a, b)
    rank_a = rankdata(np.abs(a), axis=-1)
    rank_b = rankdata(np.abs(b), axis=-1)
    rank_a -= rank_a.mean(axis=-1, keepdims=True)
    rank_b -= rank_b.mean(axis=-1, keepdims=True)
    constant_a = np.ptp(rank_a, axis=-1) == 0
    constant_b = np.ptp(rank_b, axis=-1) == 0
    denominator = np.sqrt((rank_a**2).sum(axis=-1) * (rank_b**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rank_a * rank_b).sum(axis=-1) / denominator
    rho = np.where(constant_a | constant_b, 0.0, np.clip(rho, -1.0, 1.0))
    return np.where(constant_a & constant_b, 1.0, rho)


def pairwise_rank_agreement(a: np.ndarray, b: np.ndarray, *, k: int) -> np.ndarray:
    """Fraction of feature pairs (i < j) ordered the same way by |a| and |b|: (..., row).

    All features are compared (the paper lets a user pick a feature set; all
    features needs no choice). A pair's order is one of greater, equal or
    less, so a tie agrees only with a tie. k is checked like every metric's
    but otherwise ignored. With a single feature there are no pairs and the
    score is 1.0. Memory grows with feature**2.
    """
    check_k(k, a.shape[-1])
    first, second = np.triu_indices(a.shape[-1], k=1)
    if first.size == 0:
        return np.ones(np.broadcast_shapes(a.shape, b.shape)[:-1])
    abs_a, abs_b = np.abs(a), np.abs(b)
    order_a = np.sign(abs_a[..., first] - abs_a[..., second])
    order_b = np.sign(abs_b[..., first] - abs_b[..., second])
    return (order_a == order_b).mean(axis=-1)


@dataclass(frozen=True)
class Metric:
    """An agreement metric: fn(a, b, *, k) -> per-row score in [-1, 1] or [0, 1]; label for people."""

    label: str
    fn: Callable[..., np.ndarray] = field(repr=False)


METRICS: dict[str, Metric] = {
    "feature_agreement": Metric("Feature agreement@k", feature_agreement),
    "rank_agreement": Metric("Rank agreement@k", rank_agreement),
    "sign_agreement": Metric("Sign agreement@k", sign_agreement),
    "signed_rank_agreement": Metric("Signed rank agreement@k", signed_rank_agreement),
    "rank_correlation": Metric("Rank correlation (Spearman)", rank_correlation),
    "pairwise_rank_agreement": Metric("Pairwise rank agreement", pairwise_rank_agreement),
}


def _metric(name: str) -> Metric:
    if name not in METRICS:
        raise ConfigError(f"Unknown agreement metric {name!r}; pick one of {', '.join(METRICS)}.")
    return METRICS[name]


def pair_matrix(pair_values: np.ndarray, n_models: int) -> np.ndarray:
    """(pair,) values in np.triu_indices order -> symmetric (model, model), 1.0 on the diagonal.

    Every metric scores identical inputs 1.0 (module docstring), so the diagonal is 1.
    """
    matrix = np.ones((n_models, n_models))
    first, second = np.triu_indices(n_models, k=1)
    matrix[first, second] = pair_values
    matrix[second, first] = pair_values
    return matrix


def mean_off_diagonal(matrix: np.ndarray) -> float:
    """Mean agreement over pairs of distinct models; nan for a single model."""
    n = len(matrix)
    return float((matrix.sum() - np.trace(matrix)) / (n * (n - 1))) if n > 1 else float("nan")


def global_importance(values: np.ndarray) -> np.ndarray:
    """Mean |attribution| over rows: (model, row, feature) -> (model, feature)."""
    return np.abs(values).mean(axis=1)


def importance_ranks(values: np.ndarray) -> np.ndarray:
    """Rank of each feature's global importance, 1 = most important: (model, feature) int.

    Ties go to the lower feature index, as in the top-k lists.
    """
    order = np.argsort(-global_importance(values), axis=-1, kind="stable")
    return np.argsort(order, axis=-1, kind="stable") + 1


def _exact_null(metric: str, n_features: int, k: int) -> float | None:
    """Closed-form expected agreement of two independent random attribution vectors.

    Random top-k sets share k**2/n features on average; a given position holds
    the same feature with probability 1/n; independent random signs match half
    the time; independent continuous rankings are uncorrelated and order a
    pair the same way half the time. With one feature, everything agrees.
    """
    n = n_features
    if n == 1 and metric in ("rank_correlation", "pairwise_rank_agreement"):
        return 1.0
    exact = {
        "feature_agreement": k / n,
        "rank_agreement": 1 / n,
        "sign_agreement": k / (2 * n),
        "signed_rank_agreement": 1 / (2 * n),
        "rank_correlation": 0.0,
        "pairwise_rank_agreement": 0.5,
    }
    return exact.get(metric)


def _simulated_null(
    n_features: int, *, metric: str, k: int, rng: np.random.Generator, n_samples: int
) -> float:
    """Mean agreement of `n_samples` pairs of independent standard-normal attribution vectors."""
    a = rng.standard_normal((n_samples, n_features))
    b = rng.standard_normal((n_samples, n_features))
    return float(_metric(metric).fn(a, b, k=k).mean())


def null_baseline(
    n_features: int, *, metric: str, k: int, rng: np.random.Generator, n_samples: int = 2000
) -> float:
    """Expected agreement of two independent, uniformly random attribution vectors.

    Random vectors have uniformly random rankings and random signs. Exact for
    the six built-in metrics; simulated with `rng` for any other registered one.
    """
    check_k(k, n_features)
    _metric(metric)
    exact = _exact_null(metric, n_features, k)
    if exact is not None:
        return exact
    return _simulated_null(n_features, metric=metric, k=k, rng=rng, n_samples=n_samples)


def model_pairs(accuracy: np.ndarray, agreement: np.ndarray, *, tolerance: float = 0.01) -> pd.DataFrame:
    """Every model pair (a < b), least agreeing first, flagged when their accuracies are equal.

    accuracy: (model,); agreement: (model, model). Columns: model_a, model_b, accuracy_a,
    accuracy_b, accuracy_gap (absolute), agreement, equal_accuracy (gap at most `tolerance`).
    """
    first, second = np.triu_indices(len(accuracy), k=1)
    gap = np.abs(accuracy[first] - accuracy[second])
    pairs = pd.DataFrame(
        {
            "model_a": first,
            "model_b": second,
            "accuracy_a": accuracy[first],
            "accuracy_b": accuracy[second],
            "accuracy_gap": gap,
            "agreement": agreement[first, second],
            # The slack keeps a gap of exactly `tolerance` (0.81 - 0.80) from failing on float rounding.
            "equal_accuracy": gap <= tolerance + 1e-12,
        }
    )
    return pairs.sort_values("agreement", kind="stable").reset_index(drop=True)


_BOOTSTRAP_CELLS = 1 << 22  # numbers held per bootstrap chunk (32 MB of float64), whatever the data's size


def rmse_difference_ci(squared_error: np.ndarray, *, rng: np.random.Generator, n_boot: int = 1000,
                       level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Paired-bootstrap confidence interval of RMSE_i - RMSE_j, as accuracy_difference_ci for regression.

    squared_error: (model, row), every model on the same rows. Each bootstrap resamples the rows once
    (counts per row) and computes every model's RMSE on that resample. Returns (lo, hi), each (model, model).
    """
    n_models, n_rows = squared_error.shape
    counts = rng.multinomial(n_rows, np.full(n_rows, 1 / n_rows), size=n_boot)  # (boot, row)
    rmse = np.sqrt(squared_error @ counts.T / n_rows)  # (model, boot)
    tail = (1 - level) / 2
    difference = rmse[:, None, :] - rmse[None, :, :]
    lo, hi = np.quantile(difference, [tail, 1 - tail], axis=-1)
    return lo, hi


def accuracy_difference_ci(
    correct: np.ndarray, *, rng: np.random.Generator, n_boot: int = 1000, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Paired-bootstrap confidence interval of accuracy_i - accuracy_j.

    correct: (model, row) bool, every model scored on the same rows. Each
    bootstrap resamples the rows once and scores all models on that resample,
    so the interval reflects the models' difference, not row luck. Returns
    (lo, hi), each (model, model); lo[i, j] = -hi[j, i].

    Rows with the same pattern of right and wrong across models are interchangeable, so a
    resample is drawn as counts per pattern (multinomial with the patterns' shares), which is
    the same distribution as counts per row at a cost that does not grow with the rows: a
    million test rows hold few patterns. Memory stays under _BOOTSTRAP_CELLS per chunk.
    """
    if not 0 < level < 1:
        raise ConfigError(f"level={level} is not a confidence level; pick a value between 0 and 1, e.g. 0.95.")
    n_models, n_rows = correct.shape
    patterns, counts = np.unique(correct.T, axis=0, return_counts=True)  # (pattern, model), (pattern,)
    per_chunk = max(1, _BOOTSTRAP_CELLS // len(patterns))
    accuracy = np.concatenate([  # (model, boot)
        patterns.T.astype(float) @ rng.multinomial(n_rows, counts / n_rows, size=min(per_chunk, n_boot - start)).T
        for start in range(0, n_boot, per_chunk)], axis=1) / n_rows
    tail = (1 - level) / 2
    lo, hi = np.empty((n_models, n_models)), np.empty((n_models, n_models))
    step = max(1, _BOOTSTRAP_CELLS // (n_models * n_boot))
    for start in range(0, n_models, step):  # (model chunk, model, boot) differences, a chunk at a time
        difference = accuracy[start:start + step, None, :] - accuracy[None, :, :]
        lo[start:start + step], hi[start:start + step] = np.quantile(difference, [tail, 1 - tail], axis=-1)
    return lo, hi


def _n_distinct(predictions: np.ndarray) -> np.ndarray:
    """Number of distinct classes per row: (model, row) -> (row,)."""
    ordered = np.sort(predictions, axis=0)
    return 1 + (np.diff(ordered, axis=0) != 0).sum(axis=0)


def contested_rows(row_agreement: np.ndarray, predictions: np.ndarray, rows: np.ndarray,
                   delta: float | None = None) -> pd.DataFrame:
    """One line per row: how much the models' explanations and predictions agree there.

    row_agreement: (row,) mean agreement over model pairs; predictions: (model, row) int;
    rows: (row,) dataset row ids. Columns: row (dataset row id), agreement,
    prediction_flips (not all models predict the same class), n_classes_predicted,
    votes ((class, models predicting it) pairs, most predicted first). Least agreeing first.
    Regression (delta given): prediction_flips says the predictions span more than delta, and the
    columns low and high take the place of the classes and votes.
    """
    if delta is not None:
        low, high = predictions.min(axis=0), predictions.max(axis=0)
        frame = pd.DataFrame({"row": rows, "agreement": row_agreement, "prediction_flips": high - low > delta,
                              "low": low, "high": high})
        return frame.sort_values("agreement", kind="stable").reset_index(drop=True)
    n_classes = _n_distinct(predictions)
    votes = []
    for row_predictions in predictions.T:  # a few hundred rows at most: a tuple per row for people to read
        classes, counts = np.unique(row_predictions, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        votes.append(tuple(zip(classes[order].tolist(), counts[order].tolist())))
    frame = pd.DataFrame(
        {
            "row": rows,
            "agreement": row_agreement,
            "prediction_flips": n_classes > 1,
            "n_classes_predicted": n_classes,
            "votes": votes,
        }
    )
    return frame.sort_values("agreement", kind="stable").reset_index(drop=True)


def same_prediction_divergent_rows(row_agreement: np.ndarray, predictions: np.ndarray,
                                   rows: np.ndarray, delta: float | None = None) -> pd.DataFrame:
    """Rows where all models predict the same class, most divergent explanations first.

    row_agreement: (row,) mean agreement over model pairs; predictions: (model, row) int;
    rows: (row,) dataset row ids. Columns: row (dataset row id), prediction (the shared
    class), divergence (1 - row_agreement). Regression (delta given): rows whose predictions all lie
    within delta of each other, prediction their median.
    """
    if delta is None:
        unanimous = _n_distinct(predictions) == 1
        shared = predictions[0]
    else:
        unanimous = predictions.max(axis=0) - predictions.min(axis=0) <= delta
        shared = np.median(predictions, axis=0)
    frame = pd.DataFrame(
        {
            "row": rows[unanimous],
            "prediction": shared[unanimous],
            "divergence": 1 - row_agreement[unanimous],
        }
    )
    return frame.sort_values("divergence", ascending=False, kind="stable").reset_index(drop=True)


def rank_distribution(values: np.ndarray, feature_names: list[str]) -> pd.DataFrame:
    """Long form (feature, model, rank) of each model's global-importance rank.

    values: (model, row, feature); feature_names: one per feature.
    """
    ranks = importance_ranks(values)  # (model, feature)
    n_models, n_features = ranks.shape
    assert len(feature_names) == n_features, "one name per feature"
    return pd.DataFrame(
        {
            "feature": np.tile(np.asarray(feature_names, dtype=object), n_models),
            "model": np.repeat(np.arange(n_models), n_features),
            "rank": ranks.ravel(),
        }
    )


def sign_flips(values: np.ndarray) -> np.ndarray:
    """Features whose mean signed attribution is positive in some models and negative in others.

    values: (model, row, feature) -> (feature,) bool. Means smaller than 1e-12
    times the largest |mean| count as zero, so rounding noise is not a flip.
    """
    mean = values.mean(axis=1)  # (model, feature)
    floor = 1e-12 * np.abs(mean).max()
    return (mean > floor).any(axis=0) & (mean < -floor).any(axis=0)


def variance_share(spread: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """How much each source of randomness moves accuracy and explanations.

    spread: source name -> (accuracy (model,), agreement matrix (model, model))
    from a run where only that source varied. Columns: source, accuracy_std
    (population std, ddof=0, across models), disagreement (1 - mean off-diagonal
    agreement; 0 for a single model), accuracy_share and disagreement_share
    (the source's value over the total across sources; 0 where the total is 0).
    """
    accuracy_std, disagreement = [], []
    for accuracy, agreement in spread.values():
        accuracy_std.append(float(np.std(accuracy)))
        disagreement.append(1 - mean_off_diagonal(agreement) if len(agreement) > 1 else 0.0)
    shares = pd.DataFrame(
        {"source": list(spread), "accuracy_std": accuracy_std, "disagreement": disagreement}
    )
    for column, share in (("accuracy_std", "accuracy_share"), ("disagreement", "disagreement_share")):
        total = shares[column].sum()
        shares[share] = shares[column] / total if total > 0 else 0.0
    return shares
