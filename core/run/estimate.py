"""How long a comparison will take, said before it starts, so nobody waits without knowing for how long.

Costs per unit of work were measured on a 2-core machine (the project's reference, see
bench/compare_bench.py) and scale with what the configuration asks for: torch MLPs by
multiply-adds, scikit-learn models by trees and points evaluated. The MLP costs were measured
again after the engine work (tests hold the estimate within a third of the bench's three
comparisons); a busier or faster machine moves it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import math

from ..explainers.registry import MAX_DOUBLINGS, METHODS, ExplainConfig, split_methods
from ..training.config import RunConfig

if TYPE_CHECKING:
    from ..training.data import Dataset, Shape

# Seconds per multiply-add of an MLP in training (forward and backward, per epoch and training row),
# plus a fixed cost per optimizer step of the whole bank (10 models are mostly step overhead).
_TRAIN_MAC = 3.3e-10
_STEP = 1.6e-3
# Seconds per multiply-add of the batched passes: KernelSHAP's later layers (layer 1 is computed once
# per row and background row), LIME's whole network; and per number LIME's sampler draws for a
# row (shared by all models; the noise floor's own draws run at the same time, on another core).
_SHAP_MAC = 4.6e-11
_LIME_MAC = 5.7e-11
_LIME_NUMBER = 2.4e-8
# Seconds per (pair of models, row, method) of summarize's agreement metrics.
_PAIR_ROW = 8.6e-7
# Seconds per (model, point) evaluated by a scikit-learn model, per 100 trees for the ensembles.
_SKLEARN_POINT = {"logistic_regression": 2e-7, "ridge": 2e-7, "random_forest": 2.2e-6, "gradient_boosting": 9e-7,
                  "xgboost": 9e-7, "lightgbm": 9e-7, "estimator": 9e-7}
# Seconds to fit one scikit-learn model on 1,000 rows, per 100 trees for the ensembles.
_SKLEARN_FIT = {"logistic_regression": 0.03, "ridge": 0.01, "random_forest": 2.0, "gradient_boosting": 0.85,
                "xgboost": 0.2, "lightgbm": 0.1, "estimator": 0.85}  # any estimator: priced as boosting  # the last two train side by side: per model, on 2 cores
_PER_ROW = {"integrated_gradients": 3.2e-4, "gradient": 2e-5, "gradient_x_input": 2e-5, "deep_shap": 2e-3,
            "tree_shap": 2e-3}  # seconds per (model, row) of the methods that evaluate few points
_FIXED = 0.5  # seconds of set-up: k-means background, scoring, drawing


_SPEED_RANGE = (0.25, 4.0)  # a run further off than this was slowed or sped by something else
_TELLING_RUN = 2.0  # estimated seconds below which a run is mostly fixed costs and says little about speed


def estimate_seconds(dataset: Dataset, run: RunConfig, explain: ExplainConfig, *, speed: float = 1.0) -> float:
    """Expected seconds for compare(dataset, run, explain) plus summarize: on the reference machine,
    times `speed`, this machine's seconds per reference second (see machine_speed). Precision "auto"
    draws more only when the like-with-like test is undecided: see most_seconds."""
    return speed * sum(_reference_seconds(dataset, run, explain))


def most_seconds(dataset: Dataset, run: RunConfig, explain: ExplainConfig, *, speed: float = 1.0) -> float:
    """estimate_seconds when precision "auto" must double every sampling explainer's samples up to its
    cap (2 ** MAX_DOUBLINGS times the configured ones); estimate_seconds itself at precision "fixed"."""
    rest, sampling = _reference_seconds(dataset, run, explain)
    doublings = MAX_DOUBLINGS if explain.precision == "auto" and explain.noise_floor and run.n_models >= 3 else 0
    return speed * (rest + sampling * 2 ** doublings)


def machine_speed(estimated: float, measured: float, *, previous: float | None = None) -> float | None:
    """This machine's seconds per reference-machine second, from a run estimated (at speed 1) to take
    `estimated` seconds that took `measured`: kept within 1/4 to 4 times the reference, and averaged
    (geometric mean) with the `previous` factor, so one busy moment does not swing the next estimate.
    A run estimated under 2 s is mostly fixed costs: it leaves `previous` as it was (None if none)."""
    if estimated < _TELLING_RUN or measured <= 0:
        return previous
    ratio = min(max(measured / estimated, _SPEED_RANGE[0]), _SPEED_RANGE[1])
    return ratio if previous is None else math.sqrt(ratio * previous)


def _reference_seconds(dataset: Dataset, run: RunConfig, explain: ExplainConfig) -> tuple[float, float]:
    """(everything else, the sampling explainers) seconds on the reference machine."""
    n_models, n_rows = run.n_models, dataset.n_rows
    train_rows = n_rows * (1 - run.test_fraction)
    rows = min(explain.max_rows, max(1, round(n_rows * run.test_fraction)))
    trees = run.sklearn.n_estimators / 100 if run.family not in ("logistic_regression", "ridge") else 1.0
    if run.family == "mlp":
        sizes = [dataset.n_features, *run.mlp.hidden, dataset.n_classes]
        macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        later = macs - sizes[0] * sizes[1]  # KernelSHAP computes layer 1 once per row and background row
        fitted = train_rows * (1 - run.validation_fraction)
        steps = run.mlp.epochs * math.ceil(fitted / run.mlp.batch_size)
        seconds = n_models * run.mlp.epochs * fitted * macs * _TRAIN_MAC + steps * _STEP
        point = {"kernel_shap": later * _SHAP_MAC, "lime": macs * _LIME_MAC}
    else:
        seconds = n_models * _SKLEARN_FIT[run.family] * trees * max(train_rows, 100) / 1000
        cost = _SKLEARN_POINT[run.family] * trees
        point = {"kernel_shap": cost, "lime": cost}
    kernel_samples = explain.kernel_samples or 2 * dataset.n_features + 2048
    points = {"kernel_shap": kernel_samples * explain.background_size, "lime": explain.lime_samples}
    usable, _ = split_methods(explain.methods, run.family, dataset.n_classes)
    sampling = 0.0
    for name in usable:
        # A sampling method's two halves share its samples: every model is evaluated on each once.
        per_model_row = points[name] * point[name] if name in points else _PER_ROW[name]
        cost = n_models * rows * per_model_row
        if name == "lime":  # lime's sampler, its two halves side by side on the two cores
            cost += rows * explain.lime_samples * dataset.n_features * _LIME_NUMBER
        if METHODS[name].stochastic:
            sampling += cost
        else:
            seconds += cost
    seconds += n_models * (n_models - 1) / 2 * rows * len(usable) * _PAIR_ROW
    return seconds + _FIXED, sampling

