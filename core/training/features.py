"""Features as a person sees them: a number, or a category that core.training.data one-hot encoded into columns.

core.training.data turns a text column `colour` into 0/1 columns named "colour=red", "colour=blue", ...
exactly one of which is 1 in every row. Editing a row (core.views.whatif) or sweeping a feature
(core.views.dependence) must move such a group as one categorical feature: setting one column alone
would make a row with two colours, or none, that no model ever saw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .data import Dataset

_SEPARATOR = "="  # core.training.data names a one-hot column f"{column}={value}"
_MAX_DECIMALS = 6


@dataclass(frozen=True)
class Feature:
    """One feature as shown to a person.

    columns: the dataset columns it occupies: one for a number, one per category for a one-hot group.
    categories: the category of each column (empty for a number).
    low, high: the range of its values in the data (numbers; 0 and 1 for a group).
    step: a round increment of about a twentieth of the range (at least 1 for whole numbers), for number inputs.
    decimals: digits after the point that show the data's values (numbers).
    """

    name: str
    columns: tuple[int, ...]
    categories: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 1.0
    step: float = 1.0
    decimals: int = 0

    @property
    def categorical(self) -> bool:
        return bool(self.categories)


def dataset_features(dataset: Dataset) -> tuple[Feature, ...]:
    """The dataset's features in column order, each one-hot group as one categorical Feature.

    Columns count as a group when their names share the text before the first "=" and their values
    say so too: only 0 and 1, exactly one 1 in every row. A numeric column whose name merely holds
    "=" stays a number.
    """
    X, names = dataset.X, dataset.feature_names
    candidates: dict[str, list[int]] = {}
    for column, name in enumerate(names):
        if _SEPARATOR in name:
            candidates.setdefault(name.split(_SEPARATOR, 1)[0], []).append(column)
    grouped = {}
    for prefix, columns in candidates.items():
        block = X[:, columns]
        if len(columns) > 1 and np.isin(block, (0.0, 1.0)).all() and (block.sum(axis=1) == 1).all():
            grouped[columns[0]] = Feature(prefix, tuple(columns),
                                          tuple(names[c].split(_SEPARATOR, 1)[1] for c in columns))
    in_group = {c for feature in grouped.values() for c in feature.columns}
    out = []
    for column in range(X.shape[1]):
        if column in grouped:
            out.append(grouped[column])
        elif column not in in_group:
            out.append(_number(names[column], column, X[:, column]))
    return tuple(out)


def _number(name: str, column: int, values: np.ndarray) -> Feature:
    low, high = float(values.min()), float(values.max())
    step = 10.0 ** math.floor(math.log10((high - low) / 20)) if high > low else 1.0
    # As many decimals as the data is written with (measurements usually have a few), else two more than the step.
    exact = [d for d in range(_MAX_DECIMALS + 1) if np.allclose(values, np.round(values, d), rtol=1e-12, atol=0)]
    decimals = exact[0] if exact else min(_MAX_DECIMALS, 1 - math.floor(math.log10(step)))
    return Feature(name, (column,), low=low, high=high, step=max(step, 1.0) if decimals == 0 else step,
                   decimals=decimals)


def category_of(feature: Feature, X: np.ndarray) -> np.ndarray:
    """(row,) position in feature.categories of each row of X (row, feature) of a one-hot group."""
    return X[:, list(feature.columns)].argmax(axis=1)


def set_value(X: np.ndarray, feature: Feature, value: float) -> np.ndarray:
    """A copy of X (row, feature) with the feature set to `value` in every row; for a group, `value`
    is the position of the category, whose column becomes 1 and the others 0."""
    out = X.copy()
    if feature.categorical:
        out[:, list(feature.columns)] = np.eye(len(feature.columns))[int(value)]
    else:
        out[:, feature.columns[0]] = value
    return out
