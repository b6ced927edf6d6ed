"""One comparison, end to end: train N models, score them, explain them, measure how much they agree.

`compare` does the expensive work once (training and explaining); `summarize`
derives everything shown to a user for a given k from its result and is cheap,
so a k slider or a page switch never retrains or re-explains.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..agree import agreement as agr
from ..agree.topk import HEADLINE_METRIC, check_k, default_k
from ..agree.verdict import Verdict, like_with_like, noise_floor
from .. import format as fmt
from ..agree.intervals import Interval, SeedBudget, ambiguity_interval, seed_budget
from ..training.data import Dataset, load_builtin
from ..errors import ConfigError
from ..explainers.registry import MAX_DOUBLINGS, METHODS, ExplainConfig, split_methods
from ..explainers.methods import Explanation, draw_lime_ahead, explain, explain_rows, model0_training_rows
from ..agree.groups import GROUP_THRESHOLD, feature_groups, group_name, group_values
from ..agree.scores import RMSE_TOLERANCE, Evaluation, common_rows, evaluate
from ..agree.pairs import agreement_matrix, method_matrices, pair_summary
from ..runtime import Progress, deterministic, library_versions, spread, stage, throttled
from ..seeding import SOURCES, numpy_generator
from ..training.config import MLPConfig, RunConfig
from ..training.fit import Run, check_model, split_rows, train



@dataclass(frozen=True, eq=False)
class Comparison:
    run: Run
    evaluation: Evaluation
    explanation: Explanation
    libraries: dict[str, str] = field(default_factory=library_versions)  # what it was computed with

    @property
    def predictions(self) -> np.ndarray:
        """(model, explained row) predicted class on the explained rows (regression: predicted value)."""
        rows = self.explanation.rows
        position = np.searchsorted(self.evaluation.rows, rows)
        return self.evaluation.predictions[:, position]


def compare(dataset: Dataset, run_config: RunConfig, explain_config: ExplainConfig = ExplainConfig(), *,
            progress: Progress | None = None, delta: float | None = None) -> Comparison:
    """Train, score and explain: the whole expensive part of a comparison. delta: for regression, how far
    apart two predictions must be to differ, in the target's units (None: scores.default_delta)."""
    check_model(run_config, dataset.task)
    split_methods(explain_config.methods, run_config.family, dataset.n_classes)  # before training, not after
    if delta is not None and not delta > 0:
        raise ConfigError(f"The tolerance must be positive, in the target's units; got {delta}.")
    with deterministic():
        splits = split_rows(dataset, run_config)
        # The rows explain will explain: explain_rows of the rows every model is tested on (evaluate's).
        explained = len(explain_rows(common_rows(list(splits[2])), explain_config.max_rows, explain_config.seed))
        normals = draw_lime_ahead(explain_config, explained, dataset.n_features)  # while the models train
        try:
            run = train(dataset, run_config, progress=stage(throttled(progress), 0.0, 0.4), splits=splits)
        finally:  # past training the draws would only take a core from the explainers; LIME draws the rest
            for stream in normals.values():
                stream.stop()
        evaluation = evaluate(run, delta=delta)
        explanation = explain(run, evaluation.rows, explain_config, progress=stage(throttled(progress), 0.4, 1.0),
                              normals=normals)
    return Comparison(run, evaluation, explanation)


@dataclass(frozen=True, eq=False)
class MethodAgreement:
    """Agreement of one explanation method's attributions at one k, each number derived once.

    For each agreement metric (agreement.METRICS), from every pair's score on every row (core.agree.pairs):
    matrices (model, model) of the row means; between, their mean over pairs (every model explained on
    the same samples: the most precise estimate); per_row (row,), the mean over pairs; noise_floor, how
    far one explanation of one model can be trusted: each model explained on two independent halves of
    the samples against itself, averaged over models (nan for deterministic methods, which have no
    sampling noise, and for explanations without halves).
    importance: (model, feature) mean |attribution| over the explained rows.
    verdict: the like-with-like test at the headline metric (core.agree.verdict); None for one model, or
    for a sampling method explained once, without halves (noise_floor off, or a bundle from before the test).
    """

    method: str
    matrices: dict[str, np.ndarray]
    between: dict[str, float]
    per_row: dict[str, np.ndarray]
    noise_floor: dict[str, float]
    importance: np.ndarray
    verdict: Verdict | None = None


@dataclass(frozen=True, eq=False)
class Summary:
    """Everything the app, the report, the bundle and the CLI show of a comparison at one k.

    Pages and the report only format and draw it. Row frames (contested, divergent) hold
    dataset row ids; model indices are positions in the run.
    """

    k: int
    tolerance: float
    rows: np.ndarray  # (row,) dataset row ids explained
    by_method: dict[str, MethodAgreement]
    method_matrices: dict[str, np.ndarray]  # metric -> (model, method, method), methods in by_method's order
    metric_labels: dict[str, str]  # agreement metric -> label for people
    null: dict[str, float]  # metric -> agreement two random rankings would have
    accuracy: np.ndarray  # (model,) test accuracy (regression: RMSE, in the target's units)
    accuracy_mean: float
    accuracy_std: float  # across models, ddof=1; nan for a single model
    all_pairs: pd.DataFrame  # every pair of models (agreement.model_pairs), headline method and metric
    pairs: pd.DataFrame  # the pairs of equal accuracy, least agreeing first
    accuracy_ci: tuple[np.ndarray, np.ndarray]  # (model, model) bootstrap CI of accuracy differences
    contested: pd.DataFrame  # per explained row, least agreeing first; empty for one model
    divergent: pd.DataFrame  # rows every model predicts alike, most divergent first; empty for one model
    ranks: pd.DataFrame  # long form (feature, model, rank), headline method
    sign_flips: np.ndarray  # (feature,) bool, headline method
    groups: tuple[tuple[int, ...], ...]  # correlated features (groups.feature_groups), by first feature index
    group_names: tuple[str, ...]
    group_threshold: float
    group_k: int  # top-k at the group level: k, or fewer when there are few groups
    group_by_method: dict[str, MethodAgreement]  # every metric again on group-level attributions
    group_null: dict[str, float]
    grouping: str  # the group-level finding in plain words
    budget: SeedBudget | None  # agreement interval over models, curves against n; None for one model
    ambiguity: Interval  # prediction ambiguity with its interval over rows
    headline_method: str
    headline: str
    precision: str  # the explanation's precision setting ("auto" or "fixed"), which the verdict's advice reads
    delta: float | None = None  # regression: the tolerance in target units (Evaluation.delta); None classifies

    @property
    def regression(self) -> bool:
        return self.delta is not None

    @property
    def quality_name(self) -> str:
        return "RMSE" if self.regression else "accuracy"

    @property
    def accuracy_spread(self) -> str:
        """'91.2% ± 1.3' (accuracy), or '54.1 ± 0.9' (RMSE, in the target's units)."""
        if self.regression:
            return fmt.error_spread(self.accuracy_mean, self.accuracy_std)
        return fmt.accuracy_spread(self.accuracy_mean, self.accuracy_std)

    def quality(self, value: float) -> str:
        """One model's accuracy or RMSE as shown: '93.0%' or '54.1'."""
        return fmt.units(value) if self.regression else fmt.percent(value, 1)

    @property
    def tolerance_text(self) -> str:
        """What equally accurate means: 'within 1% accuracy of each other', or 'within 2.9 RMSE of each
        other (5% of the mean RMSE)'."""
        if self.regression:
            return f"within {fmt.units(self.tolerance)} RMSE of each other (5% of the mean RMSE)"
        return f"within {fmt.percent(self.tolerance)} accuracy of each other"


def method_agreement(attr, *, k: int) -> MethodAgreement:
    summaries = {m: pair_summary(attr.values, metric=m, k=k) for m in agr.METRICS}
    matrices = {m: matrix for m, (matrix, _) in summaries.items()}
    return MethodAgreement(
        attr.method, matrices,
        between={m: agr.mean_off_diagonal(matrix) for m, matrix in matrices.items()},
        per_row={m: per_row for m, (_, per_row) in summaries.items()},
        noise_floor={m: noise_floor(attr.halves, metric=m, k=k) for m in agr.METRICS},
        importance=agr.global_importance(attr.values),
        verdict=(None if METHODS[attr.method].stochastic and attr.halves is None else  # sampled once: untested
                 like_with_like(attr.values, attr.halves, metric=HEADLINE_METRIC, k=k, samples=attr.samples)),
    )


def headline_method(methods: tuple[str, ...]) -> str:
    """The method the headline speaks about: SHAP where available, else the first one run."""
    for name in ("kernel_shap", "tree_shap", "deep_shap", "lime", "integrated_gradients"):
        if name in methods:
            return name
    return methods[0]


def summarize(comparison: Comparison, *, k: int | None = None, tolerance: float = 0.01,
              group_threshold: float = GROUP_THRESHOLD) -> Summary:
    """Everything the app, the CLI and the report show, for agreement at top-k (None: default_k),
    with features grouped at |Spearman rho| >= group_threshold."""
    ex, ev, ds = comparison.explanation, comparison.evaluation, comparison.run.dataset
    delta = ev.delta
    if delta is not None:  # equal error: RMSEs within RMSE_TOLERANCE of the mean RMSE
        tolerance = RMSE_TOLERANCE * float(np.mean(ev.accuracy))
    k = default_k(ds.n_features) if k is None else k
    check_k(k, ds.n_features)
    seed = ex.config.seed
    groups = feature_groups(model0_training_rows(comparison.run), threshold=group_threshold)
    group_k = min(k, default_k(len(groups)))
    # Every method's agreement, feature by feature and group by group, and the methods' matrices per
    # metric: independent numpy work, shared out among the cores (numpy releases the GIL).
    attrs, values = ex.by_method.values(), {n: a.values for n, a in ex.by_method.items()}
    jobs = ([functools.partial(method_agreement, attr, k=k) for attr in attrs]
            + [functools.partial(_group_agreement, attr, groups, k=group_k) for attr in attrs]
            + [functools.partial(method_matrices, values, metric=m, k=k) for m in agr.METRICS])
    done = spread(lambda job: job(), jobs)
    n = len(ex.by_method)
    by_method, group_by_method = dict(zip(ex.by_method, done[:n])), dict(zip(ex.by_method, done[n:2 * n]))
    matrices_by_metric = dict(zip(agr.METRICS, done[2 * n:]))
    null = {m: agr.null_baseline(ds.n_features, metric=m, k=k, rng=numpy_generator(seed, "null_baseline"))
            for m in agr.METRICS}
    head = headline_method(ex.methods)
    head_values, head_agreement = ex.by_method[head].values, by_method[head]
    multi = comparison.run.n_models > 1
    preds, row_agreement = comparison.predictions, head_agreement.per_row[HEADLINE_METRIC]
    all_pairs = agr.model_pairs(ev.accuracy, head_agreement.matrices[HEADLINE_METRIC], tolerance=tolerance)
    accuracy = ev.scores.summary["rmse" if delta is not None else "accuracy"]
    if delta is None:
        accuracy_ci = agr.accuracy_difference_ci(ev.correct, rng=numpy_generator(seed, "accuracy_ci"))
    else:
        squared = (ev.predictions - ds.y[ev.rows][None, :]) ** 2
        accuracy_ci = agr.rmse_difference_ci(squared, rng=numpy_generator(seed, "accuracy_ci"))
    group_null = {m: agr.null_baseline(len(groups), metric=m, k=group_k, rng=numpy_generator(seed, "null_baseline"))
                  for m in agr.METRICS}
    group_names = tuple(group_name(g, ds.feature_names) for g in groups)
    summary = Summary(
        k=k, tolerance=tolerance, rows=ex.rows, by_method=by_method,
        method_matrices=matrices_by_metric,
        metric_labels={m: metric.label for m, metric in agr.METRICS.items()}, null=null,
        accuracy=ev.accuracy, accuracy_mean=float(accuracy["mean"]),
        accuracy_std=float(accuracy["std"]) if multi else float("nan"),
        all_pairs=all_pairs, pairs=all_pairs[all_pairs["equal_accuracy"]].reset_index(drop=True),
        accuracy_ci=accuracy_ci,
        contested=agr.contested_rows(row_agreement, preds, ex.rows, delta) if multi else pd.DataFrame(),
        divergent=(agr.same_prediction_divergent_rows(row_agreement, preds, ex.rows, delta) if multi
                   else pd.DataFrame()),
        ranks=agr.rank_distribution(head_values, list(ds.feature_names)),
        sign_flips=agr.sign_flips(head_values),
        groups=groups, group_names=group_names, group_threshold=group_threshold, group_k=group_k,
        group_by_method=group_by_method, group_null=group_null,
        grouping=_grouping(by_method[head], group_by_method[head], groups, group_names, group_k, multi),
        budget=(seed_budget(head_agreement.matrices[HEADLINE_METRIC], ev.accuracy, ev.predictions,
                            rng=numpy_generator(seed, "seed_budget"), delta=delta) if multi else None),
        ambiguity=ambiguity_interval(ev.predictions, rng=numpy_generator(seed, "ambiguity"), delta=delta),
        headline_method=head, headline="", precision=ex.config.precision, delta=delta,
    )
    return replace(summary, headline=_headline(summary, null[HEADLINE_METRIC]))


def _group_agreement(attr, groups, *, k: int) -> MethodAgreement:
    return method_agreement(_grouped(attr, groups), k=k)


def _grouped(attr, groups):
    """The attributions (and their halves) summed within each group of features."""
    halves = None if attr.halves is None else group_values(attr.halves, groups)
    return replace(attr, values=group_values(attr.values, groups), halves=halves)


VERDICT_LABELS = {"differ": "Yes", "same": "No", "inconclusive": "Undecided"}  # do the models differ?


def grouping_explains(before: float, after: float) -> bool:
    """Whether counting correlated features as one group removes over half of the disagreement
    (agreement `before` feature by feature, `after` group by group)."""
    return after - before > 0.5 * (1 - before)


def verdict_text(v: Verdict | None, method: str, *, precision: str = "auto") -> str:
    """The like-with-like test in one sentence, with its reason: what the headline, the story, the
    report and the CLI say about whether the models differ."""
    if v is None:
        return "Train at least two models to test whether they differ."
    m = METHODS[method]
    d = v.difference
    margin = f"{100 * v.margin:.0f}-point margin"
    if not m.stochastic:
        gap = (f"{m.label} has no sampling noise, so the models' agreement below 100% is their own "
               f"({fmt.points(d.estimate)}, {fmt.difference_interval(d)})")
    else:
        gap = (f"on independent halves of the samples, two models agree on "
               f"{fmt.percent(v.between)} where one model agrees with itself on {fmt.percent(v.within)} "
               f"({fmt.points(d.estimate)}, {fmt.difference_interval(d)})")
    if v.outcome == "differ":
        return f"The models weigh their features differently: {gap}."
    if v.outcome == "same":
        return f"No detectable difference between the models: {gap}, within the {margin}."
    if not np.isfinite(d.lo):
        why = "two models on one explained row give no interval: explain more rows or train more models"
    elif not m.stochastic or v.se_models >= v.se_rows:
        why = "more models would decide"  # most of the interval is the models' own spread
    elif v.within == 1.0:
        why = f"more models or rows would decide ({m.label} has no sampling noise left here)"
    elif precision == "fixed":
        why = f"more {m.unit} would decide (precision auto draws them until the test decides)"
    else:
        why = (f"more {m.unit} (precision auto draws up to {2 ** MAX_DOUBLINGS} times the configured ones where that "
               "can decide), or more rows, would decide")
    at = f" at {v.samples:,} {m.unit}" if m.stochastic else ""
    return f"Inconclusive{at}: {gap}; {why}."


def _grouping(features: MethodAgreement, grouped: MethodAgreement, groups, names, group_k: int, multi: bool) -> str:
    """How much of the disagreement goes away when correlated features count as one, read with the
    like-with-like test at both levels so that it never contradicts the headline."""
    merged = [(len(g), name) for g, name in zip(groups, names) if len(g) > 1]
    if not merged:
        return "No two features are correlated enough to group; the feature-level agreement stands as it is."
    largest = "; ".join(name for _, name in sorted(merged, key=lambda item: -item[0])[:3])
    if not multi:
        return f"{len(groups)} groups of correlated features; the largest: {largest}."
    before, after = features.between[HEADLINE_METRIC], grouped.between[HEADLINE_METRIC]
    level, there = (v.outcome if v else "untested" for v in (features.verdict, grouped.verdict))
    if before >= 0.999:  # what the headline says then, whatever the test: complete agreement
        reading = "as feature by feature, the models agree completely"
    elif level == "untested":
        reading = "whether the models differ was not tested (explained without a noise floor)"
    elif level != "differ":
        reading = ("as feature by feature, no detectable difference between the models" if level == "same" else
                   "whether the models differ is, as feature by feature, not decided")
    elif there == "same":
        reading = ("the difference is which of correlated features a model leans on: counted as groups, no "
                   "detectable difference remains")
    elif there == "differ":
        reading = ("grouping removes most of the disagreement, but the models still differ beyond picking among "
                   "correlated features" if grouping_explains(before, after) else
                   "the models differ beyond picking among correlated features")
    elif grouping_explains(before, after):
        reading = ("most of the difference is which of correlated features a model leans on (whether any remains "
                   "beyond that is not decided at the group level)")
    else:
        reading = "whether they differ beyond picking among correlated features is not decided at the group level"
    d = grouped.verdict.difference if grouped.verdict else None
    test = f"; like with like, {fmt.points(d.estimate)} ({fmt.difference_interval(d)})" if d else ""
    return (f"At the level of {len(groups)} correlated groups, top-{group_k} agreement is {fmt.percent(after)} "
            f"against {fmt.percent(before)} feature by feature{test}: {reading}. Largest groups: {largest}.")


def _headline(s: Summary, null: float) -> str:
    """The finding in one sentence: how much the models agree (the same-samples estimate, with its
    interval over models and how far it moves with the explainer's seed), then the like-with-like test."""
    n, k, agreement = len(s.accuracy), s.k, s.by_method[s.headline_method]
    label = METHODS[s.headline_method].label
    if n < 2:
        return (f"1 model, {s.quality_name} {s.quality(s.accuracy_mean)}; train at least two models to compare "
                "their explanations.")
    spread = f"{s.quality_name} {s.accuracy_spread}"
    between, v = agreement.between[HEADLINE_METRIC], agreement.verdict
    if between >= 0.999:
        return f"{n} models, {spread}; their top-{k} {label} features agree completely."
    seed = (f", ±{fmt.points(v.seed_spread, signed=False)} with the explainer's seed"
            if v is not None and v.samples is not None and round(100 * v.seed_spread) >= 1 else "")
    agree = (f"their top-{k} {label} features agree on {fmt.percent(between)} on average "
             f"({fmt.confidence(s.budget.agreement)}{seed}; random rankings {fmt.percent(null)})")
    if v is None:
        return (f"{n} models, {spread}; {agree}. Explained once, without two halves of the samples (noise floor "
                "off, or by a SeedScope before the test), so whether the models differ beyond the explainer's noise "
                "is not tested.")
    return f"{n} models, {spread}; {agree}. {verdict_text(v, s.headline_method, precision=s.precision)}"


def warm_up() -> None:
    """A tiny comparison whose results are thrown away, so that the libraries' one-time set-up happens
    here and not in a user's first run: torch.optim imports TorchDynamo when first used (over a
    second), and the first kernels, k-means, shap and lime each set something up. A fresh process's
    first demo run took 5.9 s, later ones 3.6-4.2 s; this takes about 1.5 s."""
    dataset = load_builtin("breast_cancer")
    comparison = compare(dataset, RunConfig(n_models=2, mlp=MLPConfig(epochs=1)),
                         ExplainConfig(max_rows=2, kernel_samples=64, lime_samples=100))
    summarize(comparison, k=None)


def source_spread(dataset: Dataset, run_config: RunConfig, explain_config: ExplainConfig, *,
                  sources: tuple[str, ...] = SOURCES, k: int | None = None,
                  progress: Progress | None = None) -> pd.DataFrame:
    """How much of the spread in accuracy and in explanations each source of randomness accounts for.

    Trains one run per source with only that source varying (all else held fixed), and
    compares their accuracy spread and headline-metric disagreement (agreement.variance_share).
    """
    k = default_k(dataset.n_features) if k is None else k
    check_k(k, dataset.n_features)
    # Only the headline method's agreement is read, so only it runs, without its two halves.
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
        matrix = agreement_matrix(values, metric=HEADLINE_METRIC, k=k)
        spread[source] = (result.evaluation.accuracy, matrix)
    shares = agr.variance_share(spread) if spread else pd.DataFrame(columns=["source"])
    shares["note"] = ""
    missing = pd.DataFrame({"source": list(unmeasured), "note": [f"not measured: {m}" for m in unmeasured.values()]})
    return pd.concat([shares, missing], ignore_index=True) if unmeasured else shares
