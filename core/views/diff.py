"""Run against run: do the models of two comparisons agree with each other as well as among themselves?

Two comparisons on the same features (two library versions, data versions, hyperparameters or
model families) are compared on one explanation method and metric: agreement within A, within B,
and between A's and B's models; accuracy of each; the features whose importance rank moved most;
the rows whose majority prediction changed; and the settings that differ.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..agree import agreement as agr
from ..agree.topk import check_k
from ..run.compare import HEADLINE_METRIC, Comparison, default_k, headline_method
from ..errors import ConfigError
from ..agree.pairs import agreement_matrix

_MIN_SHARED_ROWS = 10  # fewer rows explained in both runs: agreement per row would be mostly noise


@dataclass(frozen=True, eq=False)
class RunDiff:
    method: str
    metric: str
    k: int
    level: str  # "rows": per row on the rows both explained (at least 10); else "global importance" per model
    accuracy: tuple[np.ndarray, np.ndarray]  # (model,) of A, of B
    within: tuple[float, float]  # mean agreement over pairs of A's models, of B's
    between: float  # mean agreement over pairs (one of A's models, one of B's)
    rank_moves: pd.DataFrame  # feature, rank_a, rank_b (mean global-importance rank), move = rank_b - rank_a
    changed_rows: pd.DataFrame  # row (dataset row id), majority_a, majority_b: explained in both, majority changed
    settings: pd.DataFrame  # setting, a, b, differs
    regression: bool = False  # accuracy then holds RMSE, and changed_rows the rows whose median prediction moved


def _settings(c: Comparison) -> dict[str, str]:
    flat = {"dataset": c.run.dataset.name, "dataset content hash": c.run.dataset.content_hash,
            **{f"library {name}": version for name, version in c.libraries.items()}}
    for prefix, config in (("run", c.run.config), ("explain", c.explanation.config)):
        for name, value in dataclasses.asdict(config).items():
            if isinstance(value, dict):
                flat |= {f"{prefix}.{name}.{key}": str(v) for key, v in value.items()}
            else:
                flat[f"{prefix}.{name}"] = str(sorted(value) if isinstance(value, frozenset) else value)
    return flat


def _majority(predictions: np.ndarray) -> np.ndarray:
    """(model, row) -> (row,) most predicted class, ties to the lower class."""
    counts = (predictions[:, :, None] == np.arange(predictions.max() + 1)).sum(axis=0)
    return counts.argmax(axis=-1)


def diff_runs(a: Comparison, b: Comparison, *, k: int | None = None, method: str | None = None,
              metric: str = HEADLINE_METRIC) -> RunDiff:
    names_a, names_b = a.run.dataset.feature_names, b.run.dataset.feature_names
    if a.run.dataset.task != b.run.dataset.task:
        raise ConfigError(f"Run A is a {a.run.dataset.task} and run B a {b.run.dataset.task}: their models answer "
                          "different questions, so their explanations cannot be compared.")
    if names_a != names_b:
        only_a = [n for n in names_a if n not in names_b]
        only_b = [n for n in names_b if n not in names_a]
        detail = (f"only in A: {', '.join(only_a) or 'none'}; only in B: {', '.join(only_b) or 'none'}"
                  if only_a or only_b else "the same columns in another order")
        raise ConfigError(f"The two runs must have the same features to be compared ({detail}).")
    method = method or headline_method(a.explanation.methods)
    if method not in a.explanation.by_method or method not in b.explanation.by_method:
        raise ConfigError(f"Method {method!r} must have run in both comparisons; A ran "
                          f"{', '.join(a.explanation.methods)} and B ran {', '.join(b.explanation.methods)}.")
    if metric not in agr.METRICS:
        raise ConfigError(f"Unknown agreement metric {metric!r}; pick one of {', '.join(agr.METRICS)}.")
    k = default_k(len(names_a)) if k is None else k
    check_k(k, len(names_a))
    va, vb = a.explanation.by_method[method].values, b.explanation.by_method[method].values
    same_data = a.run.dataset.content_hash == b.run.dataset.content_hash
    rows = np.intersect1d(a.explanation.rows, b.explanation.rows) if same_data else np.array([], dtype=int)
    if len(rows) >= _MIN_SHARED_ROWS:  # explanation rows are sorted: positions by binary search
        pa, pb = np.searchsorted(a.explanation.rows, rows), np.searchsorted(b.explanation.rows, rows)
        both, level = np.concatenate([va[:, pa], vb[:, pb]]), "rows"
    else:  # other data, or too few rows in common: compare what each model relies on overall
        both, level = np.concatenate([agr.global_importance(va), agr.global_importance(vb)])[:, None], \
            "global importance"
    matrix = agreement_matrix(both, metric=metric, k=k)
    n_a = len(va)
    ranks_a, ranks_b = agr.importance_ranks(va).mean(axis=0), agr.importance_ranks(vb).mean(axis=0)
    moves = pd.DataFrame({"feature": list(names_a), "rank_a": ranks_a, "rank_b": ranks_b,
                          "move": ranks_b - ranks_a})
    moves = moves.reindex(moves["move"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)
    changed = pd.DataFrame(columns=["row", "majority_a", "majority_b"])
    regression = a.run.dataset.regression
    if level == "rows" and regression:  # the models' median prediction moved by more than A's tolerance
        median_a, median_b = np.median(a.predictions[:, pa], axis=0), np.median(b.predictions[:, pb], axis=0)
        flip = np.abs(median_a - median_b) > a.evaluation.delta
        changed = pd.DataFrame({"row": rows[flip], "majority_a": [f"{v:.4g}" for v in median_a[flip]],
                                "majority_b": [f"{v:.4g}" for v in median_b[flip]]})
    elif level == "rows":
        majority_a, majority_b = _majority(a.predictions[:, pa]), _majority(b.predictions[:, pb])
        flip = majority_a != majority_b
        classes_a, classes_b = a.run.dataset.class_names, b.run.dataset.class_names
        changed = pd.DataFrame({"row": rows[flip], "majority_a": [classes_a[c] for c in majority_a[flip]],
                                "majority_b": [classes_b[c] for c in majority_b[flip]]})
    sa, sb = _settings(a), _settings(b)
    keys = list(dict.fromkeys([*sa, *sb]))
    settings = pd.DataFrame({"setting": keys, "a": [sa.get(key, "") for key in keys],
                             "b": [sb.get(key, "") for key in keys]})
    settings["differs"] = settings["a"] != settings["b"]
    return RunDiff(method, metric, k, level, (a.evaluation.accuracy, b.evaluation.accuracy),
                   (agr.mean_off_diagonal(matrix[:n_a, :n_a]), agr.mean_off_diagonal(matrix[n_a:, n_a:])),
                   float(matrix[:n_a, n_a:].mean()), moves, changed, settings, regression)
