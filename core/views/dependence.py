"""Dependence with seed bands: how each model's answer moves with one feature, and how far the models part.

Partial dependence (Friedman 2001, "Greedy function approximation", section 8.2): the feature is
set to each value of a grid in every test row, and a model's curve is its mean probability of the
chosen class over those rows, exactly scikit-learn's `partial_dependence(method="brute")` (tests
check it). Individual conditional expectation (Goldstein et al. 2015) is the same sweep for a single
row. All N models answer every grid point in the same batched passes, so the band between their
curves is the spread across seeds, not a difference in what they were shown.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..run.compare import Comparison
from ..errors import ConfigError
from ..training.features import Feature, category_of, set_value
from ..runtime import deterministic

GRID_POINTS = 20
PERCENTILES = (0.05, 0.95)  # as scikit-learn: the sparse tails would make every curve noisy at its ends
INNER = (0.1, 0.9)  # the inner band: where most models' curves lie
_POINTS = 1 << 16  # rows per batched pass (grid points x test rows)


@dataclass(frozen=True, eq=False)
class Dependence:
    """Every model's partial dependence on one feature.

    grid: (point,) the feature's values (a number) or category positions (a one-hot group);
    labels: (point,) how each grid point reads. curves: (model, point) mean probability of class
    `target` over `rows` (dataset row ids, the test rows every model was tested on) with the
    feature set to each grid point. low, high: (point,) the least and greatest model at each point,
    the band every curve lies in; inner_low, inner_high: (point,) the 10th and 90th percentiles
    across models. gap: (point,) high - low.
    """

    feature: Feature
    target: int
    grid: np.ndarray
    labels: tuple[str, ...]
    curves: np.ndarray
    rows: np.ndarray
    low: np.ndarray
    high: np.ndarray
    inner_low: np.ndarray
    inner_high: np.ndarray
    gap: np.ndarray

    @property
    def widest(self) -> int:
        """The grid point where the models are furthest apart."""
        return int(np.argmax(self.gap))

    @property
    def effect(self) -> np.ndarray:
        """(model,) how far each model's curve moves over the grid: its max - min."""
        return self.curves.max(axis=1) - self.curves.min(axis=1)


def grid(feature: Feature, values: np.ndarray, *, points: int = GRID_POINTS,
         percentiles: tuple[float, float] = PERCENTILES) -> np.ndarray:
    """(point,) grid of a feature over X (row, feature) rows `values`.

    A one-hot group: every category's position. A number with at most `points` distinct values:
    each of them. Otherwise `points` quantiles evenly spaced in probability between the
    percentiles, denser where the data is (duplicates merged).
    """
    if feature.categorical:
        return np.arange(len(feature.categories), dtype=np.float64)
    column = values[:, feature.columns[0]]
    distinct = np.unique(column)
    if len(distinct) <= points:
        return distinct
    return np.unique(np.quantile(column, np.linspace(*percentiles, points)))


def _labels(feature: Feature, grid_values: np.ndarray) -> tuple[str, ...]:
    if feature.categorical:
        return tuple(feature.categories)
    return tuple(f"{v:.{feature.decimals}f}" for v in grid_values)


def _bank(comparison: Comparison):
    if comparison.run.bank is None:
        raise ConfigError("Partial dependence needs the trained models, and a comparison loaded from a bundle "
                          "holds none; train it again on Setup (same settings, same numbers).")
    return comparison.run.bank


def sweep(bank, X: np.ndarray, feature: Feature, grid_values: np.ndarray, *, target: int) -> np.ndarray:
    """(model, point) mean probability of class `target` over the rows X (row, feature) with the
    feature set to each grid value: all models on a stack of grid points, one batched pass per chunk."""
    per_pass = max(1, _POINTS // len(X))
    out = np.empty((bank.n_models, len(grid_values)))
    with deterministic():
        for start in range(0, len(grid_values), per_pass):
            chunk = grid_values[start:start + per_pass]
            stacked = np.concatenate([set_value(X, feature, v) for v in chunk])  # (point * row, feature)
            proba = bank.predict_proba(stacked)[..., target]  # (model, point * row)
            out[:, start:start + len(chunk)] = proba.reshape(bank.n_models, len(chunk), len(X)).mean(axis=-1)
    return out


def _check_target(comparison: Comparison, target: int) -> None:
    n_classes = comparison.run.dataset.n_classes
    if not 0 <= target < n_classes:
        raise ConfigError(f"Target class must be between 0 and {n_classes - 1}; got {target}.")


def partial_dependence(comparison: Comparison, feature: Feature, *, target: int,
                       points: int = GRID_POINTS) -> Dependence:
    """Every model's partial dependence of p(target) on `feature`, over the test rows every model was tested on."""
    bank = _bank(comparison)
    _check_target(comparison, target)
    rows = comparison.evaluation.rows
    X = comparison.run.dataset.X[rows]
    values = grid(feature, X, points=points)
    curves = sweep(bank, X, feature, values, target=target)
    low, high = curves.min(axis=0), curves.max(axis=0)
    inner_low, inner_high = np.quantile(curves, INNER, axis=0)
    return Dependence(feature, target, values, _labels(feature, values), curves, rows, low, high,
                      inner_low, inner_high, high - low)


@dataclass(frozen=True, eq=False)
class RowCurves:
    """One row's individual conditional expectation curves (Goldstein et al. 2015), every model.

    curves: (model, point) probability of the Dependence's target with the feature set to each grid
    point and the rest of the row as it is; position: the row's own value (a category's position for a
    group) on the grid's axis; now: (model,) each model's probability for the row as it is.
    """

    row: int
    curves: np.ndarray
    position: float
    now: np.ndarray


def ice(comparison: Comparison, dependence: Dependence, row: int) -> RowCurves:
    """Every model's curve for dataset row `row` over dependence.grid, and where the row itself sits on it."""
    x = comparison.run.dataset.X[[row]]
    feature = dependence.feature
    position = float(category_of(feature, x)[0]) if feature.categorical else float(x[0, feature.columns[0]])
    # The row's own value rides along as one more grid point: every model answers it in the same pass.
    swept = sweep(_bank(comparison), x, feature, np.append(dependence.grid, position), target=dependence.target)
    return RowCurves(row, swept[:, :-1], position, swept[:, -1])


def attribution_scatter(comparison: Comparison, feature: Feature, method: str) -> pd.DataFrame:
    """A SHAP dependence plot's data from the stored explanation, every model: one line per (model,
    explained row) with the feature's value (a number, or the category) and its attribution (a
    one-hot group's summed over its columns, as attributions add up). Needs no models."""
    ex = comparison.explanation
    if method not in ex.by_method:
        raise ConfigError(f"{method!r} was not run for this comparison; choose one of {', '.join(ex.by_method)}.")
    values = ex.by_method[method].values[..., list(feature.columns)].sum(axis=-1)  # (model, row)
    X = comparison.run.dataset.X[ex.rows]
    shown = (np.array(feature.categories)[category_of(feature, X)] if feature.categorical
             else X[:, feature.columns[0]])
    n_models, n_rows = values.shape
    return pd.DataFrame({
        "model": np.repeat(np.arange(n_models), n_rows),
        "row": np.tile(ex.rows, n_models),
        "value": np.tile(shown, n_models),
        "attribution": values.ravel(),
    })


def dependence_target(comparison: Comparison) -> int:
    """The class whose probability to show: the configured one; else the positive class if binary;
    else the class the explanation explained most often."""
    config, n_classes = comparison.explanation.config, comparison.run.dataset.n_classes
    if config.target_class is not None:
        return config.target_class
    if n_classes == 2:
        return 1
    return int(np.bincount(comparison.explanation.target_class, minlength=n_classes).argmax())
