"""Datasets: scikit-learn's built-ins, a synthetic set with known informative features, and CSV files.

Everything a user can get wrong about a CSV is checked here, once, and reported
as a `DatasetError` whose message says what to do. Standardization is not done
here: each model standardizes on its own training rows (see `core.training.models`), so
a varying train/test split never leaks test rows into the scaling.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from ..errors import DatasetError
from ..seeding import numpy_generator


def _sklearn_datasets():
    """scikit-learn's datasets, imported on first use: `core` loads without scikit-learn (the app's first page)."""
    from sklearn import datasets
    return datasets

MAX_CSV_BYTES = 200 * 1024 * 1024
MAX_CLASSES = 20
# A text column with more distinct values than this is treated as an identifier
# or free text and dropped: one-hot encoding it would add a feature per row.
MAX_CATEGORIES = 50
# Models compute in float32: a larger magnitude becomes infinite, and training then yields NaN.
MAX_MAGNITUDE = float(np.finfo(np.float32).max)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset ready for training: classification or regression (`task`).

    X: (row, feature) float64, no missing values, not standardized.
    y: (row,) int64 class index into `class_names` (classification), or float64 values (regression).
    A regression dataset has one "class": the target's name, which names the models' single output.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    informative: tuple[int, ...] | None = None  # feature indices known to carry signal (synthetic only)
    image_shape: tuple[int, int] | None = None  # (height, width) when features are pixels
    notes: tuple[str, ...] = ()  # what loading changed (dropped columns, imputed values), for the user
    content_hash: str = field(default="")
    task: str = "classification"  # or "regression"

    def __post_init__(self):
        if not self.content_hash:
            object.__setattr__(self, "content_hash", _content_hash(self))

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_rows(self) -> int:
        return len(self.y)

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    @property
    def target_std(self) -> float:
        """A regression target's standard deviation over all rows (nan for classification)."""
        return float(np.std(self.y)) if self.regression else float("nan")

    @property
    def target_name(self) -> str:
        """What the models predict: a regression target's column name, or "class"."""
        return self.class_names[0] if self.regression else "class"

    def loaded(self) -> Dataset:
        """The dataset itself (see Shape.loaded)."""
        return self


def _content_hash(ds: Dataset) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(ds.X, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(ds.y, dtype=np.float64 if ds.regression else np.int64).tobytes())
    h.update("\x1f".join(ds.feature_names + ("|",) + ds.class_names).encode())
    if ds.regression:  # classification hashes stay what they were
        h.update(b"\x1fregression")
    return h.hexdigest()[:16]


def _from_bunch(name: str, bunch, image_shape=None) -> Dataset:
    names = getattr(bunch, "feature_names", None)
    if names is None or len(names) != bunch.data.shape[1]:
        names = [f"x{i}" for i in range(bunch.data.shape[1])]
    return Dataset(
        name=name,
        X=np.asarray(bunch.data, dtype=np.float64),
        y=np.asarray(bunch.target, dtype=np.int64),
        feature_names=tuple(str(n) for n in names),
        class_names=tuple(str(c) for c in bunch.target_names),
        image_shape=image_shape,
    )


def _digits() -> Dataset:
    bunch = _sklearn_datasets().load_digits()
    bunch.feature_names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return _from_bunch("digits", bunch, image_shape=(8, 8))


def synthetic(n_rows: int = 600, n_features: int = 10, n_informative: int = 3, seed: int = 0) -> Dataset:
    """A binary problem where only `n_informative` features carry signal; the rest are pure noise.

    The informative columns are placed at seeded random positions (not first), so a
    method that favours low column indices cannot pass the known-truth checks by luck.
    """
    X, y = _sklearn_datasets().make_classification(
        n_samples=n_rows, n_features=n_features, n_informative=n_informative, n_redundant=0,
        n_repeated=0, n_classes=2, n_clusters_per_class=1, class_sep=1.5, shuffle=False, random_state=seed,
    )
    order = numpy_generator(seed, "synthetic_columns").permutation(n_features)
    X = X[:, order]
    informative = tuple(sorted(int(np.flatnonzero(order == i)[0]) for i in range(n_informative)))
    names = tuple(f"{'signal' if j in informative else 'noise'}_{j}" for j in range(n_features))
    return Dataset(name="synthetic", X=X, y=y.astype(np.int64), feature_names=names,
                   class_names=("0", "1"), informative=informative)


def _diabetes() -> Dataset:
    bunch = _sklearn_datasets().load_diabetes(scaled=False)
    return Dataset(name="diabetes", X=np.asarray(bunch.data, dtype=np.float64),
                   y=np.asarray(bunch.target, dtype=np.float64), feature_names=tuple(bunch.feature_names),
                   class_names=("disease progression",), task="regression")


def friedman1(n_rows: int = 600, noise: float = 1.0, seed: int = 0) -> Dataset:
    """Friedman #1 (1991): y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + noise, with five more
    uniform features that the target ignores: the known truth of a regression (informative: 0-4)."""
    X, y = _sklearn_datasets().make_friedman1(n_samples=n_rows, n_features=10, noise=noise, random_state=seed)
    names = tuple(f"{'signal' if j < 5 else 'noise'}_{j}" for j in range(10))
    return Dataset(name="friedman1", X=X, y=y.astype(np.float64), feature_names=names, class_names=("y",),
                   informative=(0, 1, 2, 3, 4), task="regression")


BUILTIN_DATASETS = {
    "breast_cancer": lambda: _from_bunch("breast_cancer", _sklearn_datasets().load_breast_cancer()),
    "wine": lambda: _from_bunch("wine", _sklearn_datasets().load_wine()),
    "iris": lambda: _from_bunch("iris", _sklearn_datasets().load_iris()),
    "digits": _digits,
    "synthetic": synthetic,
    "diabetes": _diabetes,
    "friedman1": friedman1,
}


@dataclass(frozen=True)
class Shape:
    """A built-in dataset as Setup shows it before loading it: scikit-learn's datasets take over a second to
    import, and the first page must not wait for them. Anything that needs the data calls `loaded()`."""

    name: str
    n_rows: int
    n_features: int
    class_names: tuple[str, ...]
    content_hash: str  # the loaded Dataset's (tests/training/test_data.py holds every field to the data)
    task: str = "classification"
    target_std: float = float("nan")  # a regression target's, over all rows

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    def loaded(self) -> Dataset:
        return load_builtin(self.name)


BUILTIN_SHAPES = {shape.name: shape for shape in (
    Shape("breast_cancer", 569, 30, ("malignant", "benign"), "5bb0ad019eb78493"),
    Shape("wine", 178, 13, ("class_0", "class_1", "class_2"), "7fc8e3b6daf2881b"),
    Shape("iris", 150, 4, ("setosa", "versicolor", "virginica"), "70cfdface76edc32"),
    Shape("digits", 1797, 64, tuple("0123456789"), "0165bcdc40d828dc"),
    Shape("synthetic", 600, 10, ("0", "1"), "c873710178817d91"),
    Shape("diabetes", 442, 10, ("disease progression",), "8988e85736168964", "regression", 77.00574586945044),
    Shape("friedman1", 600, 10, ("y",), "f95d156c2ee24a66", "regression", 5.086615467024261),
)}


def load_builtin(name: str) -> Dataset:
    """One of BUILTIN_DATASETS by name; all ship with scikit-learn, nothing is downloaded."""
    if name not in BUILTIN_DATASETS:
        raise DatasetError(
            f"Unknown dataset {name!r}; choose one of {', '.join(BUILTIN_DATASETS)} or load a CSV file."
        )
    return BUILTIN_DATASETS[name]()


def _human_size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def _size_of(source) -> int | None:
    if isinstance(source, (str, os.PathLike)):
        return os.path.getsize(source)
    size = getattr(source, "size", None)
    if size is not None:
        return int(size)
    if hasattr(source, "seek") and hasattr(source, "tell"):
        here = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(here)
        return end
    return None


def read_csv(source: str | os.PathLike | BinaryIO, *, max_bytes: int = MAX_CSV_BYTES) -> pd.DataFrame:
    """Read a CSV path or file object into a frame, with errors a user can act on."""
    import pandas as pd  # on first use, as scikit-learn's datasets: `core` loads without them
    if isinstance(source, (str, os.PathLike)) and not os.path.isfile(source):
        raise DatasetError(f"No file at {os.fspath(source)!r}; check the path.")
    size = _size_of(source)
    if size is not None and size > max_bytes:
        raise DatasetError(
            f"The file is {_human_size(size)}, over the {_human_size(max_bytes)} limit; "
            "sample its rows or drop columns and try again."
        )
    raw = _read_bytes(source)
    notes = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheet exports on Windows are often Latin-1 / cp1252; every byte decodes in cp1252's superset.
        text = raw.decode("cp1252", errors="replace")
        notes.append("The file is not UTF-8; it was read as Windows-1252 (Latin-1) text.")
    if not text.strip():
        raise DatasetError("The file is empty; choose a CSV with a header row and data rows.")
    if "\x00" in text:
        raise DatasetError("The file could not be read as CSV (it holds binary data); export the table as CSV text.")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=_delimiter(text))
    except pd.errors.EmptyDataError:
        raise DatasetError("The file is empty; choose a CSV with a header row and data rows.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(
            f"The file could not be read as CSV ({reason}); save it as comma-separated text with a header row."
        ) from None
    if frame.empty or frame.shape[1] == 0:
        raise DatasetError("The file has a header but no data rows; choose a CSV with data in it.")
    frame.columns = [str(c) for c in frame.columns]
    frame.attrs["notes"] = notes
    return frame


def _read_bytes(source) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return handle.read()
    if hasattr(source, "seek"):
        source.seek(0)
    return source.read()


def _delimiter(text: str) -> str:
    """The field separator: comma unless the header and first lines clearly use ; tab or |."""
    head = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _unused_name(name: str, taken: set[str], notes: list[str]) -> str:
    """`name`, or `name (2)`, `name (3)`, ... if a column or an earlier feature already has it; records it in taken."""
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name} ({n})"
    if unique != name:
        notes.append(f"Named the one-hot feature {name!r} {unique!r}: the file already has a column {name!r}.")
    taken.add(unique)
    return unique


TASKS = ("classification", "regression")


def guess_task(frame: pd.DataFrame, target: str) -> str:
    """"regression" for a numeric target with more distinct values than MAX_CLASSES, else "classification"."""
    import pandas as pd
    values = frame[target].dropna()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return "regression" if numeric and values.nunique() > MAX_CLASSES else "classification"


def _regression_target(values: pd.Series, target: str) -> np.ndarray:
    """A regression target as float64, or a DatasetError that says how to fix it."""
    import pandas as pd
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any():
        bad = values[numeric.isna()].iloc[0]
        hint = (" It looks like a number written with thousands separators: remove them (1234.5, not 1,234.5)."
                if re.fullmatch(r"\s*[-+]?[\d.,\s']+\s*", str(bad)) else "")
        raise DatasetError(f"Target column {target!r} holds {bad!r}, which is not a number, so it cannot be "
                           f"predicted as one.{hint} Or choose the classification task for a categorical target.")
    y = numeric.to_numpy(dtype=np.float64)
    if not np.isfinite(y).all():
        raise DatasetError(f"Target column {target!r} holds {int((~np.isfinite(y)).sum())} infinite values; "
                           "replace or remove those rows and try again.")
    if np.abs(y).max() > MAX_MAGNITUDE:
        raise DatasetError(
            f"Target column {target!r} holds values as large as {np.abs(y).max():.3g}, beyond the "
            f"±{MAX_MAGNITUDE:.2g} the models compute with; rescale it (other units, or its logarithm) and try again.")
    if len(y) < 2 or np.ptp(y) == 0:
        raise DatasetError(f"Target column {target!r} has a single value ({y[0]:g}) in every row, so there is "
                           "nothing to predict; pick a column whose values vary.")
    return y


def from_frame(frame: pd.DataFrame, target: str, *, name: str = "csv", task: str | None = None) -> Dataset:
    """Turn a frame into a Dataset: encode the target, one-hot text columns, impute missing values.
    task: "classification" or "regression"; None guesses it (guess_task)."""
    import pandas as pd
    if target not in frame.columns:
        raise DatasetError(
            f"Target column {target!r} is not in the file; its columns are: {', '.join(map(str, frame.columns))}."
        )
    if task is not None and task not in TASKS:
        raise DatasetError(f"Unknown task {task!r}; choose classification or regression.")
    notes: list[str] = list(frame.attrs.get("notes", []))
    frame = frame.copy()
    missing_target = frame[target].isna()
    if missing_target.all():
        raise DatasetError(f"Target column {target!r} has no values; pick a column that holds the labels.")
    if missing_target.any():
        notes.append(f"Dropped {int(missing_target.sum())} rows with no value in target {target!r}.")
        frame = frame[~missing_target]
    task = task or guess_task(frame, target)
    if task == "regression":
        y, classes = _regression_target(frame[target], target), [str(target)]
    else:
        labels = frame[target].astype(str) if frame[target].dtype == object else frame[target]
        classes = sorted(labels.unique(), key=lambda v: (str(type(v)), v))
        if len(classes) < 2:
            raise DatasetError(
                f"Target column {target!r} has a single class ({classes[0]!r}); "
                "pick a column with at least two classes."
            )
        if len(classes) > MAX_CLASSES:
            raise DatasetError(
                f"Target column {target!r} has {len(classes)} distinct values, more than {MAX_CLASSES} classes; "
                "pick the regression task to predict it as a number, or a categorical target to classify."
            )
        y = labels.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)

    features = frame.drop(columns=[target])
    empty = [c for c in features.columns if features[c].isna().all()]
    if empty:
        raise DatasetError(
            f"Column(s) {', '.join(map(repr, empty))} hold only missing values; remove them from the file and try again."
        )
    columns, names = [], []
    taken = set(map(str, features.columns))  # one-hot names must not shadow a column of the file
    for col in features.columns:
        series = features[col]
        if series.nunique(dropna=True) < 2:
            notes.append(f"Dropped column {col!r}: it has the same value in every row, so it cannot inform a model.")
            continue
        numeric = pd.to_numeric(series, errors="coerce")
        if numeric.notna().sum() == series.notna().sum():
            infinite = np.isinf(numeric.to_numpy(dtype=np.float64))
            if infinite.any():
                notes.append(f"Treated {int(infinite.sum())} infinite values in {col!r} as missing.")
                numeric = numeric.mask(infinite)
            if numeric.isna().all():
                raise DatasetError(f"Column {col!r} holds no finite number; remove it from the file and try again.")
            largest = numeric.abs().max()
            if largest > MAX_MAGNITUDE:
                raise DatasetError(
                    f"Column {col!r} holds values as large as {largest:.3g}, beyond the ±{MAX_MAGNITUDE:.2g} the models "
                    "compute with; rescale it (other units, or its logarithm) and try again."
                )
            if numeric.isna().any():
                notes.append(f"Filled {int(numeric.isna().sum())} missing values in {col!r} with its median.")
            columns.append(numeric.fillna(numeric.median()).to_numpy(dtype=np.float64))
            names.append(str(col))
            continue
        text = series.astype("string")
        if text.nunique(dropna=True) > MAX_CATEGORIES:
            notes.append(
                f"Dropped text column {col!r}: {text.nunique()} distinct values look like an identifier or free text."
            )
            continue
        if text.isna().any():
            notes.append(f"Encoded {int(text.isna().sum())} missing values in {col!r} as their own category.")
        text = text.fillna("(missing)")
        for value in sorted(text.unique()):
            columns.append((text == value).to_numpy(dtype=np.float64))
            names.append(_unused_name(f"{col}={value}", taken, notes))
    if not columns:
        raise DatasetError(
            "No usable feature columns remain (each was constant, empty or free text); "
            "the file needs at least one numeric or categorical column besides the target."
        )
    return Dataset(
        name=name, X=np.column_stack(columns), y=y, feature_names=tuple(names),
        class_names=tuple(str(c) for c in classes), notes=tuple(notes), task=task,
    )


def load_csv(source: str | os.PathLike | BinaryIO, target: str, *, name: str | None = None,
             max_bytes: int = MAX_CSV_BYTES, task: str | None = None) -> Dataset:
    """Load a CSV path or uploaded file object with `target` as the label column (task: see from_frame)."""
    if name is None:
        name = os.path.basename(os.fspath(source)) if isinstance(source, (str, os.PathLike)) \
            else getattr(source, "name", "uploaded.csv")
    return from_frame(read_csv(source, max_bytes=max_bytes), target, name=name, task=task)
