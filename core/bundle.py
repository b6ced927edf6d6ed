"""Data bundle of a comparison: a zip that rebuilds the Comparison without its models.

manifest.json (configs, dataset metadata, fingerprints, library versions), metrics.csv
(for people) and arrays.npz (for `load_bundle`). Loading never unpickles: JSON for
metadata, np.load(allow_pickle=False) for arrays, and every array's shape and dtype is
checked before anything is built.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import io
import json
import os
import platform
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from .compare import Comparison, Summary
from .data import Dataset
from .errors import BundleError, ConfigError
from .explain import METHODS, Attributions, ExplainConfig, Explanation
from .metrics import METRICS, Evaluation, Scores, multiplicity
from .training import History, MLPConfig, Run, RunConfig, TreeConfig

FORMAT, FORMAT_VERSION = "seedscope-bundle", 1
_LIBRARIES = ("numpy", "pandas", "scikit-learn", "torch", "shap", "lime", "streamlit", "altair")
_MAX_UNZIPPED = 2**30  # bytes; a bundle that inflates beyond this is refused rather than filling memory


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


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None  # JSON has no NaN


def _agreement_json(summary: Summary) -> dict:
    """Agreement at the summary's k, for readers of the bundle (load_bundle recomputes it instead)."""
    return {
        "k": summary.k, "tolerance": summary.tolerance, "headline": summary.headline,
        "null_baseline": {m: _finite(v) for m, v in summary.null.items()},
        "methods": {name: {"between_models": {m: _finite(v) for m, v in a.between.items()},
                           "noise_floor": {m: _finite(v) for m, v in a.noise_floor.items()},
                           "matrices": {m: matrix.tolist() for m, matrix in a.matrices.items()}}
                    for name, a in summary.by_method.items()},
        "equal_accuracy_pairs": json.loads(summary.pairs.to_json(orient="records")),
    }


def bundle_bytes(comparison: Comparison, summary: Summary | None = None) -> bytes:
    """The comparison as a zip: manifest.json, metrics.csv, arrays.npz and, given a summary,
    agreement.json (its agreement matrices, noise floors and baselines at its k)."""
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
        if summary is not None:
            zf.writestr("agreement.json", json.dumps(_agreement_json(summary), indent=1))
    return out.getvalue()


def save_bundle(comparison: Comparison, path: str | os.PathLike, summary: Summary | None = None) -> Path:
    path = Path(path)
    path.write_bytes(bundle_bytes(comparison, summary))
    return path



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
        if meta["image_shape"] and int(np.prod(meta["image_shape"])) != len(names):
            raise ValueError(f"image shape {meta['image_shape']} does not hold {len(names)} features")
        dataset = Dataset(name=meta["name"], X=arrays["dataset.X"], y=arrays["dataset.y"], feature_names=names,
                          class_names=classes, informative=meta["informative"] and tuple(meta["informative"]),
                          image_shape=meta["image_shape"] and tuple(meta["image_shape"]), notes=tuple(meta["notes"]))
        if dataset.content_hash != meta["content_hash"]:
            raise _bad("the dataset arrays do not match the content hash recorded with them; it was altered")
        return _comparison(manifest, arrays, run_config, explain_config, dataset, fingerprints)
    except BundleError:
        raise
    except ConfigError as exc:
        raise _bad(f"its settings are invalid, or its results inconsistent: {exc}") from None
    except KeyError as exc:
        raise _bad(f"manifest.json lacks the field {exc}") from None
    except (TypeError, ValueError, IndexError) as exc:
        raise _bad(f"manifest.json does not match what SeedScope writes: {exc}") from None


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
