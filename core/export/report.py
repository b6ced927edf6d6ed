"""HTML report of a comparison.

`render_html` turns a Comparison and its Summary into one self-contained page:
inline CSS, charts as inline SVG rendered offline by vl-convert from the same
altair builders the app uses, no script and no external URL, so the page opens
offline and can be mailed around. Every user-supplied string is escaped.
`write_report` writes it with its data bundle (core.export.bundle) beside it.
"""
from __future__ import annotations

import dataclasses
import html

import numpy as np
import os
import re
import shlex
from pathlib import Path

from . import charts
from .. import format as fmt
from .bundle import atomic_write_bytes, bundle_bytes, library_versions
from ..views.cohort import Cohort
from ..views.cohort_figures import cohort_figures, side_by_side
from ..agree.verdict import MARGIN
from ..run.compare import HEADLINE_METRIC, VERDICT_LABELS, Comparison, Summary, verdict_text
from ..views.diff import RunDiff
from ..explainers.registry import METHODS
from ..agree.scores import SCORES
from ..seeding import SOURCES
from ..views.story import story
from ..training.config import FAMILIES

SECTIONS: dict[str, str] = {  # section id -> heading, in page order
    "story": "The story in six steps",
    "finding": "Finding",
    "configuration": "Configuration",
    "library-versions": "Library versions",
    "models": "Models",
    "prediction-disagreement": "Prediction disagreement",
    "global-importance": "Global importance",
    "explanation-agreement": "Explanation agreement",
    "equal-accuracy-different-logic": "Equal accuracy, different logic",
    "contested-rows": "Contested rows",
}
_HYPERPARAMETERS = {
    "mlp": ("hidden", "dropout", "epochs", "batch_size", "learning_rate", "weight_decay", "patience"),
    "logistic_regression": ("C",),
    "random_forest": ("n_estimators", "max_depth"),
    "gradient_boosting": ("n_estimators", "max_depth", "learning_rate", "subsample"),
    "ridge": ("alpha",),
    "xgboost": ("n_estimators", "max_depth", "learning_rate", "subsample", "colsample"),
    "lightgbm": ("n_estimators", "max_depth", "learning_rate", "subsample", "colsample"),
    "estimator": ("estimator", "params"),
}


_CSS = """
body{margin:0;background:#f3f4f6;color:#1f2328;line-height:1.5;
 font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:32px 40px 64px;background:#fff;box-sizing:border-box}
h1{font-size:1.9rem;margin:0}
h2{font-size:1.35rem;margin:2.6rem 0 .8rem;padding-bottom:.3rem;border-bottom:2px solid #e5e7eb}
h3{font-size:1.08rem;margin:1.6rem 0 .4rem}
nav{display:flex;flex-wrap:wrap;gap:.2rem 1.1rem;margin:.8rem 0 0;font-size:.9rem}
nav a{color:#4C78A8;text-decoration:none;white-space:nowrap}
.subtitle,.note{color:#57606a}
.note{font-size:.9rem;max-width:70ch}
.headline{font-size:1.15rem;background:#eef4fb;border-left:4px solid #4C78A8;padding:.8rem 1rem;margin:1rem 0}
.stats{display:grid;grid-template-columns:repeat(3,1fr);gap:12px;margin:1rem 0}
.stat{border:1px solid #d0d7de;border-radius:8px;padding:.6rem .8rem}
.stat b{display:block;font-size:1.35rem;white-space:nowrap}
.stat span{color:#57606a;font-size:.85rem}
.scroll{overflow-x:auto;margin:.5rem 0 1rem}
table{border-collapse:collapse;font-size:.88rem;font-variant-numeric:tabular-nums}
th,td{padding:.35rem .75rem;text-align:left;border-bottom:1px solid #e5e7eb;vertical-align:top}
thead th{background:#eaeef2;white-space:nowrap}
tbody tr:nth-child(even){background:#f6f8fa}
tbody th{font-weight:600;white-space:nowrap}
.num{text-align:right;white-space:nowrap}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.82rem}
.side{display:flex;flex-wrap:wrap;gap:8px 32px;align-items:flex-start}
.chart svg{max-width:100%;height:auto}
.step{margin:0 0 1.4rem}.step p{margin:.3rem 0;max-width:80ch}
details{margin:.5rem 0 1rem}summary{cursor:pointer;font-weight:600;margin:.3rem 0}
@media print{details::details-content{content-visibility:visible;display:block}}
"""


def _pct(x: float) -> str:
    return fmt.percent(x, 1)


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table(header: list[str], rows: list[list], *, align: str = "", mono: tuple[int, ...] = ()) -> str:
    """An escaped HTML table; align[i] == "r" right-aligns column i (numbers), mono columns are monospace."""
    def cls(i: int) -> str:
        names = (["num"] if align[i:i + 1] == "r" else []) + (["mono"] if i in mono else [])
        return f' class="{" ".join(names)}"' if names else ""
    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{_e(v)}</td>" for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _fields(rows: list[tuple[str, object]]) -> str:
    """A two-column key/value table."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<div class="scroll"><table><tbody>{body}</tbody></table></div>'


def _svg(chart, key: str) -> str:
    """An altair chart as inline SVG, without namespace URLs and with ids unique to this chart.

    vl-convert escapes all text (axis labels, aria-labels) itself. Inline SVG in
    HTML5 needs no xmlns; ids (gradients, clip paths) are prefixed because every
    chart names its gradients and clip paths from a process-wide counter, and ids are
    page-wide; renaming them in order of appearance also makes the page reproducible.
    """
    import vl_convert  # deferred: only reports need the renderer

    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", vl_convert.vegalite_to_svg(chart.to_json()))
    for i, name in enumerate(dict.fromkeys(re.findall(r'\bid="([^"]+)"', svg))):
        svg = (svg.replace(f'id="{name}"', f'id="{key}-{i}"').replace(f"#{name})", f"#{key}-{i})")
               .replace(f'"#{name}"', f'"#{key}-{i}"'))
    return f'<div class="chart scroll">{svg}</div>'


def _finding(c: Comparison, s: Summary) -> str:
    head = s.by_method[s.headline_method]
    label = METHODS[s.headline_method].label
    stats = [
        (str(c.run.n_models), "models, differing only in seed"),
        (s.accuracy_spread, f"test {s.quality_name}, mean ± std"
         + (f" (in {c.run.dataset.target_name}'s units)" if s.regression else "")),
        (_pct(head.between[HEADLINE_METRIC]), f"top-{s.k} {label} agreement between models"),
        (_pct(head.noise_floor[HEADLINE_METRIC]), "explainer noise floor (same model, independent samples)"),
        (VERDICT_LABELS[head.verdict.outcome] if head.verdict else "not tested",
         "do the models differ? (like with like, see below)"),
        (_pct(s.null[HEADLINE_METRIC]), "random baseline (two random rankings)"),
        (_pct(c.evaluation.multiplicity.ambiguity), "prediction ambiguity (rows some model predicts differently)"),
    ]
    cards = "".join(f'<div class="stat"><b>{_e(v)}</b><span>{_e(t)}</span></div>' for v, t in stats)
    return (
        f'<p class="headline">{_e(s.headline)}</p><div class="stats">{cards}</div>'
        f'<p class="note">Agreement is the share of the {s.k} most important features (largest |attribution|) '
        f"that two models have in common on a row, averaged over {len(s.rows)} explained rows and "
        "every pair of models (feature agreement, Krishna et al. 2022), each model explained on the same samples. "
        "Agreement near the random baseline means the models rely on unrelated features. Whether they differ is "
        "tested like with like: every model is explained on two independent halves of the explainer's samples, "
        "and two models across the halves are compared with one model across them, so that the explainer's noise "
        "weighs on both sides (95% interval over models and groups of rows; a difference within "
        f"{_e(fmt.points(MARGIN, signed=False))} is none).</p>"
        + f'<p class="note">{_e(s.grouping)}</p>'
        + (f'<p class="note">{_e(fmt.planner(s.budget))}</p>' + _svg(charts.seed_budget(s.budget.curve, regression=s.regression), "budget")
           if s.budget is not None else "")
    )


def _story(c: Comparison, s: Summary) -> str:
    """The story of the Present page (core.views.story), compact: each step's sentences and chart."""
    parts = []
    for i, step in enumerate(story(c, s), 1):
        chart = charts.story_chart(step)
        parts.append(f'<div class="step"><h3>{i}. {_e(step.title)}</h3>'
                     + "".join(f"<p>{_e(sentence)}</p>" for sentence in step.text)
                     + (f"<ul>{''.join(f'<li>{_e(point)}</li>' for point in step.points)}</ul>" if step.points else "")
                     + (_svg(chart, f"story-{i}") if chart is not None else "") + "</div>")
    return "".join(parts)


def _configuration(c: Comparison, s: Summary) -> str:
    cfg, ds, ex = c.run.config, c.run.dataset, c.explanation
    sub = dataclasses.asdict(cfg.mlp if cfg.family == "mlp" else cfg.sklearn)
    hyper = ", ".join(f"{name}={sub[name]}" for name in _HYPERPARAMETERS[cfg.family])
    xc = ex.config
    rows = [
        ("Dataset", ds.name),
        *([("Rows / features", f"{len(ds.y)} / {ds.n_features}"), ("Task", f"regression of {ds.target_name}")]
          if ds.regression else
          [("Rows / features / classes", f"{len(ds.y)} / {ds.n_features} / {ds.n_classes}"),
           ("Classes", ", ".join(ds.class_names))]),
        ("Content hash", ds.content_hash),
        ("Model family", FAMILIES[cfg.family]), ("Hyperparameters", hyper), ("Models", cfg.n_models),
        ("Base seed", cfg.seed), ("Test fraction", cfg.test_fraction),
        ("Validation fraction (of training split)", cfg.validation_fraction),
        ("Sources varied", ", ".join(sorted(cfg.vary)) or "none"),
        ("Sources held fixed", ", ".join(src for src in SOURCES if src not in cfg.vary) or "none"),
        ("Explanation methods", ", ".join(METHODS[m].label for m in ex.methods)),
        ("Rows explained", f"{len(ex.rows)} of {len(c.evaluation.rows)} test rows shared by all models"),
        ("Explainer settings", f"background {xc.background_size}, KernelSHAP samples {xc.kernel_samples}, "
                               f"LIME samples {xc.lime_samples}, IG nodes per piece {xc.ig_steps}, seed {xc.seed}"),
        ("Top-k", s.k), ("Equal-accuracy tolerance", fmt.units(s.tolerance) + " RMSE" if s.regression else _pct(s.tolerance)),
        *([("Prediction tolerance (delta)", f"{fmt.units(s.delta)} in the target's units")] if s.regression else []),
    ]
    if ex.skipped:
        rows.append(("Skipped (family unsupported)", ", ".join(METHODS[m].label for m in ex.skipped)))
    if ds.notes:
        rows.append(("Loading notes", " ".join(ds.notes)))
    return _fields(rows)


def _models(c: Comparison) -> str:
    scores, history = c.evaluation.scores, c.run.history
    SCORES = list(scores.summary.columns)  # noqa: N806  (classification's or regression's)
    header = ["model", *SCORES, "fingerprint"] + (["best epoch"] if history is not None else [])
    rows = [[m, *(fmt.number(scores.per_model.at[m, k]) for k in SCORES), c.run.fingerprints[m]]
            + ([int(history.best_epoch[m]) + 1] if history is not None else []) for m in range(c.run.n_models)]
    summary = [[stat, *(fmt.number(scores.summary.at[stat, k]) for k in SCORES)] for stat in scores.summary.index]
    curves = (_svg(charts.training_curves(history.train_loss, history.val_accuracy,
                                          regression=c.run.dataset.regression), "curves") if history else "")
    every = _table(header, rows, align="r" * (len(SCORES) + 1) + "lr", mono=(len(SCORES) + 1,))
    across = _table(["", *SCORES], summary, align="l" + "r" * len(SCORES))
    charts_html = _svg(charts.accuracy_strip(scores.per_model), "accuracy") + curves
    if c.evaluation.regression:
        ev = c.evaluation
        charts_html += _svg(charts.predicted_against_actual(c.run.dataset.y[ev.rows], ev.predictions,
                                                            c.run.dataset.target_name), "predicted")
    if c.run.n_models > charts.CURVE_MODELS:  # the summary first; every model's row one click away
        return (across + f"<details><summary>Every model's scores and fingerprint ({c.run.n_models} models)"
                f"</summary>{every}</details>" + charts_html)
    return every + "<h3>Across models</h3>" + across + charts_html


def _disagreement(c: Comparison) -> str:
    mult = c.evaluation.multiplicity
    if mult.delta is not None:
        return _regression_disagreement(c)
    chart = charts.disagreement_heatmap(mult.disagreement, title="Share of rows two models predict differently")
    return (_svg(chart, "disagreement") + _fields([
        ("Ambiguity", f"{_pct(mult.ambiguity)} of rows get a different prediction from some model than from model 0"),
        ("Discrepancy", f"{_pct(mult.discrepancy)} of rows at most change prediction when model 0 is swapped"
                        " for a single other model"),
    ]) + f'<p class="note">Marx, Calmon &amp; Ustun 2020. {_e(mult.note)}</p>')


def _regression_disagreement(c: Comparison, shown: int = 10) -> str:
    """How far apart the regressors' predictions are: per row range and std, ambiguity at delta, and the rows
    where they disagree most (the rows to look at first)."""
    ev, ds = c.evaluation, c.run.dataset
    mult, spread = ev.multiplicity, ev.prediction_range
    delta = fmt.units(mult.delta)
    chart = charts.disagreement_heatmap(mult.disagreement, title=f"Share of rows two models predict more than "
                                                                 f"{delta} apart")
    order = np.argsort(-spread, kind="stable")[:shown]
    rows = [[int(ev.rows[i]), fmt.units(float(ds.y[ev.rows[i]])), fmt.units(float(ev.predictions[:, i].min())),
             fmt.units(float(np.median(ev.predictions[:, i]))), fmt.units(float(ev.predictions[:, i].max())),
             fmt.units(float(spread[i])), fmt.units(float(ev.predictions[:, i].std()))] for i in order]
    return (_fields([
        ("Prediction range", f"{fmt.units(float(np.median(spread)))} on a typical row (median), up to "
                             f"{fmt.units(float(spread.max()))}: the distance between the lowest and the highest "
                             "model's prediction (the viable prediction range of Watson-Daniels et al. 2022)"),
        ("Ambiguity", f"{_pct(mult.ambiguity)} of rows get a prediction more than {delta} away from model 0's "
                      "from some model"),
        ("Discrepancy", f"{_pct(mult.discrepancy)} of rows at most move by more than {delta} when model 0 is "
                        "swapped for a single other model"),
    ]) + f"<h3>The {len(order)} rows where the models' predictions lie furthest apart</h3>"
        + _table(["row", "actual", "lowest", "median", "highest", "range", "std"], rows, align="rrrrrrr")
        + _svg(chart, "disagreement")
        + f'<p class="note">{_e(mult.note)} delta is 10% of the target\'s standard deviation on the training rows '
          "unless set otherwise.</p>")


def _importance(c: Comparison, s: Summary) -> str:
    chart = charts.importance_small_multiples(s.by_method[s.headline_method].importance,
                                              list(c.run.dataset.feature_names))
    return (f'<p class="note">Mean |{_e(METHODS[s.headline_method].label)} attribution| over the '
            f"{len(s.rows)} explained rows; the overall top features, in the same order for every model.</p>"
            + _svg(chart, "importance"))


def _agreement(s: Summary) -> str:
    head_label = s.metric_labels[HEADLINE_METRIC].replace("@k", f"@{s.k}")
    parts = [f'<p class="note">Heatmaps show {_e(head_label)} for every pair of models; '
             "tables give all six metrics of Krishna et al. 2022.</p>"]
    for name, ma in s.by_method.items():
        label = METHODS[name].label
        chart = charts.heatmap(ma.matrices[HEADLINE_METRIC], title=f"{label}: {head_label}")
        table = _table(["metric", "between models", "noise floor", "random baseline"],
                       [[s.metric_labels[m], fmt.number(ma.between[m]), fmt.number(ma.noise_floor[m]),
                         fmt.number(s.null[m])] for m in s.metric_labels], align="lrrr")
        test = f'<p class="note">{_e(verdict_text(ma.verdict, name, precision=s.precision))}</p>'
        parts.append(f'<h3>{_e(label)}</h3>{test}<div class="side">{_svg(chart, "agree-" + name)}{table}</div>')
    parts.append(f"<h3>At the level of {len(s.groups)} correlated groups (|Spearman rho| ≥ {s.group_threshold:.2f}, "
                 f"k = {s.group_k})</h3><p class=\"note\">{_e(s.grouping)}</p>")
    for name, ma in s.group_by_method.items():
        parts.append(f"<p><b>{_e(METHODS[name].label)}</b></p>" + _table(
            ["metric", "between models", "noise floor", "random baseline"],
            [[s.metric_labels[m], fmt.number(ma.between[m]), fmt.number(ma.noise_floor[m]), fmt.number(s.group_null[m])]
             for m in s.metric_labels], align="lrrr"))
    return "".join(parts)


def _pairs(c: Comparison, s: Summary, shown: int = 20) -> str:
    if s.regression:
        return _regression_pairs(c, s, shown)
    if s.pairs.empty:
        return f"<p>No two models have test accuracies within {_e(_pct(s.tolerance))} of each other.</p>"
    lo, hi = s.accuracy_ci
    rows = [[f"{a} vs {b}", _pct(p.accuracy_a), _pct(p.accuracy_b), _pct(p.accuracy_gap),
             fmt.points_interval(lo[a, b], hi[a, b]), fmt.number(p.agreement)]
            for p in s.pairs.head(shown).itertuples() for a, b in [(int(p.model_a), int(p.model_b))]]
    a, b = int(s.pairs.model_a.iloc[0]), int(s.pairs.model_b.iloc[0])
    chart = charts.pair_importance(s.by_method[s.headline_method].importance, a, b, list(c.run.dataset.feature_names))
    more = f" (the {shown} least agreeing of {len(s.pairs)})" if len(s.pairs) > shown else ""
    return (f'<p class="note">Pairs of models whose test accuracies differ by at most {_e(_pct(s.tolerance))}, '
            f"least agreeing first{more}. The interval is a paired-bootstrap 95% CI of accuracy A − B on the test "
            f"rows both models saw; agreement is {_e(s.metric_labels[HEADLINE_METRIC])} (k = {s.k}) of "
            f"{_e(METHODS[s.headline_method].label)}.</p>"
            + _table(["models A vs B", "accuracy A", "accuracy B", "gap", "95% CI of A − B", "agreement"],
                     rows, align="lrrrrr")
            + f"<h3>The least agreeing pair: model {a} vs model {b}</h3>" + _svg(chart, "pair"))


def _regression_pairs(c: Comparison, s: Summary, shown: int) -> str:
    if s.pairs.empty:
        return f"<p>No two models are {_e(s.tolerance_text)}.</p>"
    lo, hi = s.accuracy_ci
    num = fmt.units
    rows = [[f"{a} vs {b}", num(p.accuracy_a), num(p.accuracy_b), num(p.accuracy_gap),
             f"[{num(lo[a, b])}, {num(hi[a, b])}]", fmt.number(p.agreement)]
            for p in s.pairs.head(shown).itertuples() for a, b in [(int(p.model_a), int(p.model_b))]]
    a, b = int(s.pairs.model_a.iloc[0]), int(s.pairs.model_b.iloc[0])
    chart = charts.pair_importance(s.by_method[s.headline_method].importance, a, b, list(c.run.dataset.feature_names))
    more = f" (the {shown} least agreeing of {len(s.pairs)})" if len(s.pairs) > shown else ""
    return (f'<p class="note">Pairs of models {_e(s.tolerance_text)}, least agreeing first{more}. The interval '
            "is a paired-bootstrap 95% CI of RMSE A − B on the test rows both models saw; agreement is "
            f"{_e(s.metric_labels[HEADLINE_METRIC])} (k = {s.k}) of {_e(METHODS[s.headline_method].label)}.</p>"
            + _table(["models A vs B", "RMSE A", "RMSE B", "gap", "95% CI of A − B", "agreement"], rows, align="lrrrrr")
            + f"<h3>The least agreeing pair: model {a} vs model {b}</h3>" + _svg(chart, "pair"))


def _contested(c: Comparison, s: Summary, shown: int = 10) -> str:
    if s.contested.empty:
        return "<p>Train at least two models to find rows where their explanations disagree.</p>"
    return (f'<p class="note">The explained rows where the models\' top-{s.k} features agree least '
            "(mean over model pairs).</p>" + _contested_table(c, s.contested.head(shown)))


def _contested_table(c: Comparison, contested) -> str:
    ds = c.run.dataset
    if ds.regression:
        rows = [[int(r.row), fmt.units(float(ds.y[r.row])), fmt.number(r.agreement),
                 f"{fmt.units(r.low)} to {fmt.units(r.high)}"] for r in contested.itertuples()]
        return _table(["dataset row", "actual", "agreement", "predictions (lowest to highest)"], rows, align="rrrl")
    rows = [[int(r.row), ds.class_names[ds.y[r.row]], fmt.number(r.agreement), fmt.votes(r.votes, ds.class_names)]
            for r in contested.itertuples()]
    return _table(["dataset row", "true class", "agreement", "predictions (class ×models)"], rows, align="rlrl")


def _cohort(c: Comparison, s: Summary, cohort: Cohort, shown: int = 10) -> str:
    inside = cohort_figures(c, s, cohort)
    table = side_by_side(inside, cohort_figures(c, s, Cohort()), s)
    contested = (_contested_table(c, inside.contested.head(shown)) if not inside.contested.empty else
                 "<p>No contested row falls in this cohort.</p>")
    return (f'<p class="headline">{_e(cohort.describe(c.run.dataset.regression))}</p>'
            + "".join(f'<p class="note">{_e(note)}</p>' for note in inside.notes)
            + _table(list(table.columns), table.to_numpy().tolist(), align="lrr")
            + f"<h3>Contested rows in the cohort</h3>{contested}"
            + f'<p class="note">To measure this cohort again: python -m core compare ... --cohort '
              f'<span class="mono">{_e(shlex.quote(cohort.to_option()))}</span></p>')


def render_html(comparison: Comparison, summary: Summary, *, title: str | None = None,
                cohort: Cohort | None = None) -> str:
    """A self-contained HTML page (inline CSS and SVG; no script, no external URL) reporting a comparison,
    and, given a cohort, a last section on it beside the whole test set."""
    c, s = comparison, summary
    title = title or f"SeedScope report: {c.run.dataset.name}"
    body = {
        "story": _story(c, s),
        "finding": _finding(c, s),
        "configuration": _configuration(c, s),
        "library-versions": _fields(list(library_versions(c).items())),
        "models": _models(c),
        "prediction-disagreement": _disagreement(c),
        "global-importance": _importance(c, s),
        "explanation-agreement": _agreement(s),
        "equal-accuracy-different-logic": _pairs(c, s),
        "contested-rows": _contested(c, s),
    }
    nav = "".join(f'<a href="#{key}">{_e(name)}</a>' for key, name in SECTIONS.items())
    sections = "".join(f'<section><h2 id="{key}">{_e(SECTIONS[key])}</h2>{body[key]}</section>' for key in SECTIONS)
    if cohort is not None:
        nav += '<a href="#cohort">Cohort</a>'
        sections += f'<section><h2 id="cohort">Cohort</h2>{_cohort(c, s, cohort)}</section>'
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body><main><h1>{_e(title)}</h1>"
        f'<p class="subtitle">{c.run.n_models} models that differ only in random seed, and how much their '
        f"explanations agree.</p><nav>{nav}</nav>{sections}</main></body></html>\n"
    )

def write_report(comparison: Comparison, summary: Summary, html_path: str | os.PathLike, *,
                 cohort: Cohort | None = None) -> tuple[Path, Path]:
    """Write the HTML report to html_path and the bundle beside it (same stem, .zip); returns both paths.

    Both are rendered before either file is touched, and each is written to a temporary file and
    renamed into place, so an interrupt leaves the previous pair (or none), never half a file, and
    at most the instant between the two renames separates a report from its bundle.
    """
    html_path = Path(html_path)
    html = render_html(comparison, summary, cohort=cohort).encode("utf-8")
    bundle = bundle_bytes(comparison, summary, cohort=cohort)
    bundle_path = atomic_write_bytes(html_path.with_suffix(".zip"), bundle)
    return atomic_write_bytes(html_path, html), bundle_path


def render_diff_html(d: RunDiff, names: tuple[str, str]) -> str:
    """Run against run as a self-contained HTML page, escaped like the report."""
    a, b = names
    title = f"SeedScope: {a} against {b}"
    show = fmt.units if d.regression else _pct
    accuracy = [[label, len(acc), show(acc.mean()), show(acc.std(ddof=1)) if len(acc) > 1 else "n/a",
                 show(acc.min()), show(acc.max())] for label, acc in zip(("A", "B"), d.accuracy)]
    agreement = [["within A", fmt.number(d.within[0])], ["within B", fmt.number(d.within[1])],
                 ["between A and B", fmt.number(d.between)]]
    moves = [[r.feature, f"{r.rank_a:.1f}", f"{r.rank_b:.1f}", f"{r.move:+.1f}"] for r in d.rank_moves.head(15).itertuples()]
    changed = [[int(r.row), r.majority_a, r.majority_b] for r in d.changed_rows.itertuples()]
    settings = "".join(
        f'<tr{" class=differs" if r.differs else ""}><th>{_e(r.setting)}</th><td>{_e(r.a)}</td><td>{_e(r.b)}</td></tr>'
        for r in d.settings.itertuples())
    label = f"{METHODS[d.method].label}, {_e(d.metric)} (k = {d.k}), compared by {_e(d.level)}"
    body = (
        f"<section><h2>{'Test RMSE' if d.regression else 'Accuracy'}</h2>{_table(['run', 'models', 'mean', 'std', 'min', 'max'], accuracy, align='lrrrrr')}"
        f"</section><section><h2>Agreement</h2><p class=\"note\">{label}. Between-run agreement close to within-run "
        "agreement means the two runs' models decide alike; far below it, the change moved their logic.</p>"
        f"{_table(['', 'agreement'], agreement, align='lr')}</section>"
        f"<section><h2>Features whose rank moved most</h2>"
        f"{_table(['feature', 'mean rank A', 'mean rank B', 'move'], moves, align='lrrr')}</section>"
        + ("<section><h2>Rows whose median prediction moved beyond A's tolerance</h2>" if d.regression else
           "<section><h2>Rows whose majority prediction changed</h2>")
        + (_table(["dataset row", "A predicts", "B predicts"], changed, align="rll") if changed else
           "<p>None of the rows explained in both runs changed its "
           f"{'median prediction by more than the tolerance' if d.regression else 'majority prediction'}.</p>")
        + "</section><section><h2>Settings</h2><p class=\"note\">Highlighted rows differ.</p>"
        f'<div class="scroll"><table><thead><tr><th>setting</th><th>A</th><th>B</th></tr></thead>'
        f"<tbody>{settings}</tbody></table></div></section>"
    )
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_CSS}tr.differs td{{background:#fff3cd}}</style></head><body><main><h1>{_e(title)}</h1>"
            f'<p class="subtitle">A: {_e(a)} · B: {_e(b)}</p>{body}</main></body></html>\n')
