"""Cohorts: a subgroup of test rows, defined by simple filters, and the rows of a comparison it selects.

A `Cohort` is a frozen definition of simple filters: numeric bounds on features, values of a
categorical column (the one-hot features `core.training.data.from_frame` names "column=value"), the
predicted class and whether that prediction is right. The prediction of a row is the models'
majority vote (ties go to the lower class, as `explain.target_classes` picks the class it explains),
not model 0's: a cohort is a set of rows, and no single seed should decide which rows those are.

How a cohort's figures read beside the whole test set's is `core.views.cohort_figures`.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass

import numpy as np

from ..archive import text_problem
from ..run.compare import Comparison
from ..training.data import Dataset
from ..errors import ConfigError
from ..explainers.methods import majority_vote
from ..training.features import dataset_features

OPERATORS = {">=": np.greater_equal, ">": np.greater, "<=": np.less_equal, "<": np.less}
OUTCOMES = ("any", "correct", "incorrect")
_SYMBOLS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
_KEYS = ("bounds", "categories", "predicted", "outcome")
# A regression's bound on "predicted" reads the models' median prediction (unless the data has a feature of
# that name): predicted ranges take the place of a classifier's predicted classes.
PREDICTION = "predicted"
# The name is greedy, so the operator is the last one: a feature named "a<b" still reads "a<b>=3".
_BOUND = re.compile(r"^(.*)(>=|<=|>|<)\s*([^<>=]*)$")


@dataclass(frozen=True)
class Bound:
    """Rows whose `feature` value satisfies `op value`, op one of OPERATORS."""

    feature: str
    op: str
    value: float


@dataclass(frozen=True)
class Category:
    """Rows whose categorical `column` holds one of `values`."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Cohort:
    """Test rows meeting every condition; no condition at all means every test row.

    predicted: class names the majority vote must be one of (empty: any class);
    outcome: "any", "correct" or "incorrect" (the majority vote against the true class).
    """

    bounds: tuple[Bound, ...] = ()
    categories: tuple[Category, ...] = ()
    predicted: tuple[str, ...] = ()
    outcome: str = "any"

    def __post_init__(self):
        for b in self.bounds:
            if b.op not in OPERATORS:
                raise ConfigError(f"Unknown comparison {b.op!r} for {b.feature!r}; use one of {', '.join(OPERATORS)}.")
            if not np.isfinite(b.value):
                raise ConfigError(f"The bound on {b.feature!r} must be a finite number; got {b.value}.")
        for feature in dict.fromkeys(b.feature for b in self.bounds):
            _check_not_empty(feature, [b for b in self.bounds if b.feature == feature])
        columns = [c.column for c in self.categories]
        if len(set(columns)) < len(columns):
            raise ConfigError("Each categorical column may appear once in a cohort; list all its values together.")
        for c in self.categories:
            if not c.values:
                raise ConfigError(f"Choose at least one value of {c.column!r}, or drop the condition on it.")
        if self.outcome not in OUTCOMES:
            raise ConfigError(f"Outcome must be one of {', '.join(OUTCOMES)}; got {self.outcome!r}.")

    @property
    def is_everything(self) -> bool:
        return self == Cohort()

    def check(self, dataset: Dataset) -> None:
        """ConfigError unless every feature, column, value and class named exists in `dataset`."""
        for b in self.bounds:
            if b.feature == PREDICTION and dataset.regression and PREDICTION not in dataset.feature_names:
                continue
            if b.feature == PREDICTION and PREDICTION not in dataset.feature_names:
                raise ConfigError("A range on the prediction is for regression; to filter by a predicted class, "
                                  "write predicted=class.")
            if b.feature not in dataset.feature_names:
                raise ConfigError(f"The data has no feature {b.feature!r}{_close(b.feature, dataset.feature_names)}.")
        columns = categorical_columns(dataset)
        for c in self.categories:
            if c.column not in columns:
                known = ("its categorical columns are " + ", ".join(map(repr, columns))) if columns else \
                    "it has no categorical column; filter numeric features by range instead"
                raise ConfigError(f"The data has no categorical column {c.column!r}; {known}.")
            for value in c.values:
                if value not in columns[c.column]:
                    raise ConfigError(f"Column {c.column!r} has no value {value!r}; its values are "
                                      f"{', '.join(map(repr, columns[c.column]))}.")
        if self.predicted and dataset.regression:
            raise ConfigError("A regression predicts numbers, not classes: filter its rows by feature values, or by "
                              "whether the models' median prediction lies within the tolerance (outcome).")
        for name in self.predicted:
            if name not in dataset.class_names:
                raise ConfigError(f"There is no class {name!r}; the classes are "
                                  f"{', '.join(map(repr, dataset.class_names))}.")

    def describe(self, regression: bool = False) -> str:
        """The cohort in one plain sentence (regression: the outcome speaks of the median prediction)."""
        parts = [_describe_bounds(f, [b for b in self.bounds if b.feature == f],
                                  "the models' median prediction" if regression and f == PREDICTION else f)
                 for f in dict.fromkeys(b.feature for b in self.bounds)]
        parts += [f"{c.column} is {' or '.join(c.values)}" for c in self.categories]
        if self.predicted:
            parts.append(f"the models' majority vote is {' or '.join(self.predicted)}")
        if self.outcome != "any" and regression:
            parts.append(f"the models' median prediction lies {'within' if self.outcome == 'correct' else 'beyond'} "
                         "the tolerance of the true value")
        elif self.outcome != "any":
            subject = "that vote" if self.predicted else "the models' majority vote"
            parts.append(f"{subject} is {'right' if self.outcome == 'correct' else 'wrong'}")
        if not parts:
            return "All test rows."
        return "Test rows where " + (", ".join(parts[:-1]) + " and " if len(parts) > 1 else "") + parts[-1] + "."

    def to_json(self) -> str:
        return json.dumps({
            "bounds": [{"feature": b.feature, "op": b.op, "value": b.value} for b in self.bounds],
            "categories": [{"column": c.column, "values": list(c.values)} for c in self.categories],
            "predicted": list(self.predicted), "outcome": self.outcome}, ensure_ascii=False)

    @staticmethod
    def from_json(text: str | bytes | bytearray) -> Cohort:
        """A cohort from JSON as `to_json` writes it (keys may be left out); anything else is a ConfigError."""
        try:
            d = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"The cohort is not valid JSON ({exc}); write it as to_json does, "
                              'e.g. {"bounds": [{"feature": "age", "op": ">=", "value": 30}]}.') from None
        if not isinstance(d, dict) or not set(d) <= set(_KEYS):
            raise ConfigError(f"A cohort is a JSON object with the keys {', '.join(_KEYS)} (each optional).")
        bounds = [_record(b, {"feature": str, "op": str, "value": float}, "bounds") for b in _list(d, "bounds")]
        categories = [_record(c, {"column": str, "values": list}, "categories") for c in _list(d, "categories")]
        return Cohort(
            bounds=tuple(Bound(b["feature"], b["op"], float(b["value"])) for b in bounds),
            categories=tuple(Category(c["column"], _strings(c["values"], "values")) for c in categories),
            predicted=_strings(_list(d, "predicted"), "predicted"),
            outcome=_string(d.get("outcome", "any"), "outcome"))

    def to_text(self) -> str:
        """The cohort as `parse` reads it: conditions separated by commas."""
        parts = [f"{b.feature}{b.op}{b.value!r}" for b in self.bounds]
        parts += [f"{c.column}={'|'.join(c.values)}" for c in self.categories]
        parts += [f"predicted={'|'.join(self.predicted)}"] if self.predicted else []
        parts += [f"outcome={self.outcome}"] if self.outcome != "any" else []
        return ", ".join(parts)

    def to_option(self) -> str:
        """What to pass to `python -m core compare --cohort`: the typed form when it reads back as this
        cohort (no name holds a comma, "|" or an operator that confuses it), else JSON."""
        text = self.to_text()
        try:
            return text if Cohort.parse(text) == self else self.to_json()
        except ConfigError:
            return self.to_json()

    @staticmethod
    def parse(text: str) -> Cohort:
        """A cohort typed by a person, or JSON (text starting with "{").

        Conditions are separated by commas: `feature>=1.5`, `feature<3` (also > and <=),
        `column=value|value` for a categorical column, `predicted=class|class` (the majority
        vote; for regression `predicted>=100`, `predicted<200`: the models' median prediction)
        and `outcome=correct` or `outcome=incorrect`.
        """
        if text.lstrip().startswith("{"):
            return Cohort.from_json(text)
        bounds, categories, predicted, outcome = [], [], (), "any"
        for part in filter(None, (p.strip() for p in text.split(","))):
            numeric = _BOUND.match(part)
            try:
                bounds.append(Bound(numeric[1].strip(), numeric[2], float(numeric[3])))
                continue
            except (TypeError, ValueError):  # no operator, or no number after it: a category's "="
                pass
            name, sep, values = part.partition("=")
            name, values = name.strip(), tuple(v.strip() for v in values.split("|") if v.strip())
            if not sep or not name:
                raise ConfigError(f"Cannot read the condition {part!r}; write feature>=number, feature<number, "
                                  "column=value|value, predicted=class or outcome=correct|incorrect, "
                                  "separated by commas.")
            if name == "predicted":
                predicted = values
            elif name == "outcome":
                outcome = "|".join(values)
            else:
                categories.append(Category(name, values))
        return Cohort(tuple(bounds), tuple(categories), predicted, outcome)


def _check_not_empty(feature: str, bounds: list[Bound]) -> None:
    """ConfigError when the bounds on one feature leave no value between them."""
    lower = [b for b in bounds if b.op in (">=", ">")]
    upper = [b for b in bounds if b.op in ("<=", "<")]
    if not lower or not upper:
        return
    lo, hi = max(b.value for b in lower), min(b.value for b in upper)
    strict = any(b.op in (">", "<") and b.value in (lo, hi) for b in bounds)
    if lo > hi or (lo == hi and strict):
        shown = ", ".join(f"{b.op} {b.value:g}" for b in bounds)
        raise ConfigError(f"The conditions on {feature!r} ({shown}) leave no value; widen the range or drop one.")


def _describe_bounds(feature: str, bounds: list[Bound], name: str | None = None) -> str:
    feature = name or feature
    lower = [b for b in bounds if b.op in (">=", ">")]
    upper = [b for b in bounds if b.op in ("<=", "<")]
    if len(lower) == 1 and len(upper) == 1:
        lo, hi = lower[0], upper[0]
        return f"{lo.value:g} {_SYMBOLS['<=' if lo.op == '>=' else '<']} {feature} {_SYMBOLS[hi.op]} {hi.value:g}"
    return " and ".join(f"{feature} {_SYMBOLS[b.op]} {b.value:g}" for b in bounds)


def _close(name: str, names: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, names, n=3)
    shown = close or names[:20]
    return f"; {'similar names:' if close else 'its features are'} {', '.join(map(repr, shown))}"


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _string(value, what: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ConfigError(f"The cohort's {what} {problem}.")
    return value


def _strings(value, what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"The cohort's {what} must be a list of text, not {type(value).__name__}.")
    return tuple(_string(v, what) for v in value)


def _list(d: dict, key: str) -> list:
    value = d.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"The cohort's {key} must be a list, not {type(value).__name__}.")
    return value


def _record(value, fields: dict[str, type], where: str) -> dict:
    """An object with exactly `fields`, each of its type (float: any JSON number but true/false)."""
    if not isinstance(value, dict) or set(value) != set(fields):
        raise ConfigError(f"Each of the cohort's {where} is an object with the keys {', '.join(fields)}.")
    for key, kind in fields.items():
        if kind is str:
            _string(value[key], f"{where} {key}")
        elif kind is float and (type(value[key]) not in (int, float) or not abs(value[key]) < 2**63):
            raise ConfigError(f"The cohort's {where} {key} must be a finite number, not {value[key]!r}.")
        elif kind is list and not isinstance(value[key], list):
            raise ConfigError(f"The cohort's {where} {key} must be a list.")
    return value


def categorical_columns(dataset: Dataset) -> dict[str, dict[str, int]]:
    """column -> {value: feature index} for the one-hot groups of `core.training.data.from_frame` (core.training.features)."""
    return {f.name: dict(zip(f.categories, f.columns)) for f in dataset_features(dataset) if f.categorical}


def cohort_mask(comparison: Comparison, cohort: Cohort) -> np.ndarray:
    """(row,) bool over comparison.evaluation.rows, the test rows every model saw: True in the cohort."""
    ds, ev = comparison.run.dataset, comparison.evaluation
    cohort.check(ds)
    X, keep = ds.X[ev.rows], np.ones(len(ev.rows), dtype=bool)
    for b in cohort.bounds:
        if b.feature not in ds.feature_names:  # PREDICTION, checked above: a regression's median prediction
            keep &= OPERATORS[b.op](np.median(ev.predictions, axis=0), b.value)
            continue
        keep &= OPERATORS[b.op](X[:, ds.feature_names.index(b.feature)], b.value)
    columns = categorical_columns(ds)
    for c in cohort.categories:
        keep &= (X[:, [columns[c.column][v] for v in c.values]] == 1.0).any(axis=1)
    if ds.regression:  # right: the models' median prediction within the tolerance of the truth
        if cohort.outcome != "any":
            right = np.abs(np.median(ev.predictions, axis=0) - ds.y[ev.rows]) <= ev.delta
            keep &= right == (cohort.outcome == "correct")
        return keep
    vote = majority_vote(ev.predictions, ds.n_classes)
    if cohort.predicted:
        keep &= np.isin(vote, [ds.class_names.index(name) for name in cohort.predicted])
    if cohort.outcome != "any":
        keep &= (vote == ds.y[ev.rows]) == (cohort.outcome == "correct")
    return keep
