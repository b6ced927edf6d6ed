"""A cohort's figures beside the whole test set's: metrics, prediction ambiguity, explanation agreement.

`cohort_figures` measures a cohort (core.views.cohort) with the same functions as the whole comparison
(metrics.score_models, budget.ambiguity_interval, Summary's per-row agreement), so the cohort of
every test row, `Cohort()`, gives the whole test set's figures.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..agree import agreement as agr
from .. import format as fmt
from ..agree.verdict import noise_floor
from ..agree.intervals import Interval, ambiguity_interval
from .cohort import Cohort, cohort_mask
from ..run.compare import HEADLINE_METRIC, Comparison, Summary
from ..explainers.registry import METHODS
from ..agree.scores import SCORES, Scores, discrepancy, score_models
from ..seeding import numpy_generator

FEW_ROWS = 20  # below this many test rows a cohort's scores move by whole percents per row


@dataclass(frozen=True, eq=False)
class Figures:
    """A cohort measured as the whole comparison is.

    rows: (row,) dataset row ids of the cohort among the test rows every model saw (n_test of them);
    explained: (row,) those among the n_explained explained rows.
    scores: every model scored on `rows` (metrics.score_models); None without rows.
    ambiguity: prediction ambiguity on `rows` with its bootstrap interval over rows; None without rows.
    discrepancy: nan without rows.
    agreement: one line per (method, metric): agreement, the mean over the cohort's explained rows of
      the per-row mean over pairs of models (Summary.by_method[method].per_row); noise_floor, each model
      on half A against itself on half B, on the same rows (nan for deterministic methods). Empty without
      explained rows or with a single model.
    contested: Summary.contested restricted to the cohort's rows.
    notes: what could not be measured, or needs care, in plain words.
    """

    cohort: Cohort
    n_test: int
    n_explained: int
    rows: np.ndarray
    explained: np.ndarray
    scores: Scores | None
    ambiguity: Interval | None
    discrepancy: float
    agreement: pd.DataFrame
    contested: pd.DataFrame
    notes: tuple[str, ...]

    @property
    def accuracy(self) -> float:
        """Mean accuracy over models; nan without rows."""
        if self.scores is None:
            return float("nan")
        return float(self.scores.summary.at["mean", "rmse" if "rmse" in self.scores.summary else "accuracy"])

    def agreement_of(self, method: str, column: str = "agreement", metric: str = HEADLINE_METRIC) -> float:
        """One line of `agreement`: its agreement or noise_floor; nan where not measured."""
        line = self.agreement[(self.agreement["method"] == method) & (self.agreement["metric"] == metric)]
        return float(line[column].iloc[0]) if len(line) else float("nan")


def cohort_figures(comparison: Comparison, summary: Summary, cohort: Cohort) -> Figures:
    """The cohort's metrics, prediction ambiguity, explanation agreement and contested rows.

    Raises ConfigError when the cohort names a feature, value or class the data lacks.
    """
    ds, ev, ex = comparison.run.dataset, comparison.evaluation, comparison.explanation
    keep = cohort_mask(comparison, cohort)
    rows, n_models = ev.rows[keep], comparison.run.n_models
    in_explained = np.isin(ex.rows, rows)
    notes = []
    if "split" in comparison.run.config.vary:
        notes.append(f"The split varies across models, so these figures use the {len(ev.rows)} test rows every "
                     "model saw, not each model's own test set.")
    scores = ambiguity = None
    if len(rows):
        # Scored one model at a time, as metrics.evaluate does: scikit-learn's scores take one model's rows.
        scores = score_models([ds.y[rows]] * n_models, list(ev.proba[:, keep]), n_classes=ds.n_classes,
                              regression=ds.regression)
        ambiguity = ambiguity_interval(ev.predictions[:, keep], rng=numpy_generator(ex.config.seed, "ambiguity"),
                                       delta=ev.delta)
        if not ds.regression and scores.per_model["roc_auc"].isna().all():
            notes.append("ROC AUC is n/a: it needs rows of every class, and this cohort lacks some.")
        if len(rows) < FEW_ROWS:
            notes.append(f"Only {len(rows)} test row{'s' if len(rows) > 1 else ''}: "
                         + ("so few rows move its errors a lot" if ds.regression else
                            f"each row moves the cohort's accuracy by {fmt.percent(1 / len(rows))}")
                         + ", so read its figures as rough.")
    else:
        notes.append("No test row matches this cohort; widen a range or drop a condition.")
    if n_models < 2:
        notes.append("Agreement between models needs at least two models.")
    elif len(rows) and not in_explained.any():
        notes.append(f"None of the cohort's {len(rows)} test rows is among the {len(ex.rows)} explained rows, so "
                     "its explanation agreement cannot be measured; explain more rows or widen the cohort.")
    contested = summary.contested
    if not contested.empty:
        contested = contested[contested["row"].isin(rows)].reset_index(drop=True)
    return Figures(
        cohort=cohort, n_test=len(ev.rows), n_explained=len(ex.rows), rows=rows, explained=ex.rows[in_explained],
        scores=scores, ambiguity=ambiguity,
        discrepancy=discrepancy(ev.predictions[:, keep], delta=ev.delta) if len(rows) else float("nan"),
        agreement=_agreement(comparison, summary, in_explained) if n_models > 1 and in_explained.any()
        else pd.DataFrame(columns=["method", "metric", "agreement", "noise_floor"]),
        contested=contested, notes=tuple(notes))


def _agreement(comparison: Comparison, summary: Summary, in_explained: np.ndarray) -> pd.DataFrame:
    lines = []
    for name, ma in summary.by_method.items():
        attr = comparison.explanation.by_method[name]
        halves = None if attr.halves is None else attr.halves[:, :, in_explained]
        for metric in agr.METRICS:
            lines.append((name, metric, float(ma.per_row[metric][in_explained].mean()),
                          noise_floor(halves, metric=metric, k=summary.k)))
    return pd.DataFrame(lines, columns=["method", "metric", "agreement", "noise_floor"])


_SCORE_LABELS = {"balanced_accuracy": "Balanced accuracy", "macro_f1": "Macro F1", "roc_auc": "ROC AUC",
                 "log_loss": "Log loss (lower is better)", "ece": "Calibration error, ECE (lower is better)"}


def side_by_side(cohort: Figures, whole: Figures, summary: Summary) -> pd.DataFrame:
    """The cohort's figures beside the whole test set's, formatted for people (n/a where not measurable)."""
    n_models = len(summary.accuracy)

    def score(f: Figures, name: str, stat: str = "mean") -> str:
        if f.scores is None:
            return fmt.NA
        value = f.scores.summary.at[stat, name]
        return fmt.percent(value, 1) if name == "accuracy" else fmt.number(value)

    lines = [("Test rows (seen by every model)", lambda f: f"{len(f.rows)} of {f.n_test}"),
             ("Explained rows (explanations computed)", lambda f: f"{len(f.explained)} of {f.n_explained}")]
    if summary.regression:
        lines += [(f"RMSE, mean of {n_models} models", lambda f: score(f, "rmse")),
                  ("RMSE, most to least accurate model", lambda f: fmt.NA if f.scores is None else
                   f"{score(f, 'rmse', 'min')} to {score(f, 'rmse', 'max')}"),
                  ("MAE, mean", lambda f: score(f, "mae")), ("R², mean", lambda f: score(f, "r2"))]
    else:
        lines += [(f"Accuracy, mean of {n_models} models", lambda f: score(f, "accuracy")),
                  ("Accuracy, least to most accurate model", lambda f: fmt.NA if f.scores is None else
                   f"{score(f, 'accuracy', 'min')} to {score(f, 'accuracy', 'max')}")]
        lines += [(f"{label}, mean", lambda f, name=name: score(f, name)) for name, label in _SCORE_LABELS.items()
                  if name in SCORES]
    lines += [(f"Prediction ambiguity (some model departs from model 0 by more than {fmt.units(summary.delta)})"
               if summary.regression else "Prediction ambiguity (some model disagrees with model 0)",
               lambda f: fmt.NA if f.ambiguity is None else
               f"{fmt.percent(f.ambiguity.estimate, 1)} ({fmt.confidence(f.ambiguity)})"),
              ("Discrepancy (most rows a single model changes)", lambda f: fmt.percent(f.discrepancy, 1))]
    for method in summary.by_method:
        label = METHODS[method].label
        lines.append((f"{label}: top-{summary.k} feature agreement between models",
                      lambda f, m=method: fmt.percent(f.agreement_of(m))))
        if np.isfinite(whole.agreement_of(method, "noise_floor")):
            lines.append((f"{label}: explainer noise floor",
                          lambda f, m=method: fmt.percent(f.agreement_of(m, "noise_floor"))))
    chance = fmt.percent(summary.null[HEADLINE_METRIC])
    lines.append((f"Random rankings (chance agreement at top-{summary.k})", lambda f: chance))
    return pd.DataFrame([(label, show(cohort), show(whole)) for label, show in lines],
                        columns=["figure", "this cohort", "all test rows"])


def agreement_table(cohort: Figures, whole: Figures, summary: Summary) -> pd.DataFrame:
    """Every method and agreement metric, the cohort's beside the whole test set's (NaN where not measurable)."""
    merged = whole.agreement.merge(cohort.agreement, on=["method", "metric"], how="left", suffixes=("_all", ""))
    return pd.DataFrame({
        "method": [METHODS[m].label for m in merged["method"]],
        "metric": [summary.metric_labels[m].replace("@k", f"@{summary.k}") for m in merged["metric"]],
        "this cohort": merged["agreement"], "all test rows": merged["agreement_all"],
        "noise floor, this cohort": merged["noise_floor"], "noise floor, all test rows": merged["noise_floor_all"]})


def per_model_accuracy(cohort: Figures, whole: Figures) -> pd.DataFrame:
    """(model) accuracy inside the cohort beside accuracy on all test rows; NaN for an empty cohort."""
    name = "rmse" if "rmse" in whole.scores.per_model else "accuracy"
    inside = cohort.scores.per_model[name] if cohort.scores is not None else np.nan
    return pd.DataFrame({"this cohort": inside, "all test rows": whole.scores.per_model[name]})
