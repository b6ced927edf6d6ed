"""Data bundle of a comparison: a zip that rebuilds the Comparison without its models.

manifest.json (configs, dataset metadata, fingerprints, library versions), metrics.csv
(for people) and arrays.npz (for `load_bundle`). Identical runs give byte-identical
bundles, and `save_bundle` replaces a file atomically.

Loading never unpickles: JSON for metadata, and each .npy member parsed by core.archive (numbers
only, its header's shape matching its bytes). It holds at most the file plus _MAX_UNZIPPED bytes
of unpacked data, and any file it cannot use ends in a BundleError that says why.
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import reprlib
import types
import typing
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from .. import runtime
from ..archive import (ArchiveError, TooLarge, atomic_write_bytes, member, npz_bytes, open_zip, read_npz, text_problem,
                      write_member)
from ..views.cohort import Cohort
from ..run.compare import Comparison, Summary
from ..training.data import Dataset
from ..errors import BundleError, ConfigError
from ..explainers.registry import METHODS, ExplainConfig
from ..explainers.methods import Attributions, Explanation
from ..agree.scores import REGRESSION_SCORES, SCORES, Evaluation, Scores, multiplicity
from ..training.config import RunConfig, SklearnConfig
from ..training.fit import History, Run

# Version 2 added regression (manifest "task" and "delta"); version 1 bundles are classification and still load.
FORMAT, FORMAT_VERSION, READS = "seedscope-bundle", 2, (1, 2)
# Unpacked bytes a load may hold, which bounds what a hostile file can make it allocate. Per model, the
# largest bundle holds float64 attributions of 300 explained rows (Setup's maximum) x 100 features x 6
# methods (the most one family has) = 1.44 MB; train/val/test row ids of a 100,000-row dataset, 0.8 MB;
# proba, predictions and correct on 25,000 shared test rows of 2 classes, 0.63 MB: 50 models and the
# dataset (100,000 x 100 float64, 80 MB) are 225 MB of arrays, and loading holds arrays.npz too,
# compressed (float attributions barely compress): built and measured, 179 MB needing 404 MB. Runs of
# more models (up to training.MAX_MODELS) fit when they explain fewer rows or features (1,000 MLPs on
# breast_cancer explaining 50 rows need about 90 MB); bundle_bytes refuses one that would not load, and
# the CLI checks its estimate before training (expected_bytes).
_MAX_UNZIPPED = 512 * 2**20
# A comparison's floats are finite but for two: roc_auc is NaN when a model's test rows lack a class
# (metrics._roc_auc), and so are its summary statistics; a training loss records a diverged epoch as
# inf or NaN (early stopping then keeps an earlier epoch's weights).
_NAN_AUC, _AUC = ("scores.per_model", "scores.summary"), SCORES.index("roc_auc")
_ANY_FLOAT = ("history.train_loss",)
_KINDS = {bool: "true or false", int: "a whole number of at least 0", float: "a finite number"}
_MAX_COHORT = 2**20  # cohort.json holds a few conditions; a megabyte is far more than any needs


def library_versions(comparison: Comparison | None = None) -> dict[str, str]:
    """Versions of Python and the libraries a comparison was computed with (None: this process's),
    and the bundle format."""
    return {**(comparison.libraries if comparison is not None else runtime.library_versions()),
            "seedscope-format": str(FORMAT_VERSION)}


# ---------------------------------------------------------------- writing

def _config_json(config) -> dict:
    d = dataclasses.asdict(config)
    if "vary" in d:
        d["vary"] = sorted(d["vary"])
    return d


def _arrays(c: Comparison) -> dict[str, np.ndarray]:
    run, ev, ex = c.run, c.evaluation, c.explanation
    names = list(REGRESSION_SCORES if run.dataset.regression else SCORES)
    arrays = {
        "dataset.X": run.dataset.X, "dataset.y": run.dataset.y,
        "run.train_rows": run.train_rows, "run.val_rows": run.val_rows, "run.test_rows": run.test_rows,
        "evaluation.rows": ev.rows, "evaluation.proba": ev.proba, "evaluation.predictions": ev.predictions,
        "evaluation.correct": ev.correct, "evaluation.disagreement": ev.multiplicity.disagreement,
        # C order whatever pandas' internal blocks hold, so a loaded comparison saves back to the same bytes
        "scores.per_model": np.ascontiguousarray(ev.scores.per_model[names].to_numpy()),
        "scores.summary": np.ascontiguousarray(ev.scores.summary[names].to_numpy()),
        "explanation.rows": ex.rows, "explanation.target_class": ex.target_class,
    }
    if run.history is not None:
        arrays |= {"history.train_loss": run.history.train_loss, "history.val_accuracy": run.history.val_accuracy,
                   "history.best_epoch": run.history.best_epoch}
    for name, attr in ex.by_method.items():
        arrays[f"attributions.{name}.values"] = attr.values
        if attr.halves is not None:
            arrays[f"attributions.{name}.halves"] = attr.halves
    return arrays


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None  # JSON has no NaN


def _agreement_json(summary: Summary) -> dict:
    """Agreement at the summary's k, for readers of the bundle (load_bundle recomputes it instead)."""
    return {
        "k": summary.k, "tolerance": summary.tolerance, "headline": summary.headline,
        "null_baseline": {m: _finite(v) for m, v in summary.null.items()},
        "methods": {name: {"between_models": {m: _finite(v) for m, v in a.between.items()},
                           "noise_floor": {m: _finite(v) for m, v in a.noise_floor.items()},
                           "verdict": a.verdict and _verdict_json(a.verdict),
                           # (model, model) lists: 36 of 1,000 models would be a gigabyte of JSON text
                           "matrices": ({m: matrix.tolist() for m, matrix in a.matrices.items()}
                                        if len(summary.accuracy) <= _JSON_MATRIX_MODELS else None)}
                    for name, a in summary.by_method.items()},
        "equal_accuracy_pairs": json.loads(summary.pairs.to_json(orient="records")),
        "ambiguity_interval": dataclasses.asdict(summary.ambiguity),
        "groups": {"threshold": summary.group_threshold, "k": summary.group_k,
                   "features": [list(g) for g in summary.groups], "names": list(summary.group_names),
                   "between_models": {name: {m: _finite(v) for m, v in a.between.items()}
                                      for name, a in summary.group_by_method.items()},
                   "noise_floor": {name: {m: _finite(v) for m, v in a.noise_floor.items()}
                                   for name, a in summary.group_by_method.items()},
                   "verdict": {name: a.verdict and _verdict_json(a.verdict)
                               for name, a in summary.group_by_method.items()},
                   "null_baseline": {m: _finite(v) for m, v in summary.group_null.items()}},
        "seed_budget": summary.budget and {
            "agreement_interval": dataclasses.asdict(summary.budget.agreement),
            "settled_at": summary.budget.settled_at,
            "curve": json.loads(summary.budget.curve.to_json(orient="records"))},
    }


def _verdict_json(v) -> dict:
    """The like-with-like test (core.agree.verdict.Verdict) as JSON, NaN as null."""
    d = v.difference
    return {"outcome": v.outcome, "between_halves": v.between, "within_halves": v.within,
            "difference": {"estimate": _finite(d.estimate), "lo": _finite(d.lo), "hi": _finite(d.hi), "level": d.level},
            "margin": v.margin, "samples": v.samples, "seed_spread": v.seed_spread}


def bundle_bytes(comparison: Comparison, summary: Summary | None = None, *, cohort: Cohort | None = None) -> bytes:
    """The comparison as a zip: manifest.json, metrics.csv, arrays.npz, given a summary
    agreement.json (its agreement matrices up to _JSON_MATRIX_MODELS models, noise floors and
    baselines at its k) and, given a cohort, cohort.json (its definition, Cohort.to_json).
    ConfigError for a bundle load_bundle would refuse as too large."""
    run, ex = comparison.run, comparison.explanation
    ds = run.dataset
    manifest = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "dataset": {"name": ds.name, "feature_names": list(ds.feature_names), "class_names": list(ds.class_names),
                    "image_shape": ds.image_shape and list(ds.image_shape),
                    "informative": ds.informative and list(ds.informative),
                    "notes": list(ds.notes), "content_hash": ds.content_hash, "task": ds.task},
        "delta": comparison.evaluation.delta,
        "run_config": _config_json(run.config), "explain_config": _config_json(ex.config),
        "methods": list(ex.methods), "skipped": list(ex.skipped),
        "metrics": list(REGRESSION_SCORES if ds.regression else SCORES),
        "samples": {name: a.samples for name, a in ex.by_method.items()},
        "fingerprints": list(run.fingerprints), "libraries": library_versions(comparison),
    }
    manifest_json, arrays = json.dumps(manifest, indent=2), _arrays(comparison)
    unpacked = len(manifest_json.encode()) + sum(a.nbytes + _NPY_HEADER for a in arrays.values())
    _check_size(unpacked)  # before compressing: too large already without arrays.npz itself
    npz = npz_bytes(arrays)
    _check_size(unpacked + len(npz))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        write_member(zf, "manifest.json", manifest_json, zipfile.ZIP_DEFLATED)
        write_member(zf, "metrics.csv", comparison.evaluation.scores.per_model.to_csv(), zipfile.ZIP_DEFLATED)
        write_member(zf, "arrays.npz", npz, zipfile.ZIP_STORED)  # already compressed
        if summary is not None:
            write_member(zf, "agreement.json", json.dumps(_agreement_json(summary), indent=1), zipfile.ZIP_DEFLATED)
        if cohort is not None:
            write_member(zf, "cohort.json", cohort.to_json(), zipfile.ZIP_DEFLATED)
    _check_size(out.tell())  # the file itself, which loading reads whole
    return out.getvalue()


_NPY_HEADER = 128  # bytes of an .npy member's header (numpy pads it to a multiple of 64)
_JSON_MATRIX_MODELS = 200  # agreement.json lists pair matrices up to the app's most models


def _check_size(unpacked: int) -> None:
    """ConfigError for a bundle that load_bundle would refuse: `unpacked` bytes counted as loading counts them."""
    if unpacked > _MAX_UNZIPPED:
        raise ConfigError(
            f"This comparison's data bundle would need about {unpacked / 2**20:,.0f} MB unpacked, more than a "
            f"bundle may hold ({_MAX_UNZIPPED // 2**20} MB), so it could not be loaded back. Explain fewer rows, "
            "train fewer models or pick fewer methods; the HTML report has no such limit.")


def expected_bytes(dataset: Dataset, run_config: RunConfig, explain_config: ExplainConfig) -> int:
    """An upper bound, before any training, of the bytes loading the comparison's bundle would hold:
    its arrays, and arrays.npz as if nothing compressed. For checks before long work (the CLI)."""
    n_models, (n_rows, n_features), n_classes = run_config.n_models, dataset.X.shape, dataset.n_classes
    test = math.ceil(n_rows * run_config.test_fraction)  # shared test rows at most
    explained = min(explain_config.max_rows, test)
    methods = len(explain_config.methods)
    attributions = 3 * n_models * explained * n_features * 8 * methods  # values, and a sampling method's two halves
    rows = n_models * n_rows * 8 * 2  # train/val/test ids: bootstraps repeat rows, up to twice the dataset
    evaluation = n_models * test * (8 * n_classes + 8 + 1) + n_models * n_models * 8
    evaluation += test * 8 + n_models * len(SCORES) * 8 + explained * 16  # rows scored, scores, rows explained
    epochs = run_config.mlp.epochs if run_config.family == "mlp" else 0
    arrays = dataset.X.nbytes + dataset.y.nbytes + attributions + rows + evaluation + n_models * (16 * epochs + 8)
    names = len(json.dumps([*dataset.feature_names, *dataset.class_names, dataset.name, *dataset.notes]))
    manifest = 2 * names + n_models * 20 + (64 << 10)  # names (escaped at most twice as long), fingerprints, the rest
    return 2 * (arrays + _NPY_HEADER * 40) + manifest


def check_expected_size(dataset: Dataset, run_config: RunConfig, explain_config: ExplainConfig) -> None:
    """ConfigError, before training, for a comparison whose bundle could not be loaded back."""
    _check_size(expected_bytes(dataset, run_config, explain_config))


def save_bundle(comparison: Comparison, path: str | os.PathLike, summary: Summary | None = None, *,
                cohort: Cohort | None = None) -> Path:
    return atomic_write_bytes(path, bundle_bytes(comparison, summary, cohort=cohort))


# ---------------------------------------------------------------- reading

def _bad(reason: str) -> BundleError:
    return BundleError(f"This file is not a SeedScope bundle ({reason}); "
                       "export one from the Report page or with python -m core compare.")


def _read_source(source: str | os.PathLike | bytes | BinaryIO) -> bytes:
    """The file's bytes; a file larger than any bundle is refused before it is read whole."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as handle:
                raw = handle.read(_MAX_UNZIPPED + 1)
        except OSError as exc:
            raise BundleError(f"Cannot read {os.fspath(source)!r} ({exc.strerror}); check the path.") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    else:
        source.seek(0)
        raw = source.read(_MAX_UNZIPPED + 1)
    if len(raw) > _MAX_UNZIPPED:
        raise _bad(f"it is larger than {_MAX_UNZIPPED // 2**20} MB, more than any bundle needs")
    return raw


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _read_manifest(raw: bytearray) -> dict:
    try:
        manifest = json.loads(raw, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(f"manifest.json is not valid JSON: {exc}") from None
    except RecursionError:
        raise _bad("manifest.json is nested too deeply") from None
    except ValueError:  # NaN, Infinity or an integer of over 4,300 digits
        raise _bad("manifest.json holds a number SeedScope never writes") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _bad(f"manifest.json does not declare format {FORMAT!r}")
    if manifest.get("version") not in READS:
        raise BundleError(f"This bundle has format version {manifest.get('version')!r}, but this SeedScope reads "
                          f"versions {READS[0]} to {READS[-1]}; export it again with this version of SeedScope.")
    return manifest


def _text(value, what: str) -> str:
    problem = text_problem(value)
    if problem:
        raise _bad(f"{what} {problem}")
    return value


def _texts(value, what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _bad(f"{what} must be a list, not {type(value).__name__}")
    return tuple(_text(v, f"{what}[{i}]") for i, v in enumerate(value))


def _ints(value, what: str, low: int, high: int) -> tuple[int, ...]:
    """A list of whole numbers in [low, high)."""
    if not isinstance(value, list) or not all(type(v) is int and low <= v < high for v in value):
        raise _bad(f"{what} must be a list of whole numbers from {low} to {high - 1}, not {reprlib.repr(value)}")
    return tuple(value)


def _typed(value, hint, what: str):
    """A config field from JSON as its declared type: lists become tuples or frozensets, objects configs."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is types.UnionType:  # `X | None`
        return None if value is None else _typed(value, next(a for a in args if a is not type(None)), what)
    if origin in (tuple, frozenset):
        if not isinstance(value, list):
            raise _bad(f"{what} must be a list, not {type(value).__name__}")
        if origin is tuple and len(args) > 1 and args[1] is not Ellipsis:  # a pair: (name, value)
            if len(value) != len(args):
                raise _bad(f"{what} must hold {len(args)} items, not {len(value)}")
            return tuple(_typed(v, a, f"{what}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        return origin(_typed(v, args[0], f"{what}[{i}]") for i, v in enumerate(value))
    if hint is object:  # an estimator's parameter: a number, true/false, null or text
        if value is None or type(value) is bool or (type(value) in (int, float) and abs(value) < 2**63):
            return value
        return _text(value, what)
    if dataclasses.is_dataclass(hint):
        return _config(hint, value, what)
    if hint is str:
        return _text(value, what)
    assert hint in _KINDS, f"{what}: no JSON reading for {hint}"
    # Whole numbers in configs count things or seed generators, so none is negative; numbers stay
    # within int64 for numpy and torch (the bound also refuses NaN and inf).
    if hint is bool:
        ok = type(value) is bool
    elif hint is int:
        ok = type(value) is int and 0 <= value < 2**63
    else:
        ok = type(value) in (int, float) and abs(value) < 2**63
    if not ok:
        raise _bad(f"{what} must be {_KINDS[hint]}, not {reprlib.repr(value)}")
    return float(value) if hint is float else value


def _config(cls, value, what: str):
    """A config dataclass from JSON that names every field this version's `cls` has, and no other."""
    if not isinstance(value, dict):
        raise _bad(f"{what} must be an object, not {type(value).__name__}")
    hints = typing.get_type_hints(cls)
    missing, unknown = sorted(hints.keys() - value.keys()), sorted(value.keys() - hints.keys())
    if missing:
        raise _bad(f"{what} lacks the field {missing[0]!r}")
    if unknown:
        raise _bad(f"{what} does not match this SeedScope's {cls.__name__}: it has no field {unknown[0]!r}")
    return cls(**{name: _typed(value[name], hint, f"{what}.{name}") for name, hint in hints.items()})


def _samples(value, methods: tuple[str, ...], arrays: dict[str, np.ndarray]) -> dict[str, int | None]:
    """{method: samples behind its values} from the manifest: a whole number for every method stored
    with halves, a whole number or null for the others."""
    if not isinstance(value, dict) or not set(value) <= set(methods):
        raise _bad("its samples must be an object keyed by the methods it explained")
    for name in methods:
        n = value.get(name)
        if (n is not None and (type(n) is not int or n < 1)) or (n is None and f"attributions.{name}.halves" in arrays):
            raise _bad(f"the samples of {name} must be a whole number of at least 1, not {reprlib.repr(n)}")
    return {name: value.get(name) for name in methods}


def _explain_defaults(explain_config):
    """explain_config with the fields added since: bundles from before precision "auto" drew a fixed budget."""
    if isinstance(explain_config, dict) and "precision" not in explain_config:
        return explain_config | {"precision": "fixed", "k": None}
    return explain_config


def _renamed(run_config):
    """run_config with the field names of this version: bundles from before SklearnConfig call it "trees",
    and those from before regression, XGBoost, LightGBM and any estimator lack the fields added for them
    (alpha, colsample, estimator, params), which took their defaults' values then too."""
    if isinstance(run_config, dict) and "trees" in run_config and "sklearn" not in run_config:
        run_config = {("sklearn" if name == "trees" else name): value for name, value in run_config.items()}
    if isinstance(run_config, dict) and isinstance(run_config.get("sklearn"), dict):
        added = {"alpha": SklearnConfig().alpha, "colsample": SklearnConfig().colsample, "estimator": None,
                 "params": []}
        run_config = run_config | {"sklearn": added | run_config["sklearn"]}
    return run_config


def _spec(methods: tuple[str, ...], arrays: dict, history: bool,
          regression: bool = False) -> list[tuple[str, tuple[str, ...], str, str | None]]:
    """(array, named axes, dtype kind, bound on values) for every array the manifest implies.

    Axes with the same name must have the same length; integer arrays index
    rows or classes and must lie in [0, bound). A regression's targets and predictions are values.
    """
    values = ("f", None) if regression else ("i", "classes")
    spec = [
        ("dataset.X", ("rows", "features"), "f", None), ("dataset.y", ("rows",), *values),
        ("run.train_rows", ("models", "train"), "i", "rows"), ("run.val_rows", ("models", "val"), "i", "rows"),
        ("run.test_rows", ("models", "test"), "i", "rows"), ("evaluation.rows", ("shared",), "i", "rows"),
        ("evaluation.proba", ("models", "shared", "classes"), "f", None),
        ("evaluation.predictions", ("models", "shared"), *values),
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
    for name in methods:
        spec.append((f"attributions.{name}.values", ("models", "explained", "features"), "f", None))
        if f"attributions.{name}.halves" in arrays:
            spec.append((f"attributions.{name}.halves", ("halves", "models", "explained", "features"), "f", None))
        if f"attributions.{name}.repeat" in arrays:  # bundles from before the halves: read, never used
            spec.append((f"attributions.{name}.repeat", ("explained", "features"), "f", None))
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
        if kind == "f" and key not in _ANY_FLOAT:
            finite = np.isfinite(a)
            if key in _NAN_AUC and a.shape[1] > _AUC:
                finite[:, _AUC] |= np.isnan(a[:, _AUC])
            if not finite.all():
                raise _bad(f"array {key!r} holds NaN or infinite values, which SeedScope never writes there")


def _dataset(meta: dict, names: tuple[str, ...], classes: tuple[str, ...], arrays: dict[str, np.ndarray]) -> Dataset:
    shape, informative = meta["image_shape"], meta["informative"]
    if shape is not None:
        shape = _ints(shape, "image_shape", 1, 2**31)
        if len(shape) != 2 or math.prod(shape) != len(names):
            raise _bad(f"its image shape {shape} is not (height, width) holding its {len(names)} features")
    if informative is not None:
        informative = _ints(informative, "informative", 0, len(names))
    task = meta.get("task", "classification")  # version 1 bundles classify
    if task not in ("classification", "regression"):
        raise _bad(f"its task {task!r} is neither classification nor regression")
    dataset = Dataset(name=_text(meta["name"], "the dataset name"), X=arrays["dataset.X"], y=arrays["dataset.y"],
                      feature_names=names, class_names=classes, informative=informative, image_shape=shape,
                      notes=_texts(meta["notes"], "notes"), task=task)
    if dataset.content_hash != meta["content_hash"]:
        raise _bad("the dataset arrays do not match the content hash recorded with them; it was altered")
    return dataset


def _cohort(zf, dataset: Dataset) -> Cohort | None:
    """The cohort exported with the comparison, checked against its data; None when there is none."""
    if "cohort.json" not in zf.namelist():
        return None
    try:
        cohort = Cohort.from_json(member(zf, "cohort.json", _MAX_COHORT))
        cohort.check(dataset)
    except TooLarge:
        raise _bad(f"its cohort.json is over {_MAX_COHORT // 2**20} MB, more than any cohort needs") from None
    except ConfigError as exc:
        raise BundleError(f"The cohort saved in this bundle (cohort.json) is invalid: {exc} Export the bundle "
                          "again, or delete cohort.json from the zip to load the comparison without it.") from None
    return cohort


def _load(raw: bytes) -> tuple[Comparison, Cohort | None]:
    zf = open_zip(raw, "the file")
    manifest_json = member(zf, "manifest.json", _MAX_UNZIPPED)
    manifest = _read_manifest(manifest_json)
    npz = member(zf, "arrays.npz", _MAX_UNZIPPED - len(manifest_json))
    arrays = read_npz(npz, _MAX_UNZIPPED - len(manifest_json) - len(npz))
    run_config = _config(RunConfig, _renamed(manifest["run_config"]), "run_config")
    explain_config = _config(ExplainConfig, _explain_defaults(manifest["explain_config"]), "explain_config")
    methods, skipped = _texts(manifest["methods"], "methods"), _texts(manifest["skipped"], "skipped")
    fingerprints = _texts(manifest["fingerprints"], "fingerprints")
    listed = methods + skipped
    if not methods or not set(listed) <= set(METHODS) or len(set(listed)) < len(listed):
        raise _bad(f"methods {list(methods)} and skipped {list(skipped)} must name known explanation "
                   "methods, each once, with at least one explained")
    meta = manifest["dataset"]
    if not isinstance(meta, dict):
        raise _bad("its dataset description is not an object")
    regression = meta.get("task") == "regression"
    scores = REGRESSION_SCORES if regression else SCORES
    if manifest["metrics"] != list(scores):
        raise _bad("its metrics are not the ones this SeedScope computes")
    delta = manifest.get("delta") if regression else None
    if regression and not (isinstance(delta, (int, float)) and not isinstance(delta, bool) and delta > 0):
        raise _bad("its regression tolerance (delta) is not a positive number")
    if len(fingerprints) != run_config.n_models:
        raise _bad(f"it has {len(fingerprints)} fingerprints for {run_config.n_models} models")
    names, classes = _texts(meta["feature_names"], "feature_names"), _texts(meta["class_names"], "class_names")
    sizes = {"models": run_config.n_models, "features": len(names), "classes": len(classes),
             "metrics": len(scores), "stats": 4, "halves": 2}
    _check_arrays(arrays, _spec(methods, arrays, run_config.family == "mlp", regression), sizes)
    if np.any(np.diff(arrays["evaluation.rows"]) <= 0):  # Comparison.predictions binary-searches them
        raise _bad("its evaluation rows are not sorted and distinct")
    explained = arrays["explanation.rows"]
    if not explained.size or not np.isin(explained, arrays["evaluation.rows"]).all():
        raise _bad("its explained rows are not one or more test rows shared by all models")
    samples = _samples(manifest.get("samples", {}), methods, arrays)  # bundles before the halves have none
    dataset = _dataset(meta, names, classes, arrays)
    libraries = manifest["libraries"]
    if not isinstance(libraries, dict):
        raise _bad("its library versions are not an object")
    libraries = {_text(name, "a library name"): _text(version, f"the version of {name}")
                 for name, version in libraries.items() if name != "seedscope-format"}
    return (replace(_comparison(methods, skipped, arrays, run_config, explain_config, dataset, fingerprints, samples,
                                delta), libraries=libraries), _cohort(zf, dataset))


def load_bundle(source: str | os.PathLike | bytes | BinaryIO) -> Comparison:
    """Rebuild a Comparison (without its models: run.bank is None) from a bundle path, bytes or file object.

    Any file that is not a bundle this SeedScope wrote, whole and unaltered, raises BundleError.
    """
    return load_bundle_and_cohort(source)[0]


def load_bundle_and_cohort(source: str | os.PathLike | bytes | BinaryIO) -> tuple[Comparison, Cohort | None]:
    """load_bundle, and the cohort exported with the comparison (None when it was exported without one)."""
    raw = _read_source(source)
    try:
        return _load(raw)
    except BundleError:
        raise
    except TooLarge as exc:
        raise _bad(f"{exc.what} would take it past {_MAX_UNZIPPED // 2**20} MB unpacked, more than any bundle "
                   "needs") from None
    except ArchiveError as exc:
        raise _bad(str(exc)) from None
    except ConfigError as exc:
        raise _bad(f"its settings are invalid, or its results inconsistent: {exc}") from None
    except KeyError as exc:
        raise _bad(f"manifest.json lacks the field {exc}") from None
    except Exception as exc:  # a malformed file nobody foresaw still gets a message, not a traceback
        raise _bad(f"reading it failed unexpectedly: {type(exc).__name__}: {exc}") from None


def _comparison(methods: tuple[str, ...], skipped: tuple[str, ...], a: dict[str, np.ndarray], run_config: RunConfig,
                explain_config: ExplainConfig, dataset: Dataset, fingerprints: tuple[str, ...],
                samples: dict[str, int | None], delta: float | None = None) -> Comparison:
    history = (History(a["history.train_loss"], a["history.val_accuracy"], a["history.best_epoch"])
               if run_config.family == "mlp" else None)
    run = Run(config=run_config, dataset=dataset, bank=None, train_rows=a["run.train_rows"],
              val_rows=a["run.val_rows"], test_rows=a["run.test_rows"], fingerprints=fingerprints, history=history)
    names = list(REGRESSION_SCORES if dataset.regression else SCORES)
    per_model = pd.DataFrame(a["scores.per_model"], columns=names)
    per_model.index.name = "model"
    per_model["fingerprint"] = list(fingerprints)
    summary = pd.DataFrame(a["scores.summary"], index=["mean", "std", "min", "max"], columns=names)
    # Multiplicity is recomputed from the stored predictions: the same function gives the same numbers.
    evaluation = Evaluation(
        scores=Scores(per_model, summary),
        multiplicity=multiplicity(a["evaluation.predictions"], common_rows_only="split" in run_config.vary,
                                  delta=delta),
        rows=a["evaluation.rows"], proba=a["evaluation.proba"], predictions=a["evaluation.predictions"],
        correct=a["evaluation.correct"], delta=delta,
    )
    rows, target = a["explanation.rows"], a["explanation.target_class"]
    by_method = {name: Attributions(name, a[f"attributions.{name}.values"], rows, target,
                                    a.get(f"attributions.{name}.halves"), samples.get(name)) for name in methods}
    return Comparison(run, evaluation, Explanation(explain_config, rows, target, by_method, skipped))
