"""What can explain what: the explanation settings (ExplainConfig) and the methods' registry (METHODS).

Settings and names only, without torch or shap: the app's first page draws its controls from them while
the libraries load. A method's functions are imported the first time they are asked for.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import ConfigError
from ..training.config import FAMILIES

PRECISIONS = ("auto", "fixed")
MAX_DOUBLINGS = 3  # precision "auto" draws at most 2**3 = 8 times the configured samples


def kernel_samples(config, n_features: int) -> int:
    """Coalitions per KernelSHAP explanation: the configured number, or shap's default of 2 * features + 2048."""
    return config.kernel_samples or 2 * n_features + 2048


def lime_samples(config, n_features: int) -> int:
    """Samples per row of a LIME explanation."""
    return config.lime_samples


@dataclass(frozen=True)
class ExplainConfig:
    """How to explain a run. methods: names from METHODS; a family that lacks a method skips it."""

    methods: tuple[str, ...] = ("kernel_shap", "lime", "integrated_gradients")
    max_rows: int = 50
    background_size: int = 20
    # Coalitions per KernelSHAP run, shared by all rows and models. On breast_cancer, 512 gives a
    # Pearson correlation of 0.97 with a 10x-sample reference (shap's per-row default, l1 feature
    # selection on, gives 0.92); None uses shap's default of 2 * features + 2048.
    kernel_samples: int | None = 512
    lime_samples: int = 5000
    ig_steps: int = 32  # Gauss-Legendre nodes per smooth piece of the path, see gradients.integrated_gradients
    target_class: int | None = None  # None: binary -> positive class; multiclass -> most models' prediction
    seed: int = 0
    noise_floor: bool = True  # explain on two halves of the budget (the like-with-like test); False: one run
    precision: str = "auto"  # "auto": draw more while the like-with-like test is inconclusive; "fixed": never
    k: int | None = None  # top-k at which precision "auto" decides (None: default_k of the features)

    def __post_init__(self):
        object.__setattr__(self, "methods", tuple(dict.fromkeys(self.methods)))  # each method once, in order
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(
                f"Unknown explanation method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}."
            )
        if not self.methods:
            raise ConfigError("Choose at least one explanation method.")
        if self.max_rows < 1:
            raise ConfigError("Explain at least one row.")
        if not 2 <= self.background_size <= 200:
            raise ConfigError(f"Background size must be between 2 and 200; got {self.background_size}.")
        if self.kernel_samples is not None and self.kernel_samples < 10:
            raise ConfigError("KernelSHAP needs at least 10 samples per row.")
        if self.lime_samples < 100 or self.ig_steps < 2:
            raise ConfigError("LIME needs at least 100 samples and integrated gradients at least 2 nodes per piece.")
        if self.k is not None and self.k < 1:
            raise ConfigError(f"k counts the top features compared: at least 1; got {self.k}.")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"Precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}.")


@dataclass(frozen=True)
class Method:
    """An attribution method: fn(bank, ctx, seed) -> (model, row, feature) for every model of the bank.

    samples: for a sampling method, samples(config, n_features) -> the samples an explanation draws
    (ctx.samples overrides it for one run). Its values depend on the seed, so `explain` also takes two
    independent estimates from each run, on two halves of its samples (the like-with-like test,
    core.agree.verdict), through one of:
    pooled(bank, ctx, seed) -> (values, (run, half A, half B) normal equations), which add up over runs:
    values pooled over several runs are one regression on all their samples (KernelSHAP);
    halved(bank, ctx, seeds) -> (seed, 3, model, row, feature): each run's values and its halves' (LIME).
    """

    label: str
    families: frozenset[str]
    computes: str  # "module:function" of fn; pooled and halved the same, "" when the method has none
    samples: Callable[[ExplainConfig, int], int] | None = field(default=None, repr=False)
    pools: str = ""
    halves: str = ""
    unit: str = ""  # what a sampling method's samples are, for people: "coalitions", "samples per row"
    background: bool = True  # whether it reads the k-means background

    @property
    def stochastic(self) -> bool:
        return self.samples is not None

    # The functions are imported on first use: the registry itself needs neither torch nor shap.
    @property
    def fn(self) -> Callable[..., np.ndarray]:
        return _function(self.computes)

    @property
    def pooled(self) -> Callable | None:
        return _function(self.pools) if self.pools else None

    @property
    def halved(self) -> Callable | None:
        return _function(self.halves) if self.halves else None


def _function(path: str) -> Callable:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


_ALL = frozenset(FAMILIES)
_TORCH = frozenset({"mlp"})
_SAMPLING, _METHODS = "core.explainers.shap_lime", "core.explainers.methods"
METHODS: dict[str, Method] = {
    "kernel_shap": Method("KernelSHAP", _ALL, f"{_SAMPLING}:kernel_shap_values", samples=kernel_samples,
                          pools=f"{_SAMPLING}:kernel_shap_run", unit="coalitions"),
    "tree_shap": Method("TreeSHAP", frozenset({"random_forest", "gradient_boosting", "xgboost", "lightgbm"}),
                        f"{_METHODS}:_tree_shap_values"),
    "deep_shap": Method("DeepSHAP", _TORCH, f"{_METHODS}:_deep_shap_values"),
    "lime": Method("LIME", _ALL, f"{_SAMPLING}:lime_values", samples=lime_samples, halves=f"{_SAMPLING}:lime_halved",
                   unit="samples per row", background=False),
    "gradient": Method("Gradient", _TORCH, f"{_METHODS}:_gradient_values", background=False),
    "gradient_x_input": Method("Gradient x input", _TORCH, f"{_METHODS}:_gradient_x_input_values", background=False),
    "integrated_gradients": Method("Integrated gradients", _TORCH, f"{_METHODS}:_integrated_gradients_values",
                                   background=False),
}


def supports(method: str, family: str, n_classes: int = 2) -> bool:
    """Whether `method` can explain a `family` model on an n_classes problem."""
    if family not in METHODS[method].families:
        return False
    # shap's TreeExplainer explains boosting's probability for binary problems only (and regression's value).
    return not (method == "tree_shap" and family in ("gradient_boosting", "xgboost", "lightgbm") and n_classes > 2)


def default_methods(family: str, n_classes: int = 2) -> tuple[str, ...]:
    """What the app and the CLI explain with unless told otherwise: SHAP, LIME and (for nets) integrated gradients."""
    return tuple(m for m in ("kernel_shap", "tree_shap", "lime", "integrated_gradients")
                 if supports(m, family, n_classes))


def methods_for(family: str, n_classes: int = 2) -> tuple[str, ...]:
    """Names of the methods that can explain a model family."""
    return tuple(name for name in METHODS if supports(name, family, n_classes))


def split_methods(methods: tuple[str, ...], family: str, n_classes: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(usable, skipped): which of `methods` can explain this family; ConfigError if none can."""
    usable = tuple(m for m in methods if supports(m, family, n_classes))
    if not usable:
        raise ConfigError(
            f"None of {', '.join(methods)} can explain a {family} model; "
            f"choose from {', '.join(methods_for(family, n_classes))}."
        )
    return usable, tuple(m for m in methods if m not in usable)
