"""What-if across every seed: edit one test row and watch all N models answer, and why.

Every model sees the same edited row in one batched pass. Attributions of that single row
are computed by core.explainers.methods.attribute_row exactly as `explain` computes its rows, with the same
baseline, target class, background and seed, so an unedited row gets back the stored
explanation up to float rounding. Gradient x input and integrated gradients (MLPs) are
instant; KernelSHAP on one row (`kernel_shap_row`) takes a moment and runs on demand.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import format as fmt
from ..run.compare import Comparison
from ..errors import ConfigError
from ..agree.verdict import row_groups
from ..explainers.registry import supports
from ..explainers.methods import attribute_row, target_classes
from ..training.features import Feature, category_of
from ..runtime import deterministic

INSTANT = ("gradient_x_input", "integrated_gradients")  # one row in milliseconds; KernelSHAP takes longer
TOP_REASONS = 3


@dataclass(frozen=True, eq=False)
class WhatIf:
    """Every model's answer for one edited test row.

    row: the dataset row id the edit started from; original, x: (feature,) that row and the edited
    one, raw feature space. before, proba: (model, class) probabilities at the original row (as
    stored by the comparison) and at x; predicted_before, predicted: (model,) their classes.
    target: the class whose probability the attributions explain.
    Regression: before and proba hold each model's predicted value (model, 1), and delta the comparison's
    tolerance; a model "departs" when its prediction lies more than delta from the models' median.
    attributions: method -> (model, feature) attributions of x, the instant methods this family has.
    notes: what validating the edit changed (values clipped to the data's range).
    """

    row: int
    original: np.ndarray
    x: np.ndarray
    before: np.ndarray
    proba: np.ndarray
    predicted_before: np.ndarray
    predicted: np.ndarray
    target: int
    attributions: dict[str, np.ndarray]
    notes: tuple[str, ...]
    delta: float | None = None  # regression only

    @property
    def departs(self) -> np.ndarray:
        """Regression: (model,) whether its prediction lies more than delta from the median prediction."""
        values = self.proba[:, 0]
        return np.abs(values - np.median(values)) > self.delta

    @property
    def votes(self) -> tuple[tuple[int, int], ...]:
        """((class, models predicting it), ...), most models first (ties: lower class first)."""
        counts = np.bincount(self.predicted, minlength=self.proba.shape[1])
        return tuple((int(c), int(counts[c])) for c in np.argsort(-counts, kind="stable") if counts[c])

    @property
    def split(self) -> bool:
        """Whether the models predict different classes for x (regression: some model departs from the median)."""
        return bool(self.departs.any()) if self.delta is not None else len(self.votes) > 1


def _bank(comparison: Comparison):
    if comparison.run.bank is None:
        raise ConfigError("What-if needs the trained models, and a comparison loaded from a bundle holds none; "
                          "train it again on Setup (same settings, same numbers) to edit rows.")
    return comparison.run.bank


def check_row(x, *, features: tuple[Feature, ...], n_columns: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """An edited row made safe for the models: (x as float64, notes on what changed).

    Numbers outside the data's range are clipped to it (a model has seen nothing beyond it);
    ConfigError for a row of the wrong length, a value that is not a finite number, or a
    categorical feature without exactly one category chosen.
    """
    try:
        x = np.array(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("Every value of the edited row must be a number.") from None
    if x.shape != (n_columns,):
        raise ConfigError(f"The edited row must have {n_columns} values, one per column; got shape {x.shape}.")
    notes = []
    for feature in features:
        values = x[list(feature.columns)]
        if not np.isfinite(values).all():
            raise ConfigError(f"{feature.name!r} must be a finite number; enter a value between "
                              f"{feature.low:g} and {feature.high:g}.")
        if feature.categorical:
            if not (np.isin(values, (0.0, 1.0)).all() and values.sum() == 1):
                raise ConfigError(f"{feature.name!r} must be exactly one of {', '.join(feature.categories)}; "
                                  "choose one.")
        elif not feature.low <= values[0] <= feature.high:
            x[feature.columns[0]] = np.clip(values[0], feature.low, feature.high)
            notes.append(f"{feature.name} set to {x[feature.columns[0]]:g}, the nearest value in the data "
                         f"({feature.low:g} to {feature.high:g}).")
    return x, tuple(notes)


def what_if_target(comparison: Comparison, row: int) -> int:
    """The class explained for `row`: the one the comparison's explanation chose for it
    (the configured class; else the positive class if binary; else most models' prediction)."""
    stored = np.flatnonzero(comparison.explanation.rows == row)
    if len(stored):
        return int(comparison.explanation.target_class[stored[0]])
    run = comparison.run
    return int(target_classes(run, run.dataset.X[[row]], comparison.explanation.config.target_class)[0])


def what_if(comparison: Comparison, x, *, row: int, features: tuple[Feature, ...],
            target: int | None = None) -> WhatIf:
    """Every model's probabilities, prediction and instant attributions for the edited row x (feature,).

    row: the test row (dataset row id, one of comparison.evaluation.rows) the edit started from;
    target: the class whose probability is explained (None: what_if_target). ConfigError for a
    comparison without models (loaded from a bundle) or an invalid edit (check_row).
    """
    bank, run = _bank(comparison), comparison.run
    x, notes = check_row(x, features=features, n_columns=run.dataset.n_features)
    target = what_if_target(comparison, row) if target is None else target
    if not 0 <= target < run.dataset.n_classes:
        raise ConfigError(f"Target class must be between 0 and {run.dataset.n_classes - 1}; got {target}.")
    position = np.searchsorted(comparison.evaluation.rows, row)
    assert comparison.evaluation.rows[position] == row, "what-if starts from a row every model was tested on"
    before = comparison.evaluation.proba[:, position]
    methods = [m for m in INSTANT if supports(m, run.config.family, run.dataset.n_classes)]
    with deterministic():
        proba = bank.predict_proba(x[None])[:, 0]
    attributions = {m: attribute_row(run, x, row=row, target=target, method=m, config=comparison.explanation.config)
                    for m in methods}
    return WhatIf(row, run.dataset.X[row].copy(), x, before, proba, before.argmax(axis=-1), proba.argmax(axis=-1),
                  target, attributions, notes, comparison.evaluation.delta)


def kernel_shap_row(comparison: Comparison, x: np.ndarray, *, row: int, target: int) -> np.ndarray:
    """(model, feature) KernelSHAP values of the single row x, with the comparison's background, samples
    and seed: the coalitions are those drawn for the stored explanation, so an unedited row gets its
    stored values back. x must have passed check_row (what_if's WhatIf.x)."""
    _bank(comparison)  # a ConfigError without trained models
    ex = comparison.explanation
    stored = np.flatnonzero(ex.rows == row)  # an explained row's coalitions are its group's (else the first group's)
    group = int(row_groups(len(ex.rows))[stored[0]]) if len(stored) else 0
    return attribute_row(comparison.run, np.asarray(x, dtype=np.float64), row=row, target=target, method="kernel_shap",
                         config=ex.config, samples=ex.by_method["kernel_shap"].samples, group=group)


def reasons(values: np.ndarray, feature_names: tuple[str, ...], *, top: int = TOP_REASONS) -> list[str]:
    """Per model, its `top` largest attributions (values: (model, feature)) as "feature ↑ · feature ↓":
    ↑ pushes the explained class's probability up, ↓ down; features with no attribution are left out."""
    out = []
    for model_values in values:
        order = [f for f in np.argsort(-np.abs(model_values), kind="stable")[:top] if model_values[f] != 0]
        out.append(" · ".join(f"{feature_names[f]} {'↑' if model_values[f] > 0 else '↓'}" for f in order))
    return out


def what_if_table(result: WhatIf, class_names: tuple[str, ...], feature_names: tuple[str, ...],
                values: np.ndarray | None = None, *, top: int = TOP_REASONS) -> pd.DataFrame:
    """One line per model: its prediction and probability for the edited row, what it predicted for the
    original row, whether it parts from the class most models predict, and its top reasons when
    attributions of the edited row are given (values: (model, feature))."""
    models = np.arange(len(result.predicted))
    if result.delta is not None:  # regression: each model's number, before and after, and who departs
        table = pd.DataFrame({"model": models, "prediction": result.proba[:, 0], "before the edit": result.before[:, 0],
                              f"departs from the median by more than {fmt.units(result.delta)}": result.departs})
        if values is not None:
            table["top reasons"] = reasons(values, feature_names, top=top)
        return table
    table = pd.DataFrame({
        "model": models,
        "prediction": [class_names[c] for c in result.predicted],
        "probability": result.proba[models, result.predicted],
        "before the edit": [f"{class_names[c]} ({fmt.percent(p)})" for c, p in
                            zip(result.predicted_before, result.before[models, result.predicted_before])],
        "differs from most models": result.predicted != result.votes[0][0],
    })
    if values is not None:
        table["top reasons"] = reasons(values, feature_names, top=top)
    return table


def what_if_changes(result: WhatIf, features: tuple[Feature, ...]) -> tuple[str, ...]:
    """The edit in words, one "feature: before → after" per feature it changed."""
    out = []
    for f in features:
        columns = list(f.columns)
        if np.array_equal(result.original[columns], result.x[columns]):
            continue
        if f.categorical:
            was, now = (f.categories[int(category_of(f, row[None])[0])] for row in (result.original, result.x))
        else:
            was, now = (f"{row[columns[0]]:.{f.decimals}f}" for row in (result.original, result.x))
        out.append(f"{f.name}: {was} → {now}")
    return tuple(out)
