"""Agreement metrics for every pair of models at once, as dot products of per-model encodings.

Comparing N models pair by pair costs N^2/2 sorts and rankings of the same attributions (200
models: 19,900 pairs, minutes). Each metric of core.agree.agreement is instead a count of matching
positions, which is a dot product of one-hot encodings computed once per model:
- feature agreement@k: top-k masks, |A ∩ B| = mask_a . mask_b;
- sign agreement@k: top-k masks split by sign (-, 0, +);
- rank agreement@k: one-hot (position, feature) of the top-k lists;
- signed rank agreement@k: one-hot (position, sign, feature);
- pairwise rank agreement: one-hot (feature pair, order -/=/+);
- rank correlation: centred ranks, whose dot product over the norms is Spearman's rho.
Counts are small integers and centred ranks are multiples of 1/2, so every dot product is exact
in floating point whatever order BLAS sums in: the scores equal core.agree.agreement's per-pair
functions exactly (tests check it), and identical models agree exactly.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import rankdata

from .agreement import _metric, _top_k, _top_k_mask
from .topk import check_k

_NUMBERS = 1 << 22  # encoded numbers per chunk of rows (16 MB of float32)


def _signs(values: np.ndarray) -> list[np.ndarray]:
    return [np.sign(values) == s for s in (-1, 0, 1)]


def _flat(codes: np.ndarray) -> np.ndarray:
    """(model, row, ...) booleans -> (model, row, code) float32."""
    return codes.reshape(codes.shape[0], codes.shape[1], -1).astype(np.float32)


def _feature(values, k):
    return _flat(_top_k_mask(values, k)), k


def _sign(values, k):
    mask = _top_k_mask(values, k)
    return _flat(np.stack([mask & s for s in _signs(values)], axis=-1)), k


def _rank(values, k):
    top = _top_k(values, k)  # (model, row, position)
    return _flat(top[..., None] == np.arange(values.shape[-1])), k  # one-hot (position, feature)


def _signed_rank(values, k):
    top = _top_k(values, k)
    sign = np.sign(np.take_along_axis(values, top, axis=-1))
    features = top[..., None] == np.arange(values.shape[-1])  # (model, row, position, feature)
    return _flat(np.stack([features & (sign == s)[..., None] for s in (-1, 0, 1)], axis=-2)), k


def _pairwise(values, k):
    first, second = np.triu_indices(values.shape[-1], k=1)
    magnitude = np.abs(values)
    order = np.sign(magnitude[..., first] - magnitude[..., second])  # (model, row, pair)
    return _flat(order[..., None] == np.array([-1, 0, 1])), len(first)


_COUNTS: dict[str, Callable] = {
    "feature_agreement": _feature, "sign_agreement": _sign, "rank_agreement": _rank,
    "signed_rank_agreement": _signed_rank, "pairwise_rank_agreement": _pairwise,
}


def _scores(values: np.ndarray, metric: str, k: int) -> np.ndarray:
    """(row, model, model) scores of `metric` for the rows of values (model, row, feature)."""
    n_features = values.shape[-1]
    if metric == "pairwise_rank_agreement" and n_features == 1:  # no feature pairs: agreement by definition
        return np.ones((values.shape[1], len(values), len(values)))
    if metric in _COUNTS:
        encoded, denominator = _COUNTS[metric](values, k)
        encoded = encoded.transpose(1, 0, 2)  # (row, model, code)
        return (encoded @ encoded.transpose(0, 2, 1)).astype(np.float64) / denominator
    # rank correlation, as core.agree.agreement.rank_correlation computes it for each pair
    ranks = rankdata(np.abs(values), axis=-1)
    ranks -= ranks.mean(axis=-1, keepdims=True)
    ranks = ranks.transpose(1, 0, 2)  # (row, model, feature)
    squares = (ranks ** 2).sum(axis=-1)  # (row, model)
    constant = squares == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ranks @ ranks.transpose(0, 2, 1)) / np.sqrt(squares[:, :, None] * squares[:, None, :])
    either, both = constant[:, :, None] | constant[:, None, :], constant[:, :, None] & constant[:, None, :]
    return np.where(both, 1.0, np.where(either, 0.0, np.clip(rho, -1.0, 1.0)))


def _chunks(values: np.ndarray, metric: str, k: int):
    """(start, (row, model, model) scores) for the rows of values (model, row, feature), a bounded chunk at a time."""
    _metric(metric)  # ConfigError for an unknown name
    check_k(k, values.shape[-1])
    n_models, n_rows, n_features = values.shape
    width = 3 * max(k * n_features, n_features * (n_features - 1) // 2, 1)  # widest encoding
    per_chunk = max(1, _NUMBERS // (n_models * width))
    for start in range(0, n_rows, per_chunk):
        yield start, _scores(values[:, start:start + per_chunk], metric, k)


def pair_summary(values: np.ndarray, *, metric: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`metric` for every pair of models on every row, summarised two ways.

    values: (model, row, feature). Returns the (model, model) matrix of row means (1.0 on the
    diagonal) and the (row,) mean over pairs of distinct models (1.0 for a single model). Rows
    are encoded a chunk at a time, so memory does not grow with the rows.
    """
    n_models, n_rows, _ = values.shape
    total, per_row = np.zeros((n_models, n_models)), np.ones(n_rows)
    off_diagonal = ~np.eye(n_models, dtype=bool)
    for start, scores in _chunks(values, metric, k):
        total += scores.sum(axis=0)
        if n_models > 1:
            per_row[start:start + len(scores)] = scores[:, off_diagonal].mean(axis=-1)
    matrix = total / n_rows
    np.fill_diagonal(matrix, 1.0)
    return matrix, per_row


def group_matrices(values: np.ndarray, groups: np.ndarray, *, metric: str, k: int) -> np.ndarray:
    """(group, model, model): `metric` for every pair of models, averaged over the rows of each group.

    values: (model, row, feature); groups: (row,) group numbers 0..G-1, each used at least once.
    Rows are encoded a chunk at a time, as in pair_summary."""
    n_groups = int(groups.max()) + 1
    total = np.zeros((n_groups, len(values), len(values)))
    for start, scores in _chunks(values, metric, k):
        chunk = groups[start:start + len(scores)]
        for g in np.unique(chunk):
            total[g] += scores[chunk == g].sum(axis=0)
    return total / np.bincount(groups, minlength=n_groups)[:, None, None]


def agreement_matrix(values: np.ndarray, *, metric: str, k: int) -> np.ndarray:
    """Mean over rows of `metric` for each model pair: (model, row, feature) -> symmetric (model, model)."""
    return pair_summary(values, metric=metric, k=k)[0]


def method_matrices(by_method: dict[str, np.ndarray], *, metric: str, k: int) -> np.ndarray:
    """Agreement between explanation methods, for each model.

    by_method: method name -> (model, row, feature) attributions on the same rows.
    Returns (model, method, method) row-mean agreement, methods in by_method's order: the methods
    are compared as the "models" of one pass over every (model, row).
    """
    stacked = np.stack(list(by_method.values()))  # (method, model, row, feature)
    n_methods, n_models, n_rows, n_features = stacked.shape
    scores = np.empty((n_models * n_rows, n_methods, n_methods))
    for start, chunk in _chunks(stacked.reshape(n_methods, -1, n_features), metric, k):
        scores[start:start + len(chunk)] = chunk
    matrices = scores.reshape(n_models, n_rows, n_methods, n_methods).mean(axis=1)
    matrices[:, np.arange(n_methods), np.arange(n_methods)] = 1.0
    return matrices
