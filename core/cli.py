"""Command line: `python -m core compare ...` trains, explains, writes the report and its data bundle.

The same configuration objects as the app, built from flags instead of widgets, so the
app and the command line give identical numbers for the same settings.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import threading
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .agree.agreement import METRICS
from .agree.topk import check_k
from .archive import atomic_write_bytes
from .export.bundle import check_expected_size, load_bundle
from .run.cluster import compare_on_ray, connect_ray
from .views.cohort import Cohort
from .views.cohort_figures import cohort_figures
from .run.compare import HEADLINE_METRIC, compare, summarize, verdict_text
from .training.data import BUILTIN_DATASETS, MAX_CLASSES, load_builtin, load_csv
from .training.estimators import parse_param
from .views.diff import diff_runs
from .errors import BundleError, ConfigError, DatasetError
from .explainers.registry import MAX_DOUBLINGS, METHODS, PRECISIONS, ExplainConfig, default_methods
from .format import confidence, difference_interval, percent, points
from .agree.groups import GROUP_THRESHOLD
from .views.gate import release_gate
from .run.presets import PRESETS
from .seeding import SOURCES
from .training.config import FAMILIES, MAX_MODELS, MLPConfig, RunConfig, SklearnConfig, inert_note, parse_hidden

_RUN, _MLP, _SKLEARN, _EXPLAIN = RunConfig(), MLPConfig(), SklearnConfig(), ExplainConfig()


def _csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=(
        "SeedScope: train models that differ only in their randomness, explain each one, "
        "and measure whether they decide for the same reasons."))
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("compare", help="train, explain and write an HTML report with its data bundle",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = c.add_argument_group("data")
    data.add_argument("--dataset", default="breast_cancer",
                      help=f"built-in dataset: {', '.join(BUILTIN_DATASETS)} (ignored with --csv)")
    data.add_argument("--csv", type=Path, help="CSV file to use instead of a built-in dataset")
    data.add_argument("--target", help="target column of the CSV file (required with --csv)")
    data.add_argument("--task", choices=("classification", "regression"),
                      help="what the target is (default: regression for a numeric target with more than "
                           f"{MAX_CLASSES} distinct values, classification otherwise)")
    data.add_argument("--preset", choices=list(PRESETS), metavar="NAME",
                      help="run a demo preset instead of setting data, models and explanations: "
                           + "; ".join(repr(p) for p in PRESETS))
    runs = c.add_argument_group("models and randomness")
    runs.add_argument("--family", default=_RUN.family, help=f"model family: {', '.join(FAMILIES)}")
    runs.add_argument("--models", type=int, default=_RUN.n_models, help=f"number of models (1-{MAX_MODELS})")
    runs.add_argument("--vary", default=",".join(sorted(_RUN.vary)),
                      help=f"comma-separated sources of randomness that vary: {', '.join(SOURCES)}")
    runs.add_argument("--seed", type=int, default=_RUN.seed, help="base seed")
    runs.add_argument("--test-fraction", type=float, default=_RUN.test_fraction, help="share of rows held out")
    runs.add_argument("--epochs", type=int, default=_MLP.epochs, help="MLP training epochs")
    runs.add_argument("--hidden", default=",".join(map(str, _MLP.hidden)), help="MLP hidden layer sizes")
    runs.add_argument("--dropout", type=float, default=_MLP.dropout, help="MLP dropout rate")
    runs.add_argument("--batch-size", type=int, default=_MLP.batch_size, help="MLP mini-batch size")
    runs.add_argument("--learning-rate", type=float, default=_MLP.learning_rate, help="MLP Adam learning rate")
    runs.add_argument("--patience", type=int, default=0, help="MLP early-stopping patience in epochs (0 = off)")
    runs.add_argument("--trees", type=int, default=_SKLEARN.n_estimators, help="trees per forest / boosting model")
    runs.add_argument("--estimator", metavar="PATH",
                      help="any scikit-learn estimator by import path, e.g. sklearn.ensemble.ExtraTreesClassifier "
                           "(sets --family estimator; its random_state comes from the init source)")
    runs.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                      help="a parameter of --estimator, repeatable: --param n_estimators=300 --param max_features=0.5")
    runs.add_argument("--subsample", type=float, default=_SKLEARN.subsample,
                      help="boosting (gradient_boosting, xgboost, lightgbm): share of rows each tree sees")
    runs.add_argument("--colsample", type=float, default=_SKLEARN.colsample,
                      help="xgboost, lightgbm: share of features each tree sees (both 1.0: the seed changes nothing)")
    runs.add_argument("--tolerance", type=float,
                      help="regression: how far apart two predictions must be to differ, in the target's units "
                           "(default: 10%% of the target's standard deviation on the training rows)")
    explain = c.add_argument_group("explanations and agreement")
    explain.add_argument("--methods", help="comma-separated explanation methods (default: SHAP, LIME and, for "
                         f"neural nets, integrated gradients); all: {', '.join(METHODS)}")
    explain.add_argument("--rows", type=int, default=_EXPLAIN.max_rows, help="test rows to explain")
    explain.add_argument("--background", type=int, default=_EXPLAIN.background_size,
                         help="k-means background rows for SHAP")
    explain.add_argument("--kernel-samples", type=int, default=_EXPLAIN.kernel_samples,
                         help="KernelSHAP coalitions, shared by all rows and models")
    explain.add_argument("--lime-samples", type=int, default=_EXPLAIN.lime_samples, help="LIME samples per row")
    explain.add_argument("--precision", choices=PRECISIONS, default=_EXPLAIN.precision,
                         help="auto: while the test of whether the models differ is inconclusive, KernelSHAP and LIME "
                         f"draw twice as many samples, up to {2 ** MAX_DOUBLINGS}x; fixed: never")
    explain.add_argument("--ig-steps", type=int, default=_EXPLAIN.ig_steps,
                         help="integrated-gradient Gauss-Legendre nodes per smooth piece of the path (cut at every ReLU kink)")
    explain.add_argument("--group-threshold", type=float, default=GROUP_THRESHOLD,
                         help="features whose |Spearman correlation| reaches this are also compared as one group")
    explain.add_argument("--k", type=int, help="top-k features compared (default: 5, or half the features if fewer than 10)")
    c.add_argument("--cohort", help="also report a subgroup of test rows, conditions separated by commas: "
                   "'petal length (cm)>=4.5, sepal width (cm)<3' (also > and <=), 'colour=red|blue' for a "
                   "categorical column, 'predicted=CLASS' (the models' majority vote), 'outcome=correct' or "
                   "'outcome=incorrect'; or JSON as the app exports it")
    c.add_argument("--out", type=Path, default=Path("seedscope_report.html"),
                   help="HTML report path; the data bundle is written beside it as .zip")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    compute = c.add_argument_group("compute")
    compute.add_argument("--engine", choices=("local", "ray"), default="local",
                         help="local: in this process; ray: the models fan out to Ray tasks (results are identical)")
    compute.add_argument("--address", help="with --engine ray: the cluster to join, auto (the one this machine belongs "
                         "to) or ray://HOST:PORT (default: start Ray on this machine)")
    compute.add_argument("--chunk", type=int, help="with --engine ray: models per task (default: from the model size)")
    _gate_flags(c.add_argument_group("release gate (exit code 1 when a criterion fails)"))
    g = commands.add_parser("check", help="judge a saved bundle against a release gate: exit 0 pass, 1 fail, 2 bad input",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g.add_argument("bundle", type=Path, help="data bundle (.zip) written by compare or the app")
    g.add_argument("--k", type=int, help="top-k features compared (default: 5, or half the features if fewer than 10)")
    _gate_flags(g)
    d = commands.add_parser("diff", help="compare two saved runs: do their models agree with each other?",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d.add_argument("a", type=Path, help="bundle of run A")
    d.add_argument("b", type=Path, help="bundle of run B (same features)")
    d.add_argument("--out", type=Path, default=Path("seedscope_diff.html"), help="HTML page to write")
    d.add_argument("--method", help="explanation method compared (default: A's headline method)")
    d.add_argument("--metric", default=HEADLINE_METRIC, help=f"agreement metric: {', '.join(METRICS)}")
    d.add_argument("--k", type=int, help="top-k features compared")
    return parser


def _gate_flags(group) -> None:
    group.add_argument("--min-agreement", type=float,
                       help="fail when the lower end of the 95%% interval of between-model agreement is below this")
    group.add_argument("--max-ambiguity", type=float,
                       help="fail when the upper end of the 95%% interval of prediction ambiguity is above this")
    group.add_argument("--same-logic", action="store_true",
                       help="fail unless the test of whether the models differ says no detectable difference "
                       "(the 95%% interval of the difference stays above its margin)")
    group.add_argument("--method", help="explanation method the criteria read (default: the headline's)")
    group.add_argument("--metric", default=HEADLINE_METRIC, help=f"agreement metric: {', '.join(METRICS)}")
    group.add_argument("--json", action="store_true", help="print the gate's verdict as JSON on stdout")


def _flags_beside_preset(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """Data, model and explanation flags given together with --preset (which sets them all)."""
    defaults = vars(parser.parse_args(["compare"]))
    kept = ("preset", "out", "quiet", "engine", "address", "chunk", "k", "cohort", "group_threshold", "min_agreement",
            "max_ambiguity", "same_logic", "method", "metric", "json")
    return [k for k, v in vars(args).items() if k not in kept and defaults.get(k) != v]


def _check_writable(out: Path) -> None:
    """ConfigError unless the report (and the bundle beside it) can be written to `out`'s folder."""
    folder = out.parent
    if not folder.is_dir():
        raise ConfigError(f"--out {os.fspath(out)!r}: the folder {os.fspath(folder)!r} does not exist; create it "
                          "or choose another path.")
    if out.is_dir():
        raise ConfigError(f"--out {os.fspath(out)!r} is a folder; give a file path such as report.html.")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"--out {os.fspath(out)!r}: the folder {os.fspath(folder)!r} is not writable; choose "
                          "another path.")


def _engine(args: argparse.Namespace):
    """compare, or compare_on_ray joined to the cluster the flags name; ConfigError for bad compute flags."""
    if args.engine == "local":
        if args.address is not None or args.chunk is not None:
            raise ConfigError("--address and --chunk apply to --engine ray; add it or drop them.")
        return compare
    if args.chunk is not None and args.chunk < 1:
        raise ConfigError(f"--chunk is a number of models per task, at least 1; got {args.chunk}.")
    connect_ray(args.address)
    return functools.partial(compare_on_ray, address=args.address, chunk=args.chunk)


def build(args: argparse.Namespace):
    """(dataset, RunConfig, ExplainConfig) from parsed flags; raises DatasetError/ConfigError."""
    if args.preset:
        preset = PRESETS[args.preset]
        return load_builtin(preset.dataset), preset.run, preset.explain
    if args.csv is not None:
        if not args.target:
            raise ConfigError("--csv needs --target, the name of the label column.")
        dataset = load_csv(args.csv, args.target, task=args.task)
    else:
        dataset = load_builtin(args.dataset)
        if args.task is not None and args.task != dataset.task:
            raise ConfigError(f"{args.dataset} is a {dataset.task} dataset; --task {args.task} applies to --csv files.")
    if args.tolerance is not None and not dataset.regression:
        raise ConfigError("--tolerance is for regression, in the target's units; a classifier's predictions "
                          "differ when their classes do.")
    if args.tolerance is not None and not args.tolerance > 0:
        raise ConfigError(f"--tolerance must be positive, in the target's units; got {args.tolerance}.")
    hidden = parse_hidden(args.hidden)
    if args.param and not args.estimator:
        raise ConfigError("--param sets a parameter of --estimator; name the estimator too.")
    if args.estimator:
        if args.family not in (_RUN.family, "estimator"):
            raise ConfigError(f"--estimator names the model itself; drop --family {args.family}.")
        args.family = "estimator"
    run_config = RunConfig(
        family=args.family, n_models=args.models, seed=args.seed, vary=frozenset(_csv_list(args.vary)),
        test_fraction=args.test_fraction,
        mlp=MLPConfig(hidden=hidden, dropout=args.dropout, epochs=args.epochs, batch_size=args.batch_size,
                      learning_rate=args.learning_rate, patience=args.patience or None),
        sklearn=replace(_SKLEARN, n_estimators=args.trees, subsample=args.subsample, colsample=args.colsample,
                        estimator=args.estimator, params=tuple(parse_param(p) for p in args.param)),
    )
    methods = tuple(_csv_list(args.methods)) if args.methods else default_methods(args.family, dataset.n_classes)
    explain_config = ExplainConfig(methods=methods, max_rows=args.rows, background_size=args.background,
                                   kernel_samples=args.kernel_samples, lime_samples=args.lime_samples,
                                   ig_steps=args.ig_steps, seed=args.seed, precision=args.precision, k=args.k)
    return dataset, run_config, explain_config


def _cohort(text: str | None, dataset) -> Cohort | None:
    """The --cohort option read and checked against the data, before any training."""
    if not text or not text.strip():
        return None
    try:
        cohort = Cohort.parse(text)
        cohort.check(dataset)
    except ConfigError as exc:
        raise ConfigError(f"--cohort: {exc}") from None
    return cohort


def _cohort_line(comparison, summary, cohort: Cohort) -> str:
    inside, whole = cohort_figures(comparison, summary, cohort), cohort_figures(comparison, summary, Cohort())
    regression = comparison.run.dataset.regression
    show = (lambda v: f"{v:.4g}") if regression else (lambda v: percent(v, 1))
    accuracy = (f"; {'RMSE' if regression else 'accuracy'} {show(inside.accuracy)} against {show(whole.accuracy)} "
                "on all of them" if inside.scores is not None else "")
    return f"cohort: {cohort.describe(regression)} {len(inside.rows)} of {whole.n_test} test rows{accuracy}."


def main(argv: list[str] | None = None) -> int:
    in_main_thread = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if in_main_thread else None
    try:
        with warnings.catch_warnings():
            # Library warnings (scikit-learn on tiny classes, shap, torch) are not the user's to act on here.
            warnings.simplefilter("ignore")
            return _main(argv)
    finally:
        if in_main_thread:  # a caller's own Ctrl-C handling, as it was (see _files_written)
            signal.signal(signal.SIGINT, handler)


def interrupted_after_writing(signum, frame) -> None:
    """SIGINT once the files are written: one line and exit code 130, at once. Raised as KeyboardInterrupt
    it could land in any object's __del__ as the run's objects are freed (tqdm's bar's, say), where Python
    prints a traceback and carries on."""
    for stream in (sys.stdout, sys.stderr):  # what was printed before the Ctrl-C still reaches a pipe
        stream.flush()
    print("interrupted.", file=sys.stderr, flush=True)
    os._exit(130)


def _files_written() -> None:
    """From here a Ctrl-C has nothing left to spare: the report and the bundle are whole on disk."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupted_after_writing)


def _gate(args: argparse.Namespace, summary, seed: int) -> int:
    """Judge the release gate the flags ask for and print the verdict; 0 passed (or nothing asked), 1 failed."""
    criteria = release_gate(summary, seed=seed, min_agreement=args.min_agreement, max_ambiguity=args.max_ambiguity,
                            method=args.method, metric=args.metric, same_logic=args.same_logic)
    passed = all(c.passed for c in criteria)
    method = args.method or summary.headline_method
    v = summary.by_method[method].verdict
    if args.json:
        def finite(x: float) -> float | None:  # JSON has no NaN: a test without an interval has null ends
            return float(x) if np.isfinite(x) else None
        print(json.dumps({"passed": passed, "headline": summary.headline, "verdict": v and {
            "method": method, "outcome": v.outcome, "difference": v.difference.estimate,
            "lo": finite(v.difference.lo), "hi": finite(v.difference.hi), "margin": v.margin, "samples": v.samples},
            "criteria": [
            {"name": c.name, "estimate": c.interval.estimate, "lo": finite(c.interval.lo), "hi": finite(c.interval.hi),
             "level": c.interval.level, "bound": c.bound, "rule": "at least" if c.at_least else "at most",
             "passed": c.passed} for c in criteria]}, indent=1))
    else:
        if criteria:
            print(f"verdict: {verdict_text(v, method, precision=summary.precision)}")
        for c in criteria:
            end, rule = (c.interval.lo, ">=") if c.at_least else (c.interval.hi, "<=")
            if c.points:
                shown = f"{points(c.interval.estimate)} ({difference_interval(c.interval)})"
                needs = f"{points(end)} {rule} {points(c.bound)}"
            else:
                shown = f"{percent(c.interval.estimate, 1)} ({confidence(c.interval)})"
                needs = f"{percent(end, 1)} {rule} {percent(c.bound, 1)}"
            print(f"{'PASS' if c.passed else 'FAIL'} {c.name}: {shown}; needs {needs}")
    return 0 if passed else 1


def _check(args: argparse.Namespace) -> int:
    try:
        comparison = load_bundle(args.bundle)
        summary = summarize(comparison, k=args.k)
        return _gate(args, summary, comparison.explanation.config.seed)
    except (ConfigError, BundleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _diff(args: argparse.Namespace) -> int:
    try:
        _check_writable(args.out)
        a, b = load_bundle(args.a), load_bundle(args.b)
        d = diff_runs(a, b, k=args.k, method=args.method, metric=args.metric)
        from .export.report import render_diff_html
        atomic_write_bytes(args.out, render_diff_html(d, (args.a.name, args.b.name)).encode("utf-8"))
    except (ConfigError, BundleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {exc.filename} ({exc.strerror}); choose another --out path.", file=sys.stderr)
        return 2
    print(f"agreement within A {percent(d.within[0])}, within B {percent(d.within[1])}, between {percent(d.between)} "
          f"({d.level}); {len(d.changed_rows)} rows changed their majority prediction")
    print(f"diff: {args.out}")
    return 0


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args)
    if args.command == "diff":
        return _diff(args)
    beside = _flags_beside_preset(args, parser) if args.preset else []
    if beside:
        parser.error(f"--preset sets the data, models and explanations; drop {', '.join('--' + b.replace('_', '-') for b in beside)}")
    try:
        dataset, run_config, explain_config = build(args)
        cohort = _cohort(args.cohort, dataset)
        if args.k is not None:
            check_k(args.k, dataset.n_features)  # before the long part, not after it
        _check_writable(args.out)
        check_expected_size(dataset, run_config, explain_config)  # the bundle beside the report must load back
        if not 0 < args.group_threshold <= 1:
            raise ConfigError(f"--group-threshold is an absolute correlation in (0, 1]; got {args.group_threshold}.")
        run = _engine(args)  # joins the Ray cluster now: an unreachable one fails before the long part
        with tqdm(total=100, disable=args.quiet, bar_format="{l_bar}{bar}| {elapsed}", file=sys.stderr) as bar:
            def progress(fraction: float, message: str) -> None:
                bar.set_description_str(message[:60])
                bar.update(round(100 * fraction) - bar.n)

            comparison = run(dataset, run_config, explain_config, progress=progress, delta=args.tolerance)
        summary = summarize(comparison, k=args.k, group_threshold=args.group_threshold)
        release_gate(summary, seed=explain_config.seed, min_agreement=args.min_agreement,  # bad gate flags: exit 2
                     max_ambiguity=args.max_ambiguity, method=args.method, metric=args.metric,
                     same_logic=args.same_logic)
        from .export.report import (
            write_report,  # the report pulls in vl-convert; only load it once needed
        )
        html_path, bundle_path = write_report(comparison, summary, args.out, cohort=cohort)
        _files_written()
    except (ConfigError, DatasetError, BundleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write the report ({exc.strerror}: {exc.filename}); choose another --out path.",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # report and bundle are written atomically: an interrupt leaves no half file
        print("interrupted: no report or bundle was written.", file=sys.stderr)
        return 130
    except Exception as exc:  # a failure we did not foresee: one line, not a traceback
        print(f"error: the comparison failed ({type(exc).__name__}: {exc}); try other settings, and report it "
              "if it persists.", file=sys.stderr)
        return 1
    notes = [*dataset.notes, inert_note(run_config)]
    for note in filter(None, notes):  # beside JSON on stdout, notes go to stderr
        print(f"note: {note}", file=sys.stderr if args.json else sys.stdout)
    if not args.json:
        print(summary.headline)
        print(summary.grouping)
        if cohort is not None:
            print(_cohort_line(comparison, summary, cohort))
        print(f"report: {html_path}")
        print(f"bundle: {bundle_path}")
    return _gate(args, summary, explain_config.seed)
