"""How many seeds are enough: intervals over models, and how the estimates settle as models are added.

Everything here resamples models, not rows: the question is whether another draw of seeds would
tell the same story. From one run of N models, without retraining.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .scores import departs

_CELLS = 1 << 22  # numbers per bootstrap chunk (32 MB of float64)


@dataclass(frozen=True)
class Interval:
    """An estimate with its bootstrap confidence interval (lo, hi) at `level`."""

    estimate: float
    lo: float
    hi: float
    level: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


def _pair_means(matrix: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """(boot,) mean of matrix[a, b] over pairs of draws a < b that are different models.

    matrix: (model, model) pair agreement; draws: (boot, n) model indices. A model drawn twice is
    not compared with itself (its self-agreement of 1 says nothing about seeds).
    """
    out = np.empty(len(draws))
    first, second = np.triu_indices(draws.shape[1], k=1)
    per_chunk = max(1, _CELLS // max(1, len(first)))
    for start in range(0, len(draws), per_chunk):
        d = draws[start:start + per_chunk]
        a, b = d[:, first], d[:, second]
        distinct = a != b
        values = np.where(distinct, matrix[a, b], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + per_chunk] = values.sum(axis=1) / distinct.sum(axis=1)
    return out


def _ambiguity(predictions: np.ndarray, draws: np.ndarray, delta: float | None = None) -> np.ndarray:
    """(boot,) share of rows on which some drawn model predicts differently from the first drawn model
    (regression: by more than delta)."""
    out = np.empty(len(draws))
    per_chunk = max(1, _CELLS // max(1, draws.shape[1] * predictions.shape[1]))
    for start in range(0, len(draws), per_chunk):
        p = predictions[draws[start:start + per_chunk]]  # (boot, n, row)
        out[start:start + per_chunk] = departs(p, p[:, :1], delta).any(axis=1).mean(axis=1)
    return out


def _interval(estimate: float, samples: np.ndarray, level: float) -> Interval:
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return Interval(estimate, float("nan"), float("nan"), level)
    tail = (1 - level) / 2
    lo, hi = np.quantile(samples, [tail, 1 - tail])
    return Interval(estimate, float(lo), float(hi), level)


def agreement_interval(matrix: np.ndarray, *, rng: np.random.Generator, n_boot: int = 500,
                       level: float = 0.95) -> Interval:
    """Between-model agreement (mean over pairs of the (model, model) matrix) with a bootstrap
    interval over models: each resample draws N models with replacement."""
    n = len(matrix)
    if n < 2:
        raise ConfigError("An interval over models needs at least two models.")
    first, second = np.triu_indices(n, k=1)
    estimate = float(matrix[first, second].mean())
    return _interval(estimate, _pair_means(matrix, rng.integers(0, n, size=(n_boot, n))), level)


def ambiguity_interval(predictions: np.ndarray, *, rng: np.random.Generator, n_boot: int = 500,
                       level: float = 0.95, delta: float | None = None) -> Interval:
    """Prediction ambiguity (share of rows some model predicts differently from model 0) with a
    bootstrap interval over rows. predictions: (model, row) class indices on shared rows.

    Over rows, not models: ambiguity is the largest of the models' differences, and a resample of
    models with replacement holds fewer distinct ones, so it would shrink the interval towards 0.
    How ambiguity grows with more models is what the seed budget's curve shows.
    """
    differs = departs(predictions, predictions[:1], delta).any(axis=0)  # (row,)
    counts = rng.multinomial(len(differs), np.full(len(differs), 1 / len(differs)), size=n_boot)
    return _interval(float(differs.mean()), counts @ differs / len(differs), level)


@dataclass(frozen=True, eq=False)
class SeedBudget:
    """How the estimates depend on the number of models.

    curve: one line per (quantity, n) for n from 2 to N: quantity (agreement, accuracy_std, ambiguity),
    n, estimate (the mean over random subsets of n of the N models), lo, hi (the subsets' central
    `level` range: what n seeds could have shown).
    agreement: the headline agreement with its interval at N.
    settled_at: the smallest n from which the agreement of the first n models (in training order)
    stayed inside the final interval.
    """

    curve: pd.DataFrame
    agreement: Interval
    settled_at: int

    def models_for(self, half_width: float) -> int | None:
        """Models needed for an agreement interval of +- half_width, from the observed pair-level spread.

        The interval of a mean over pairs narrows as 1/sqrt(n) with n models (its leading term), so
        n = N (h_N / h)^2. None when the interval at N is empty (identical models: any n will do).
        """
        if not half_width > 0:
            raise ConfigError(f"The half-width must be positive; got {half_width}.")
        n, h = int(self.curve["n"].max()), self.agreement.half_width
        if not np.isfinite(h) or h == 0:
            return None
        return max(2, int(np.ceil(n * (h / half_width) ** 2)))


def seed_budget(matrix: np.ndarray, accuracy: np.ndarray, predictions: np.ndarray, *,
                rng: np.random.Generator, n_boot: int = 200, level: float = 0.95,
                delta: float | None = None) -> SeedBudget:
    """The seed budget of one run: matrix (model, model) headline agreement, accuracy (model,) (for
    regression RMSE), predictions (model, row) on shared rows (regression: values, differing beyond delta)."""
    n_models = len(matrix)
    if n_models < 2:
        raise ConfigError("A seed budget needs at least two models.")
    final = agreement_interval(matrix, rng=rng, level=level)  # first: release_gate redraws it from the seed
    lines = []
    # n on a geometric grid: every n up to 25 models, then 25 steps (the curve is smooth).
    for n in np.unique(np.geomspace(2, n_models, num=min(n_models - 1, 25)).round().astype(int)):
        # n of the N models, without replacement: how the estimate would read with only n seeds.
        draws = np.argsort(rng.random((n_boot, n_models)), axis=1)[:, :n]
        accuracy_std = accuracy[draws].std(axis=1, ddof=1)
        for name, samples in (("agreement", _pair_means(matrix, draws)), ("accuracy_std", accuracy_std),
                              ("ambiguity", _ambiguity(predictions, draws, delta))):
            interval = _interval(float(np.nanmean(samples)), samples, level)
            lines.append((name, n, interval.estimate, interval.lo, interval.hi))
    curve = pd.DataFrame(lines, columns=["quantity", "n", "estimate", "lo", "hi"])
    first, second = np.triu_indices(n_models, k=1)
    running = [matrix[first[second < n], second[second < n]].mean() for n in range(2, n_models + 1)]
    inside = [final.lo - 1e-12 <= value <= final.hi + 1e-12 for value in running]
    settled = next((n for n in range(2, n_models + 1) if all(inside[n - 2:])), n_models)
    return SeedBudget(curve, final, settled)
