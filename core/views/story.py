"""The finding as a short story for people who did not train the models: six steps, one idea each.

`story(comparison, summary)` turns a Summary into the steps the Present page shows one at a time and the
HTML report opens with. Every number comes from the Summary, and one case's top features from the stored
attributions, so the story reads the same from a fresh comparison and from a loaded bundle (no models).
Sentences hold user strings (dataset, feature and class names) as they are: whoever draws them escapes them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import format as fmt
from ..run.compare import HEADLINE_METRIC, Comparison, Summary, grouping_explains, verdict_text
from ..explainers.registry import METHODS
from ..seeding import SOURCES

STORY_DOTS = 40  # the accuracy strip draws a dot per model (equal ones stacked) up to this many, then bars

WIDE = 0.05  # an agreement interval wider than +-5 points is not yet a number to quote
PINNED = 0.02  # the half-width more seeds should bring it down to
SAME = 0.999  # agreement this high is complete (float means of 1.0 over pairs)
CHANCE = 0.05  # agreement this close to random rankings' is no better than chance
CASE_RANKS = 5  # the case chart shows at most this many of each model's top features
CASE_MODELS = 10  # ... for at most this many models, so that a name still fits a cell

FAMILY_NOUNS = {"mlp": "neural networks", "logistic_regression": "logistic regression models",
                "random_forest": "random forests", "gradient_boosting": "gradient-boosted tree models",
                "ridge": "ridge regressions", "xgboost": "XGBoost models", "lightgbm": "LightGBM models",
                "estimator": "models"}  # an estimator's: "<its class> models"
SOURCE_PHRASES = {  # what differs between the models when a source of randomness varies, in plain words
    "init": "their random starting point",
    "order": "the order in which they saw the training cases",
    "dropout": "which of their parts were randomly switched off during training",
    "split": "which cases they were trained and tested on",
    "bootstrap": "which training cases each one drew at random",
}


@dataclass(frozen=True, eq=False)
class Step:
    """One step of the story: a title, one or two plain sentences, and at most one chart.

    chart names what core.export.charts.story_chart draws from `data` (None: no chart); points are the
    recommendations of the last step.
    """

    title: str
    text: tuple[str, ...]
    points: tuple[str, ...] = ()
    chart: str | None = None
    data: pd.DataFrame | None = None
    chart_title: str = ""


def story(comparison: Comparison, summary: Summary) -> tuple[Step, ...]:
    """The six steps: the question, same accuracy, different reasons, is it real, one case, what to do."""
    c, s = comparison, summary
    return (_question(c), _accuracy(c, s), _reasons(c, s), _real(s), _case(c, s), _actions(c, s))


def reading(s: Summary) -> str:
    """What the headline says, from the like-with-like test (Summary's verdict of the headline method):
    'same' (complete agreement), 'real' (the models differ), 'noise' (no detectable difference beyond
    the explainer's own noise), 'inconclusive', or 'unknown' (sampled without halves: not tested)."""
    head = s.by_method[s.headline_method]
    if head.between[HEADLINE_METRIC] >= SAME:
        return "same"
    v = head.verdict
    if v is None or (v.samples is None and METHODS[s.headline_method].stochastic):
        return "unknown"
    if v.outcome == "same" and not METHODS[s.headline_method].stochastic:
        return "same"  # no noise to speak of: the models agree within the test's margin
    return {"differ": "real", "same": "noise", "inconclusive": "inconclusive"}[v.outcome]


def _listed(items: list[str], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def _question(c: Comparison) -> Step:
    cfg, ds = c.run.config, c.run.dataset
    noun = (f"{cfg.sklearn.estimator.rsplit('.', 1)[-1]} models" if cfg.family == "estimator"
            else FAMILY_NOUNS[cfg.family])
    models = f"{cfg.n_models} {noun}" if cfg.n_models > 1 else "a single model"
    classes = (f"{ds.target_name}, a number" if ds.regression else
               f"one of {ds.n_classes} classes" if ds.n_classes > 4 else _listed(list(ds.class_names), "or"))
    phrases = ["their random seed" if src == "init" and cfg.family != "mlp" else SOURCE_PHRASES[src]
               for src in SOURCES if src in cfg.vary]  # a forest's seed is no starting point
    varied = f"differ only in {_listed(phrases)}" if phrases else "are identical copies: nothing random varied"
    return Step("The question", (
        "Models trained the same way on the same data often come out equally accurate. "
        "But do they decide for the same reasons?",
        f"We trained {models} on {ds.name} ({len(ds.y)} cases, {ds.n_features} features, predicting "
        f"{classes}); the models {varied}.",
    ))


def _accuracy(c: Comparison, s: Summary) -> Step:
    """How accurate the models are (regression: how far off, by RMSE), and whether equally so."""
    n, ds, ev = len(s.accuracy), c.run.dataset, c.evaluation
    # Models of equal accuracy stack up in the strip instead of hiding each other.
    stack = pd.Series(np.round(s.accuracy, 6)).groupby(np.round(s.accuracy, 6)).cumcount()
    data = pd.DataFrame({"model": np.arange(n), "accuracy": s.accuracy, "stack": stack.to_numpy()})
    tests = f"On {len(ev.rows)} test cases"
    if s.regression:
        quality, chart, shown = "error", "rmse", fmt.units
        title_of = "Test RMSE"
        alone = f"the model's predictions of {ds.target_name} are off by {fmt.units(s.accuracy_mean)} " \
                "(root mean squared error)."
        spread = (f"the {n} models' predictions of {ds.target_name} are off by {s.accuracy_spread} (root mean "
                  f"squared error, from {shown(s.accuracy.min())} to {shown(s.accuracy.max())}).")
        rows = (f" For one case, though, their predictions lie {fmt.units(float(np.median(ev.prediction_range)))} "
                f"apart on a typical case and up to {fmt.units(float(ev.prediction_range.max()))}.")
        within = f"{fmt.units(s.tolerance)} of each other (5% of the mean RMSE)"
    else:
        quality, chart, shown = "accuracy", "accuracy", lambda v: fmt.percent(v, 1)
        title_of = "Test accuracy"
        alone = f"the model is right {fmt.percent(s.accuracy_mean, 1)} of the time."
        spread = (f"the {n} models are right {s.accuracy_spread} of the time "
                  f"(from {shown(s.accuracy.min())} to {shown(s.accuracy.max())}).")
        rows, within = "", f"{fmt.percent(s.tolerance)} of each other"
    if n < 2:
        return Step(quality.capitalize(), (f"{tests}, {alone}", "Train at least two models to compare them."),
                    chart=chart, data=data, chart_title=title_of)
    equal, pairs = int(s.all_pairs["equal_accuracy"].sum()), len(s.all_pairs)
    subject = "Every pair's RMSEs are" if s.regression else "Every pair is"
    if equal == pairs:
        title, verdict = f"Same {quality}", f"{subject} within {within}: by {quality} alone, none is better."
    elif equal:
        title, verdict = (f"Similar {quality}", f"{equal} of the {pairs} pairs of models are within {within}: as "
                                                "good as equally accurate.")
    else:
        title, verdict = (f"Different {quality}", f"No two are within {within}, so this run has no equally accurate "
                                                  "pair to compare.")
    return Step(title, (f"{tests}, {spread}", verdict + rows), chart=chart, data=data,
                chart_title=f"{title_of}: each dot is one model" if n <= STORY_DOTS else
                f"{title_of}: how many models reach each")


def _importance_shares(importance: np.ndarray, a: int, b: int, names: tuple[str, ...], shown: int = 6) -> pd.DataFrame:
    """Two models' shares of their total importance (model, feature, share, rank) on the union of their top
    features, in model a's order, so that model b's bars show where its order differs."""
    pair = importance[[a, b]]
    total = pair.sum(axis=1, keepdims=True)
    share = np.divide(pair, total, out=np.zeros_like(pair), where=total > 0)  # a model of all-zero attributions
    ranks = np.argsort(np.argsort(-share, axis=1, kind="stable"), axis=1) + 1  # (2, feature), 1 = largest share
    top = sorted(set(np.flatnonzero(ranks.min(axis=0) <= shown)), key=lambda f: ranks[0, f])
    return pd.DataFrame([(f"model {m}", names[f], float(share[i, f]), int(ranks[i, f]))
                         for i, m in enumerate((a, b)) for f in top], columns=["model", "feature", "share", "rank"])


def _reasons(c: Comparison, s: Summary) -> Step:
    if len(s.accuracy) < 2:
        return Step("Reasons", ("Train at least two models to compare the reasons behind their answers.",))
    names, k = c.run.dataset.feature_names, s.k
    importance = s.by_method[s.headline_method].importance
    pair = (s.pairs if not s.pairs.empty else s.all_pairs).iloc[0]
    a, b, agreement = int(pair.model_a), int(pair.model_b), float(pair.agreement)
    who = (f"model {a} (RMSE {s.quality(pair.accuracy_a)}) and model {b} ({s.quality(pair.accuracy_b)})"
           if s.regression else f"model {a} ({fmt.percent(pair.accuracy_a, 1)} accurate) and model {b} "
           f"({fmt.percent(pair.accuracy_b, 1)})")
    data = _importance_shares(importance, a, b, names)
    ranks = data.pivot(index="feature", columns="model", values="rank")
    top_a, top_b = (ranks.index[ranks[f"model {m}"] == 1][0] for m in (a, b))
    if (ranks[f"model {a}"] == ranks[f"model {b}"]).all():
        overall = "Averaged over all cases they rank the features alike: the differences are case by case."
    elif top_a == top_b:
        overall = f"Averaged over all cases both rely most on {top_a}, but rank the other features differently."
    else:
        overall = f"Averaged over all cases, model {a} relies most on {top_a}, model {b} on {top_b}."
    title = f"How much model {a} and model {b} rely on each feature, averaged over all cases"
    if agreement >= SAME:
        lead = (f"The least alike of the equally accurate pairs, {who}," if not s.pairs.empty else
                f"Even the least alike pair, {who},")
        return Step("Same reasons", (f"{lead} name the same {k} most important features on every case.", overall),
                    chart="pair", data=data, chart_title=title)
    shared = f"only {fmt.percent(agreement)} of the {k} features each relies on most are the same"
    if s.pairs.empty:
        first = (f"No two models are {s.tolerance_text}. For the least alike "
                 f"pair, {who}, {shared} on a typical case.")
    else:
        first = f"{who[0].upper()}{who[1:]} are equally accurate, yet on a typical case {shared}."
    return Step("Different reasons", (first, overall), chart="pair", data=data, chart_title=title)


def _real(s: Summary) -> Step:
    if len(s.accuracy) < 2:
        return Step("Is it real?", ("Train at least two models to measure how much their reasons agree.",))
    head, k = s.by_method[s.headline_method], s.k
    between, null = head.between[HEADLINE_METRIC], s.null[HEADLINE_METRIC]
    interval = s.budget.agreement
    label = METHODS[s.headline_method].label
    first = (f"Across all {len(s.all_pairs)} pairs of models, the {k} most important features overlap by "
             f"{fmt.percent(between)} on a typical case (with 95% confidence between {fmt.percent(interval.lo)} and "
             f"{fmt.percent(interval.hi)}).")
    chance = f"random lists of features would overlap by {fmt.percent(null)}"
    v = head.verdict
    fair = ("" if not METHODS[s.headline_method].stochastic or v is None or v.samples is None else
            f" Compared fairly, each explained on independent samples, two models overlap by {fmt.percent(v.between)} "
            f"and one model with itself by {fmt.percent(v.within)}")
    second = {  # each a function: only the reading that applies may be read (a bundle has no verdict)
        "same": lambda: (f"That is complete agreement; {chance}." if between >= SAME else
                 f"That is agreement within {fmt.points(head.verdict.margin, signed=False)} of complete; {chance}."),
        "real": lambda: ((f"{label} gives the same answer every time it explains the same model, and {chance}: "
                  if not fair else f"{fair.strip()}, and {chance}: ")
                 + ("the models agree no more than chance would, and it is not the explainer's doing."
                    if between <= null + CHANCE else
                    "the difference is real, it comes from the models, not from how we measure them.")),
        "noise": lambda: (f"{fair.strip() or 'The models agree as one model agrees with itself'}: the differences are no "
                  "larger than the explainer's own noise, so they do not show that the models reason differently."),
        "inconclusive": lambda: verdict_text(v, s.headline_method, precision=s.precision),
        "unknown": lambda: f"The explainer's own noise was not measured; {chance}.",
    }[reading(s)]()
    span = f"95% confidence: {fmt.percent(interval.lo)} to {fmt.percent(interval.hi)}"
    rows = [("Random lists of features", null, np.nan, np.nan, ""),
            ("Between the models", between, interval.lo, interval.hi, span)]
    if fair:
        rows.append(("Two models, independent samples", v.between, np.nan, np.nan, ""))
        rows.append(("Same model, independent samples", v.within, np.nan, np.nan, ""))
    elif not METHODS[s.headline_method].stochastic:
        rows.append(("Same model, explained twice", 1.0, np.nan, np.nan, "no sampling: always the same"))
    data = pd.DataFrame(rows, columns=["what", "agreement", "lo", "hi", "note"])
    return Step("Is it real?", (first, second), chart="baselines", data=data,
                chart_title=f"Overlap of the top {k} features on a typical case")


def _case(c: Comparison, s: Summary) -> Step:
    if s.divergent.empty and s.contested.empty:
        return Step("One case", ("Train at least two models to look at the reasons behind one answer.",))
    ds, k, n = c.run.dataset, s.k, len(s.accuracy)
    unanimous = not s.divergent.empty
    row = int(s.divergent.row.iloc[0] if unanimous else s.contested.row.iloc[0])
    position = int(np.flatnonzero(c.explanation.rows == row)[0])
    values = c.explanation.by_method[s.headline_method].values[:, position]  # (model, feature)
    top = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]  # (model, rank)
    in_every = [ds.feature_names[f] for f in top[0] if (top == f).any(axis=1).all()]
    listed = len(np.unique(top))
    if ds.regression:
        truth = fmt.units(float(ds.y[row]))
        column = c.evaluation.predictions[:, np.flatnonzero(c.evaluation.rows == row)[0]]
        low, high = fmt.units(float(column.min())), fmt.units(float(column.max()))
        if unanimous:
            first = (f"Case {row}: all {n} models predict {ds.target_name} between {low} and {high}, within "
                     f"{fmt.units(c.evaluation.delta)} of each other (the true value is {truth}).")
        else:
            first = (f"No case gets predictions within {fmt.units(c.evaluation.delta)} of each other from every "
                     f"model. Case {row}, whose reasons differ most, gets predictions from {low} to {high} "
                     f"(true value: {truth}).")
    elif unanimous:
        truth, answer = ds.class_names[ds.y[row]], ds.class_names[int(s.divergent.prediction.iloc[0])]
        outcome = "correctly" if answer == truth else f"while the true answer is {truth}"
        first = f"Case {row}: all {n} models predict {answer}, {outcome}."
    else:
        truth = ds.class_names[ds.y[row]]
        votes = _listed([f"{ds.class_names[cls]} from {count} model{'s' * (count > 1)}"
                         for cls, count in s.contested.votes.iloc[0]])
        first = (f"No case gets the same answer from every model. Case {row}, whose reasons differ most, gets "
                 f"{votes} (true answer: {truth}).")
    if len(in_every) == k:
        title = "Same answer, same reasons" if unanimous else "Different answers, same reasons"
        second = f"And every model names the same {k} most important features for it."
    else:
        title = "Same answer, different reasons" if unanimous else "Different answers, different reasons"
        common = (f"only {_listed(in_every)} {'is' if len(in_every) == 1 else 'are'} in every model's list, while "
                  f"{listed - len(in_every)} other features appear in only some" if in_every else
                  f"no feature is in every model's list; {listed} different features appear across them")
        second = f"But their {k} most important features for it differ: {common}."
    shown = min(n, CASE_MODELS)
    data = pd.DataFrame([(f"model {m}", r + 1, ds.feature_names[f], float(values[m, f]))
                         for m in range(shown) for r, f in enumerate(top[m, :CASE_RANKS])],
                        columns=["model", "rank", "feature", "attribution"])
    more = f" (the first {shown} of {n} models)" if shown < n else ""
    ranks = f"top {k}" if k <= CASE_RANKS else f"first {CASE_RANKS} of the top {k}"
    return Step(title, (first, second), chart="case", data=data,
                chart_title=f"Case {row}: each model's {ranks} features, most important first{more}")


def _actions(c: Comparison, s: Summary) -> Step:
    if len(s.accuracy) < 2:
        return Step("What to do", ("Train at least two models (on the Setup page) to see whether equally accurate "
                                   "models decide for the same reasons.",))
    head, k, label = s.by_method[s.headline_method], s.k, METHODS[s.headline_method].label
    between, floor = head.between[HEADLINE_METRIC], head.noise_floor[HEADLINE_METRIC]
    found = reading(s)
    samples = head.verdict.samples if head.verdict is not None else None
    unit = METHODS[s.headline_method].unit
    points = [{
        "real": ("Do not present one model's explanation as \"the\" reasons: models trained the same way "
                 f"overlap by only {fmt.percent(between)} on their top {k} features. Report explanations from "
                 "several models, with their spread."),
        "noise": (f"One model's explanation speaks for all of them here, within {label}'s own noise: the same "
                  f"model explained on independent samples overlaps by {fmt.percent(floor)}, and two models no less."),
        "inconclusive": (f"Decide before judging the models: the test is inconclusive at {samples:,} {unit}. Run "
                         f"{label} with more {unit}, or train more models." if samples is not None else
                         "Train more models before judging them: the test is inconclusive."),
        "same": (f"One model's explanation speaks for all of them here: every model names the same top {k} features."
                 if between >= SAME else f"One model's explanation speaks for all of them here: the models name "
                 f"nearly the same top {k} features."),
        "unknown": ("Measure the explainer's own noise (the noise floor option on Setup) before reading the "
                    "differences as differences between the models."),
    }[found]]
    grouped = s.group_by_method[s.headline_method].between[HEADLINE_METRIC]
    largest = max(s.groups, key=len)
    if len(largest) > 1 and found == "real" and grouping_explains(between, grouped):
        points.append(f"Talk about groups of related features rather than single ones, for example "
                      f"{s.group_names[s.groups.index(largest)]}: counted as groups, the models agree "
                      f"{fmt.percent(grouped)} instead of {fmt.percent(between)}.")
    half = s.budget.agreement.half_width
    if np.isfinite(half) and half > WIDE:
        points.append(f"Train more models before quoting the agreement: with {len(s.accuracy)} it is only known to "
                      f"{fmt.plus_minus(half)}; about {s.budget.models_for(PINNED)} would pin it to "
                      f"{fmt.plus_minus(PINNED)}.")
    elif np.isfinite(half):
        points.append(f"{len(s.accuracy)} models are enough to quote the agreement: it is known to "
                      f"{fmt.plus_minus(half)}.")
    if s.ambiguity.estimate > 0 and s.regression:
        points.append(f"Where the models' predictions lie more than {fmt.units(s.delta)} apart "
                      f"({fmt.percent(s.ambiguity.estimate)} of test cases here), show the range of several models' "
                      "predictions, not one number.")
    elif s.ambiguity.estimate > 0:
        points.append(f"Where the models give different answers ({fmt.percent(s.ambiguity.estimate)} of test cases "
                      "here), show the answers of several models, not one.")
    if found == "real" and not s.pairs.empty:
        points.append("When choosing between equally accurate models, look at the features each relies on: "
                      "accuracy alone does not tell them apart.")
    return Step("What to do", ("What follows from these numbers:",), points=tuple(points))
