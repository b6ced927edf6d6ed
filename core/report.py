"""HTML report and data bundle of a comparison.

`render_html` turns a Comparison and its Summary into one self-contained page:
inline CSS, charts as inline SVG rendered offline by vl-convert from the same
altair builders the app uses, no script and no external URL, so the page opens
offline and can be mailed around. Every user-supplied string is escaped.

A bundle is a zip holding everything needed to rebuild the Comparison without
its models: manifest.json (configs, dataset metadata, fingerprints, library
versions), metrics.csv (for people) and arrays.npz (for `load_bundle`).
Loading never unpickles: JSON for metadata, np.load(allow_pickle=False) for
arrays, and every array's shape and dtype is checked before anything is built.
"""
from __future__ import annotations

import dataclasses
import html
import importlib.metadata
import io
import json
import os
import platform
import re
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from . import agreement as agr
from . import charts
from .compare import HEADLINE_METRIC, Comparison, Summary
from .data import Dataset
from .errors import BundleError, ConfigError
from .explain import METHODS, Attributions, ExplainConfig, Explanation
from .metrics import METRICS, Evaluation, Scores, multiplicity
from .seeding import SOURCES
from .training import FAMILIES, History, MLPConfig, Run, RunConfig, TreeConfig

FORMAT, FORMAT_VERSION = "seedscope-bundle", 1
SECTIONS: dict[str, str] = {  # section id -> heading, in page order
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
_LIBRARIES = ("numpy", "pandas", "scikit-learn", "torch", "shap", "lime", "streamlit", "altair")
_MAX_UNZIPPED = 2**30  # bytes; a bundle that inflates beyond this is refused rather than filling memory
_HYPERPARAMETERS = {
    "mlp": ("hidden", "dropout", "epochs", "batch_size", "learning_rate", "weight_decay", "patience"),
    "logistic_regression": ("C",),
    "random_forest": ("n_estimators", "max_depth"),
    "gradient_boosting": ("n_estimators", "max_depth", "learning_rate", "subsample"),
}


def library_versions() -> dict[str, str]:
    """Versions of Python, the installed libraries SeedScope uses, and the bundle format."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["seedscope-format"] = str(FORMAT_VERSION)
    return versions


# ---------------------------------------------------------------- HTML

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
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if np.isfinite(x) else "n/a"


def _num(x: float) -> str:
    return f"{x:.3f}" if np.isfinite(x) else "n/a"


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
    acc, head = c.evaluation.accuracy, s.by_method[s.headline_method]
    label = METHODS[s.headline_method].label
    floor = head.noise_floor[HEADLINE_METRIC]
    stats = [
        (str(c.run.n_models), "models, differing only in seed"),
        (f"{100 * acc.mean():.1f} ± {100 * acc.std(ddof=1) if len(acc) > 1 else 0:.1f}%", "test accuracy, mean ± std"),
        (_pct(head.between[HEADLINE_METRIC]), f"top-{s.k} {label} agreement between models"),
        (_pct(floor) if np.isfinite(floor) else "n/a", "explainer noise floor (same model, new explainer seed)"),
        (_pct(s.null[HEADLINE_METRIC]), "random baseline (two random rankings)"),
        (_pct(c.evaluation.multiplicity.ambiguity), "prediction ambiguity (rows some model predicts differently)"),
    ]
    cards = "".join(f'<div class="stat"><b>{_e(v)}</b><span>{_e(t)}</span></div>' for v, t in stats)
    return (
        f'<p class="headline">{_e(s.headline)}</p><div class="stats">{cards}</div>'
        f'<p class="note">Agreement is the share of the {s.k} most important features (largest |attribution|) '
        f"that two models have in common on a row, averaged over {len(c.explanation.rows)} explained rows and "
        "every pair of models (feature agreement, Krishna et al. 2022). Agreement near the random baseline means "
        "the models rely on unrelated features; agreement far below the noise floor cannot be blamed on the "
        "explainer's own sampling.</p>"
    )


def _configuration(c: Comparison, s: Summary) -> str:
    cfg, ds, ex = c.run.config, c.run.dataset, c.explanation
    sub = dataclasses.asdict(cfg.mlp if cfg.family == "mlp" else cfg.trees)
    hyper = ", ".join(f"{name}={sub[name]}" for name in _HYPERPARAMETERS[cfg.family])
    xc = ex.config
    rows = [
        ("Dataset", ds.name), ("Rows / features / classes", f"{len(ds.y)} / {ds.n_features} / {ds.n_classes}"),
        ("Classes", ", ".join(ds.class_names)), ("Content hash", ds.content_hash),
        ("Model family", FAMILIES[cfg.family]), ("Hyperparameters", hyper), ("Models", cfg.n_models),
        ("Base seed", cfg.seed), ("Test fraction", cfg.test_fraction),
        ("Validation fraction (of training split)", cfg.validation_fraction),
        ("Sources varied", ", ".join(sorted(cfg.vary)) or "none"),
        ("Sources held fixed", ", ".join(src for src in SOURCES if src not in cfg.vary) or "none"),
        ("Explanation methods", ", ".join(METHODS[m].label for m in ex.methods)),
        ("Rows explained", f"{len(ex.rows)} of {len(c.evaluation.rows)} test rows shared by all models"),
        ("Explainer settings", f"background {xc.background_size}, KernelSHAP samples {xc.kernel_samples}, "
                               f"LIME samples {xc.lime_samples}, IG steps {xc.ig_steps}, seed {xc.seed}"),
        ("Top-k", s.k), ("Equal-accuracy tolerance", _pct(s.tolerance)),
    ]
    if ex.skipped:
        rows.append(("Skipped (family unsupported)", ", ".join(METHODS[m].label for m in ex.skipped)))
    if ds.notes:
        rows.append(("Loading notes", " ".join(ds.notes)))
    return _fields(rows)


def _models(c: Comparison) -> str:
    scores, history = c.evaluation.scores, c.run.history
    header = ["model", *METRICS, "fingerprint"] + (["best epoch"] if history is not None else [])
    rows = [[m, *(_num(scores.per_model.at[m, k]) for k in METRICS), c.run.fingerprints[m]]
            + ([int(history.best_epoch[m]) + 1] if history is not None else []) for m in range(c.run.n_models)]
    summary = [[stat, *(_num(scores.summary.at[stat, k]) for k in METRICS)] for stat in scores.summary.index]
    curves = _svg(charts.training_curves(history.train_loss, history.val_accuracy), "curves") if history else ""
    return (_table(header, rows, align="r" * (len(METRICS) + 1) + "lr", mono=(len(METRICS) + 1,))
            + "<h3>Across models</h3>" + _table(["", *METRICS], summary, align="l" + "r" * len(METRICS))
            + _svg(charts.accuracy_strip(scores.per_model), "accuracy") + curves)


def _disagreement(c: Comparison) -> str:
    mult = c.evaluation.multiplicity
    chart = charts.heatmap(mult.disagreement, title="Share of rows two models predict differently",
                           value="disagreement", domain=None, scheme="oranges")
    return (_svg(chart, "disagreement") + _fields([
        ("Ambiguity", f"{_pct(mult.ambiguity)} of rows get a different prediction from some model than from model 0"),
        ("Discrepancy", f"{_pct(mult.discrepancy)} of rows at most change prediction when model 0 is swapped"
                        " for a single other model"),
    ]) + f'<p class="note">Marx, Calmon &amp; Ustun 2020. {_e(mult.note)}</p>')


def _importance(c: Comparison, s: Summary) -> str:
    values = c.explanation.by_method[s.headline_method].values
    chart = charts.importance_small_multiples(agr.global_importance(values), list(c.run.dataset.feature_names))
    return (f'<p class="note">Mean |{_e(METHODS[s.headline_method].label)} attribution| over the '
            f"{values.shape[1]} explained rows; the overall top features, in the same order for every model.</p>"
            + _svg(chart, "importance"))


def _agreement(s: Summary) -> str:
    parts = [f'<p class="note">Heatmaps show {_e(HEADLINE_METRIC)} at top-{s.k} for every pair of models; '
             "tables give all six metrics of Krishna et al. 2022.</p>"]
    for name, ma in s.by_method.items():
        label = METHODS[name].label
        chart = charts.heatmap(ma.matrices[HEADLINE_METRIC], title=f"{label}: {HEADLINE_METRIC}@{s.k}")
        table = _table(["metric", "between models", "noise floor", "random baseline"],
                       [[m, _num(ma.between[m]), _num(ma.noise_floor[m]), _num(s.null[m])] for m in agr.METRICS],
                       align="lrrr")
        parts.append(f'<h3>{_e(label)}</h3><div class="side">{_svg(chart, "agree-" + name)}{table}</div>')
    return "".join(parts)


def _pairs(c: Comparison, s: Summary, shown: int = 20) -> str:
    if s.pairs.empty:
        return f"<p>No two models have test accuracies within {_e(_pct(s.tolerance))} of each other.</p>"
    lo, hi = s.accuracy_ci
    rows = [[f"{a} vs {b}", _pct(p.accuracy_a), _pct(p.accuracy_b), _pct(p.accuracy_gap),
             f"[{_pct(lo[a, b])}, {_pct(hi[a, b])}]", _num(p.agreement)]
            for p in s.pairs.head(shown).itertuples() for a, b in [(int(p.model_a), int(p.model_b))]]
    a, b = int(s.pairs.model_a.iloc[0]), int(s.pairs.model_b.iloc[0])
    values = c.explanation.by_method[s.headline_method].values
    chart = charts.pair_importance(agr.global_importance(values), a, b, list(c.run.dataset.feature_names))
    more = f" (the {shown} least agreeing of {len(s.pairs)})" if len(s.pairs) > shown else ""
    return (f'<p class="note">Pairs of models whose test accuracies differ by at most {_e(_pct(s.tolerance))}, '
            f"least agreeing first{more}. The interval is a paired-bootstrap 95% CI of accuracy A − B on the test "
            f"rows both models saw; agreement is {_e(HEADLINE_METRIC)}@{s.k} of "
            f"{_e(METHODS[s.headline_method].label)}.</p>"
            + _table(["models A vs B", "accuracy A", "accuracy B", "gap", "95% CI of A − B", "agreement"],
                     rows, align="lrrrrr")
            + f"<h3>The least agreeing pair: model {a} vs model {b}</h3>" + _svg(chart, "pair"))


def _contested(c: Comparison, s: Summary, shown: int = 10) -> str:
    if s.contested.empty:
        return "<p>Train at least two models to find rows where their explanations disagree.</p>"
    ds, preds = c.run.dataset, c.predictions  # preds: (model, explained row)
    rows = []
    for r in s.contested.head(shown).itertuples():
        classes, counts = np.unique(preds[:, r.row], return_counts=True)
        votes = ", ".join(f"{ds.class_names[k]} ×{n}" for k, n in zip(classes, counts))
        rows.append([int(c.explanation.rows[r.row]), ds.class_names[ds.y[c.explanation.rows[r.row]]],
                     _num(r.agreement), votes])
    return (f'<p class="note">The explained rows where the models\' top-{s.k} features agree least '
            "(mean over model pairs).</p>"
            + _table(["dataset row", "true class", "agreement", "predictions (class ×models)"], rows, align="rlrl"))


def render_html(comparison: Comparison, summary: Summary, *, title: str | None = None) -> str:
    """A self-contained HTML page (inline CSS and SVG; no script, no external URL) reporting a comparison."""
    c, s = comparison, summary
    title = title or f"SeedScope report: {c.run.dataset.name}"
    body = {
        "finding": _finding(c, s),
        "configuration": _configuration(c, s),
        "library-versions": _fields(list(library_versions().items())),
        "models": _models(c),
        "prediction-disagreement": _disagreement(c),
        "global-importance": _importance(c, s),
        "explanation-agreement": _agreement(s),
        "equal-accuracy-different-logic": _pairs(c, s),
        "contested-rows": _contested(c, s),
    }
    nav = "".join(f'<a href="#{key}">{_e(name)}</a>' for key, name in SECTIONS.items())
    sections = "".join(f'<section><h2 id="{key}">{_e(SECTIONS[key])}</h2>{body[key]}</section>' for key in SECTIONS)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body><main><h1>{_e(title)}</h1>"
        f'<p class="subtitle">{c.run.n_models} models that differ only in random seed, and how much their '
        f"explanations agree.</p><nav>{nav}</nav>{sections}</main></body></html>\n"
    )


# ---------------------------------------------------------------- bundle

def _config_json(config) -> dict:
    d = dataclasses.asdict(config)
    if "vary" in d:
        d["vary"] = sorted(d["vary"])
    return d


def _arrays(c: Comparison) -> dict[str, np.ndarray]:
    run, ev, ex = c.run, c.evaluation, c.explanation
    arrays = {
        "dataset.X": run.dataset.X, "dataset.y": run.dataset.y,
        "run.train_rows": run.train_rows, "run.val_rows": run.val_rows, "run.test_rows": run.test_rows,
        "evaluation.rows": ev.rows, "evaluation.proba": ev.proba, "evaluation.predictions": ev.predictions,
        "evaluation.correct": ev.correct, "evaluation.disagreement": ev.multiplicity.disagreement,
        "scores.per_model": ev.scores.per_model[list(METRICS)].to_numpy(),
        "scores.summary": ev.scores.summary[list(METRICS)].to_numpy(),
        "explanation.rows": ex.rows, "explanation.target_class": ex.target_class,
    }
    if run.history is not None:
        arrays |= {"history.train_loss": run.history.train_loss, "history.val_accuracy": run.history.val_accuracy,
                   "history.best_epoch": run.history.best_epoch}
    for name, attr in ex.by_method.items():
        arrays[f"attributions.{name}.values"] = attr.values
        if attr.repeat is not None:
            arrays[f"attributions.{name}.repeat"] = attr.repeat
    return arrays


def bundle_bytes(comparison: Comparison) -> bytes:
    """The comparison as a zip: manifest.json, metrics.csv and arrays.npz (see the module docstring)."""
    run, ex = comparison.run, comparison.explanation
    ds = run.dataset
    manifest = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "dataset": {"name": ds.name, "feature_names": list(ds.feature_names), "class_names": list(ds.class_names),
                    "image_shape": ds.image_shape and list(ds.image_shape),
                    "informative": ds.informative and list(ds.informative),
                    "notes": list(ds.notes), "content_hash": ds.content_hash},
        "run_config": _config_json(run.config), "explain_config": _config_json(ex.config),
        "methods": list(ex.methods), "skipped": list(ex.skipped), "metrics": list(METRICS),
        "fingerprints": list(run.fingerprints), "libraries": library_versions(),
    }
    npz = io.BytesIO()
    np.savez_compressed(npz, **_arrays(comparison))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
        zf.writestr("metrics.csv", comparison.evaluation.scores.per_model.to_csv())
        zf.writestr("arrays.npz", npz.getvalue(), compress_type=zipfile.ZIP_STORED)  # already compressed
    return out.getvalue()


def save_bundle(comparison: Comparison, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.write_bytes(bundle_bytes(comparison))
    return path


def write_report(comparison: Comparison, summary: Summary, html_path: str | os.PathLike) -> tuple[Path, Path]:
    """Write the HTML report to html_path and the bundle beside it (same stem, .zip); returns both paths."""
    html_path = Path(html_path)
    html_path.write_text(render_html(comparison, summary), encoding="utf-8")
    return html_path, save_bundle(comparison, html_path.with_suffix(".zip"))


def _bad(reason: str) -> BundleError:
    return BundleError(f"This file is not a SeedScope bundle ({reason}); "
                       "export one from the Report page or with python -m core compare.")


def _open_zip(raw: bytes, what: str) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise _bad(f"{what} is not a zip archive") from None
    if sum(info.file_size for info in zf.infolist()) > _MAX_UNZIPPED:
        raise _bad(f"{what} would unpack to more than {_MAX_UNZIPPED // 2**20} MB")
    return zf


def _member(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        return zf.read(name)
    except KeyError:
        raise _bad(f"it has no {name}") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # a truncated or corrupted member
        raise _bad(f"{name} cannot be unpacked: {exc}") from None


def _read_arrays(raw: bytes) -> dict[str, np.ndarray]:
    _open_zip(raw, "arrays.npz")  # refuses archives that would inflate too far before numpy reads them
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as exc:  # numpy's answer to an object (pickled) array under allow_pickle=False
        raise _bad(f"arrays.npz holds an array SeedScope will not read: {exc}") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _bad(f"arrays.npz cannot be read: {exc}") from None


def _spec(manifest: dict, history: bool) -> list[tuple[str, tuple[str, ...], str, str | None]]:
    """(array, named axes, dtype kind, bound on values) for every array the manifest implies.

    Axes with the same name must have the same length; integer arrays index
    rows or classes and must lie in [0, bound).
    """
    spec = [
        ("dataset.X", ("rows", "features"), "f", None), ("dataset.y", ("rows",), "i", "classes"),
        ("run.train_rows", ("models", "train"), "i", "rows"), ("run.val_rows", ("models", "val"), "i", "rows"),
        ("run.test_rows", ("models", "test"), "i", "rows"), ("evaluation.rows", ("shared",), "i", "rows"),
        ("evaluation.proba", ("models", "shared", "classes"), "f", None),
        ("evaluation.predictions", ("models", "shared"), "i", "classes"),
        ("evaluation.correct", ("models", "shared"), "b", None),
        ("evaluation.disagreement", ("models", "models"), "f", None),
        ("scores.per_model", ("models", "metrics"), "f", None), ("scores.summary", ("stats", "metrics"), "f", None),
        ("explanation.rows", ("explained",), "i", "rows"),
        ("explanation.target_class", ("explained",), "i", "classes"),
    ]
    if history:
        spec += [("history.train_loss", ("models", "epochs"), "f", None),
                 ("history.val_accuracy", ("models", "epochs"), "f", None),
                 ("history.best_epoch", ("models",), "i", "epochs")]
    for name in manifest["methods"]:
        spec.append((f"attributions.{name}.values", ("models", "explained", "features"), "f", None))
    return spec


def _check_arrays(arrays: dict[str, np.ndarray], spec, sizes: dict[str, int]) -> None:
    for key, axes, kind, bound in spec:
        if key not in arrays:
            raise _bad(f"arrays.npz has no array {key!r}")
        a = arrays[key]
        for axis, n in zip(axes, a.shape):
            sizes.setdefault(axis, n)
        expected = tuple(sizes[axis] for axis in axes)
        if a.shape != expected or a.dtype.kind != kind:
            raise _bad(f"array {key!r} is {a.dtype} {a.shape}; expected kind {kind!r} shaped "
                       f"({', '.join(f'{axis}={n}' for axis, n in zip(axes, expected))})")
        if bound and a.size and (a.min() < 0 or a.max() >= sizes[bound]):
            raise _bad(f"array {key!r} has values outside 0..{sizes[bound] - 1}")


def _configs(manifest: dict) -> tuple[RunConfig, ExplainConfig]:
    rc, xc = dict(manifest["run_config"]), dict(manifest["explain_config"])
    mlp = MLPConfig(**{**rc["mlp"], "hidden": tuple(rc["mlp"]["hidden"])})
    run_config = RunConfig(**{**rc, "vary": frozenset(rc["vary"]), "mlp": mlp, "trees": TreeConfig(**rc["trees"])})
    return run_config, ExplainConfig(**{**xc, "methods": tuple(xc["methods"])})


def _read_manifest(zf: zipfile.ZipFile) -> dict:
    try:
        manifest = json.loads(_member(zf, "manifest.json"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _bad(f"manifest.json does not declare format {FORMAT!r}")
    if manifest.get("version") != FORMAT_VERSION:
        raise BundleError(f"This bundle has format version {manifest.get('version')!r}, but this SeedScope reads "
                          f"version {FORMAT_VERSION}; export it again with this version of SeedScope.")
    return manifest


def load_bundle(source: str | os.PathLike | bytes | BinaryIO) -> Comparison:
    """Rebuild a Comparison (without its models: run.bank is None) from a bundle path, bytes or file object."""
    if isinstance(source, (str, os.PathLike)):
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise BundleError(f"Cannot read {os.fspath(source)!r} ({exc.strerror}); check the path.") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    else:
        source.seek(0)
        raw = source.read()
    zf = _open_zip(raw, "the file")
    manifest = _read_manifest(zf)
    arrays = _read_arrays(_member(zf, "arrays.npz"))
    try:
        run_config, explain_config = _configs(manifest)
        meta, methods, fingerprints = manifest["dataset"], list(manifest["methods"]), tuple(manifest["fingerprints"])
        names, classes = tuple(meta["feature_names"]), tuple(meta["class_names"])
        if not all(isinstance(x, str) for x in (*names, *classes, *fingerprints, meta["name"])):
            raise TypeError("names and fingerprints must be strings")
        if manifest["metrics"] != list(METRICS) or not set(methods) <= set(METHODS):
            raise ValueError("its metrics or methods are not ones this SeedScope knows")
        if len(fingerprints) != run_config.n_models:
            raise ValueError(f"{len(fingerprints)} fingerprints for {run_config.n_models} models")
        sizes = {"models": run_config.n_models, "features": len(names), "classes": len(classes),
                 "metrics": len(METRICS), "stats": 4}
        _check_arrays(arrays, _spec(manifest, run_config.family == "mlp"), sizes)
        if not np.isin(arrays["explanation.rows"], arrays["evaluation.rows"]).all():
            raise ValueError("explained rows must be test rows shared by all models")
        dataset = Dataset(name=meta["name"], X=arrays["dataset.X"], y=arrays["dataset.y"], feature_names=names,
                          class_names=classes, informative=meta["informative"] and tuple(meta["informative"]),
                          image_shape=meta["image_shape"] and tuple(meta["image_shape"]), notes=tuple(meta["notes"]))
    except ConfigError as exc:
        raise _bad(f"its settings are invalid: {exc}") from None
    except KeyError as exc:
        raise _bad(f"manifest.json lacks the field {exc}") from None
    except (TypeError, ValueError) as exc:
        raise _bad(f"manifest.json does not match what SeedScope writes: {exc}") from None
    if dataset.content_hash != meta["content_hash"]:
        raise _bad("the dataset arrays do not match the content hash recorded with them; it was altered")
    return _comparison(manifest, arrays, run_config, explain_config, dataset, fingerprints)


def _comparison(manifest: dict, a: dict[str, np.ndarray], run_config: RunConfig, explain_config: ExplainConfig,
                dataset: Dataset, fingerprints: tuple[str, ...]) -> Comparison:
    history = (History(a["history.train_loss"], a["history.val_accuracy"], a["history.best_epoch"])
               if "history.train_loss" in a and run_config.family == "mlp" else None)
    run = Run(config=run_config, dataset=dataset, bank=None, train_rows=a["run.train_rows"],
              val_rows=a["run.val_rows"], test_rows=a["run.test_rows"], fingerprints=fingerprints, history=history)
    per_model = pd.DataFrame(a["scores.per_model"], columns=list(METRICS))
    per_model.index.name = "model"
    per_model["fingerprint"] = list(fingerprints)
    summary = pd.DataFrame(a["scores.summary"], index=["mean", "std", "min", "max"], columns=list(METRICS))
    # Multiplicity is recomputed from the stored predictions: the same function gives the same numbers.
    evaluation = Evaluation(
        scores=Scores(per_model, summary),
        multiplicity=multiplicity(a["evaluation.predictions"], common_rows_only="split" in run_config.vary),
        rows=a["evaluation.rows"], proba=a["evaluation.proba"], predictions=a["evaluation.predictions"],
        correct=a["evaluation.correct"],
    )
    rows, target = a["explanation.rows"], a["explanation.target_class"]
    by_method = {}
    for name in manifest["methods"]:
        repeat = a.get(f"attributions.{name}.repeat")
        if repeat is not None and (repeat.shape != a[f"attributions.{name}.values"].shape[1:]
                                   or repeat.dtype.kind != "f"):
            raise _bad(f"array 'attributions.{name}.repeat' is {repeat.dtype} {repeat.shape}; "
                       "expected floats shaped (explained, features)")
        by_method[name] = Attributions(name, a[f"attributions.{name}.values"], rows, target, repeat)
    explanation = Explanation(explain_config, rows, target, by_method, tuple(manifest["skipped"]))
    return Comparison(run, evaluation, explanation)
