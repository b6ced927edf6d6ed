"""One comparison, end to end: train N models, score them, explain them, measure how much they agree.

`compare` does the expensive work once (training and explaining); `summarize`
derives everything shown to a user for a given k from its result and is cheap,
so a k slider or a page switch never retrains or re-explains.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from . import agreement as agr
from .data import Dataset
from .errors import ConfigError
from .explain import METHODS, ExplainConfig, Explanation, explain, split_methods
from .metrics import Evaluation, evaluate
from .seeding import SOURCES, numpy_generator
from .runtime import Progress, deterministic, stage
from .training import Run, RunConfig, train

HEADLINE_METRIC = "feature_agreement"
NOISE_MARGIN = 0.05  # between-model agreement this far below the noise floor counts as real disagreement


@dataclass(frozen=True, eq=False)
class Comparison:
    run: Run
    evaluation: Evaluation
    explanation: Explanation

    @property
    def predictions(self) -> np.ndarray:
        """(model, explained row) predicted class on the explained rows."""
        rows = self.explanation.rows
        position = np.searchsorted(self.evaluation.rows, rows)
        return self.evaluation.predictions[:, position]


def compare(dataset: Dataset, run_config: RunConfig, explain_config: ExplainConfig = ExplainConfig(), *,
            progress: Progress | None = None) -> Comparison:
    """Train, score and explain: the whole expensive part of a comparison."""
    split_methods(explain_config.methods, run_config.family, dataset.n_classes)  # before training, not after
    with deterministic():
        run = train(dataset, run_config, progress=stage(progress, 0.0, 0.4))
        evaluation = evaluate(run)
        explanation = explain(run, evaluation.rows, explain_config, progress=stage(progress, 0.4, 1.0))
    return Comparison(run, evaluation, explanation)


@dataclass(frozen=True, eq=False)
class MethodAgreement:
    """Agreement of one explanation method at one k.

    matrices: metric -> (model, model); between: metric -> mean over model pairs;
    noise_floor: metric -> agreement of model 0 with itself under another explainer seed
    (nan for deterministic methods, which have no sampling noise).
    """

    method: str
    matrices: dict[str, np.ndarray]
    between: dict[str, float]
    noise_floor: dict[str, float]


@dataclass(frozen=True, eq=False)
class Summary:
    k: int
    tolerance: float
    by_method: dict[str, MethodAgreement]
    null: dict[str, float]  # metric -> agreement two random rankings would have
    pairs: pd.DataFrame  # equal accuracy, different logic (headline method and metric)
    all_pairs: pd.DataFrame  # every pair of models, same columns, for the accuracy-gap vs agreement view
    accuracy_ci: tuple[np.ndarray, np.ndarray]  # (model, model) bootstrap CI of accuracy differences
    contested: pd.DataFrame
    divergent: pd.DataFrame
    ranks: pd.DataFrame  # long form (feature, model, rank)
    sign_flips: np.ndarray  # (feature,) bool
    headline_method: str
    headline: str


def method_agreement(attr, *, k: int) -> MethodAgreement:
    matrices, between, floor = {}, {}, {}
    for metric in agr.METRICS:
        matrices[metric] = agr.agreement_matrix(attr.values, metric=metric, k=k)
        between[metric] = agr.mean_off_diagonal(matrices[metric])
        floor[metric] = (float(agr.METRICS[metric](attr.values[0], attr.repeat, k=k).mean())
                         if attr.repeat is not None else float("nan"))
    return MethodAgreement(attr.method, matrices, between, floor)


def headline_method(methods: tuple[str, ...]) -> str:
    """The method the headline speaks about: SHAP where available, else the first one run."""
    for name in ("kernel_shap", "tree_shap", "deep_shap", "lime", "integrated_gradients"):
        if name in methods:
            return name
    return methods[0]


def default_k(n_features: int) -> int:
    """5, or half the features when there are fewer than 10 (k = all features would agree trivially)."""
    return max(1, min(5, n_features // 2))


def summarize(comparison: Comparison, *, k: int = 5, tolerance: float = 0.01) -> Summary:
    """Everything the app, the CLI and the report show, for agreement at top-k."""
    ex, ev, ds = comparison.explanation, comparison.evaluation, comparison.run.dataset
    seed = ex.config.seed
    by_method = {name: method_agreement(attr, k=k) for name, attr in ex.by_method.items()}
    null = {m: agr.null_baseline(ds.n_features, metric=m, k=k, rng=numpy_generator(seed, "null_baseline"))
            for m in agr.METRICS}
    head = headline_method(ex.methods)
    values = ex.by_method[head].values
    multi = comparison.run.n_models > 1
    preds = comparison.predictions
    return Summary(
        k=k, tolerance=tolerance, by_method=by_method, null=null,
        pairs=agr.equal_accuracy_pairs(ev.accuracy, by_method[head].matrices[HEADLINE_METRIC], tolerance=tolerance),
        all_pairs=agr.equal_accuracy_pairs(ev.accuracy, by_method[head].matrices[HEADLINE_METRIC], tolerance=1.0),
        accuracy_ci=agr.accuracy_difference_ci(ev.correct, rng=numpy_generator(seed, "accuracy_ci")),
        contested=agr.contested_rows(values, preds, metric=HEADLINE_METRIC, k=k) if multi else pd.DataFrame(),
        divergent=agr.same_prediction_divergent_rows(values, preds, k=k) if multi else pd.DataFrame(),
        ranks=agr.rank_distribution(values, list(ds.feature_names)),
        sign_flips=agr.sign_flips(values),
        headline_method=head,
        headline=_headline(comparison, by_method[head], null[HEADLINE_METRIC], k),
    )


def _headline(comparison: Comparison, agreement: MethodAgreement, null: float, k: int) -> str:
    """The finding in one sentence, read against the explainer's own noise floor when it has one."""
    acc = comparison.evaluation.accuracy
    n = len(acc)
    label = METHODS[agreement.method].label
    if n < 2:
        return f"1 model, accuracy {100 * acc.mean():.1f}%; train at least two models to compare their explanations."
    spread = f"accuracy {100 * acc.mean():.1f}% ± {100 * acc.std(ddof=1):.1f}"
    between, floor = agreement.between[HEADLINE_METRIC], agreement.noise_floor[HEADLINE_METRIC]
    if between >= 0.999:
        return f"{n} models, {spread}; their top-{k} {label} features agree completely."
    agree = f"their top-{k} {label} features agree on {100 * between:.0f}% on average"
    chance = f"random rankings {100 * null:.0f}%"
    if not np.isfinite(floor):
        return f"{n} models, {spread}; yet {agree} ({chance})."
    if between < floor - NOISE_MARGIN:
        return (f"{n} models, {spread}; yet {agree}, well below the explainer's noise floor of "
                f"{100 * floor:.0f}% ({chance}): the models weigh their features differently.")
    return (f"{n} models, {spread}; {agree}, within the explainer's noise floor of {100 * floor:.0f}% "
            f"({chance}): no sign of different logic beyond the explainer's own noise.")


def source_spread(dataset: Dataset, run_config: RunConfig, explain_config: ExplainConfig, *,
                  sources: tuple[str, ...] = SOURCES, k: int = 5,
                  progress: Progress | None = None) -> pd.DataFrame:
    """How much of the spread in accuracy and in explanations each source of randomness accounts for.

    Trains one run per source with only that source varying (all else held fixed), and
    compares their accuracy spread and headline-metric disagreement (agreement.variance_share).
    """
    # Only the headline method's agreement is read, so only it runs, without its noise-floor repeat.
    explain_config = replace(explain_config, methods=(headline_method(explain_config.methods),), noise_floor=False)
    spread, unmeasured = {}, {}
    for i, source in enumerate(sources):
        step = stage(progress, i / len(sources), (i + 1) / len(sources))
        try:
            result = compare(dataset, replace(run_config, vary=frozenset({source})), explain_config, progress=step)
        except ConfigError as exc:  # e.g. varying the split leaves no test row shared by every model
            unmeasured[source] = str(exc)
            continue
        (values,) = [a.values for a in result.explanation.by_method.values()]
        matrix = agr.agreement_matrix(values, metric=HEADLINE_METRIC, k=k)
        spread[source] = (result.evaluation.accuracy, matrix)
    shares = agr.variance_share(spread) if spread else pd.DataFrame(columns=["source"])
    shares["note"] = ""
    missing = pd.DataFrame({"source": list(unmeasured), "note": [f"not measured: {m}" for m in unmeasured.values()]})
    return pd.concat([shares, missing], ignore_index=True) if unmeasured else shares
