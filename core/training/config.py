"""How a run is set up: its model family, hyperparameters and sources of randomness (RunConfig).

Configurations only, without torch or scikit-learn: the app's first page draws its controls from them
while the libraries that train load (core.training.fit trains what a RunConfig describes).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..seeding import SOURCES

FAMILIES: dict[str, str] = {
    "mlp": "Neural network (PyTorch MLP)",
    "logistic_regression": "Logistic regression",
    "random_forest": "Random forest",
    "gradient_boosting": "Gradient boosting",
    "ridge": "Ridge regression",
    "xgboost": "XGBoost",
    "lightgbm": "LightGBM",
    "estimator": "Any scikit-learn estimator",
}
# The families that predict each task: logistic regression classifies, ridge regresses, the rest do both.
TASK_FAMILIES: dict[str, tuple[str, ...]] = {
    "classification": ("mlp", "logistic_regression", "random_forest", "gradient_boosting", "xgboost", "lightgbm",
                       "estimator"),
    "regression": ("mlp", "ridge", "random_forest", "gradient_boosting", "xgboost", "lightgbm", "estimator"),
}


def check_family(family: str, task: str) -> None:
    """A ConfigError when `family` cannot learn `task` (say, logistic regression on a numeric target)."""
    if family not in TASK_FAMILIES[task]:
        other = {"logistic_regression": "ridge", "ridge": "logistic_regression"}[family]
        raise ConfigError(f"{FAMILIES[family]} cannot learn a {task} target; choose {FAMILIES[other].lower()} or "
                          f"another of {', '.join(TASK_FAMILIES[task])}.")
MAX_MODELS = 1000  # core, the CLI and the Ray engine; the app offers up to 200, with an estimate of the time it takes


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden layer sizes from text such as "64,32"; ConfigError for anything else."""
    try:
        return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ConfigError(f"Hidden sizes {text!r} must be whole numbers separated by commas, e.g. 64,32.") from None


@dataclass(frozen=True)
class MLPConfig:
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = None  # early stopping on validation accuracy; None trains all epochs

    def __post_init__(self):
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ConfigError("Hidden sizes must be positive integers, e.g. (64, 32).")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"Dropout must be in [0, 1); got {self.dropout}.")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("Epochs and batch size must be at least 1.")
        if not self.learning_rate > 0:
            raise ConfigError(f"Learning rate must be positive; got {self.learning_rate}.")
        if self.patience is not None and self.patience < 1:
            raise ConfigError("Patience must be at least 1 epoch, or None to turn early stopping off.")


@dataclass(frozen=True)
class SklearnConfig:
    """Hyperparameters of the scikit-learn families; each family reads the fields it has."""

    n_estimators: int = 100
    max_depth: int | None = None  # None: unlimited for forests; 3 is used for boosting
    learning_rate: float = 0.1  # boosting only
    subsample: float = 0.8  # boosting only; < 1 makes boosting stochastic (Friedman 2002)
    colsample: float = 0.8  # XGBoost and LightGBM: the share of features each tree draws (< 1: seeds matter)
    C: float = 1.0  # logistic regression only
    alpha: float = 1.0  # ridge only: the L2 penalty
    estimator: str | None = None  # "estimator" only: the class's import path (core.training.estimators)
    params: tuple[tuple[str, object], ...] = ()  # "estimator" only: (name, value) pairs passed to the class

    def __post_init__(self):
        if self.n_estimators < 1:
            raise ConfigError("The number of trees must be at least 1.")
        if not 0 < self.subsample <= 1:
            raise ConfigError(f"Subsample must be in (0, 1]; got {self.subsample}.")
        if not 0 < self.colsample <= 1:
            raise ConfigError(f"Column subsample must be in (0, 1]; got {self.colsample}.")
        if not self.C > 0:
            raise ConfigError(f"C must be positive; got {self.C}.")
        if not self.alpha >= 0:
            raise ConfigError(f"The ridge penalty alpha must be 0 or more; got {self.alpha}.")
        params = tuple((str(name), value) for name, value in (self.params.items() if isinstance(self.params, dict)
                                                               else self.params))  # from JSON: lists
        if any(not isinstance(value, (bool, int, float, str, type(None))) for _, value in params):
            raise ConfigError("Estimator parameters are numbers, True/False, None or text.")
        if len({name for name, _ in params}) < len(params):
            raise ConfigError("Each estimator parameter may be given once.")
        object.__setattr__(self, "params", params)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run, so equal configs on equal data give bit-identical runs."""

    family: str = "mlp"
    n_models: int = 10
    seed: int = 0
    vary: frozenset[str] = frozenset({"init", "order"})
    test_fraction: float = 0.25
    validation_fraction: float = 0.15  # of the training split; for learning curves and early stopping
    mlp: MLPConfig = field(default_factory=MLPConfig)
    sklearn: SklearnConfig = field(default_factory=SklearnConfig)  # logistic regression, forests, boosting

    def __post_init__(self):
        object.__setattr__(self, "vary", frozenset([self.vary] if isinstance(self.vary, str) else self.vary))
        if self.family not in FAMILIES:
            raise ConfigError(f"Unknown model family {self.family!r}; choose one of {', '.join(FAMILIES)}.")
        if not 1 <= self.n_models <= MAX_MODELS:
            raise ConfigError(f"The number of models must be between 1 and {MAX_MODELS}; got {self.n_models}.")
        unknown = sorted(self.vary - set(SOURCES))
        if unknown:
            raise ConfigError(
                f"Unknown randomness source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}."
            )
        if not 0.05 <= self.test_fraction <= 0.5:
            raise ConfigError(f"Test fraction must be between 0.05 and 0.5; got {self.test_fraction}.")
        if not 0.05 <= self.validation_fraction <= 0.5:
            raise ConfigError(
                f"Validation fraction must be between 0.05 and 0.5; got {self.validation_fraction}."
            )


def inert_sources(config: RunConfig) -> frozenset[str]:
    """The varied sources that cannot change this family's models.

    scikit-learn models see no mini-batches or dropout, and logistic regression's lbfgs solver
    and ridge's closed form are deterministic, so its random_state (our `init`) changes nothing either; an MLP without
    dropout has no masks to vary. Varying only inert sources trains N identical models.
    """
    effective = {
        "mlp": set(SOURCES) - ({"dropout"} if config.mlp.dropout == 0 else set()),
        "logistic_regression": {"split", "bootstrap"},
        "ridge": {"split", "bootstrap"},  # a closed-form fit: no seed
        # XGBoost and LightGBM draw from their seed only to subsample rows or columns
        **{lib: {"split", "bootstrap"} | ({"init"} if min(config.sklearn.subsample, config.sklearn.colsample) < 1
                                          else set()) for lib in ("xgboost", "lightgbm")},
        "estimator": {"init", "split", "bootstrap"},  # init: through its random_state, when it has one
        "random_forest": {"init", "split", "bootstrap"},
        "gradient_boosting": {"init", "split", "bootstrap"},
    }[config.family]
    return frozenset(config.vary - effective)


def identical_models(config: RunConfig) -> bool:
    """Whether nothing that varies can change the models, so all of them come out identical."""
    return config.n_models > 1 and (not config.vary or inert_sources(config) == config.vary)


def inert_note(config: RunConfig) -> str | None:
    """A sentence for the user when some (or all) varied sources cannot change the models, else None."""
    inert, family = inert_sources(config), FAMILIES[config.family].lower()
    no_effect = f"{', '.join(sorted(inert))} {'has' if len(inert) == 1 else 'have'} no effect on {family}"
    if "init" in inert and config.family in ("xgboost", "lightgbm"):
        no_effect += " (its seed only subsamples rows and columns, and both subsamples are 1.0)"
    if identical_models(config):
        cause = f" ({no_effect})" if inert else " (no source varies)"
        return (f"Nothing that varies can change these models{cause}, so all {config.n_models} will be identical; "
                "vary a source that matters, such as split or bootstrap.")
    return f"Varying {no_effect}." if inert else None
