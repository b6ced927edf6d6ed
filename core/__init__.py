"""SeedScope's public API: what the app, the CLI and the tests call."""
from . import format
from .agreement import METRICS, Metric
from .bundle import bundle_bytes, library_versions, load_bundle, save_bundle
from .compare import (
    HEADLINE_METRIC,
    Comparison,
    Summary,
    compare,
    default_k,
    source_spread,
    summarize,
)
from .data import (
    BUILTIN_DATASETS,
    MAX_CSV_BYTES,
    Dataset,
    from_frame,
    load_builtin,
    load_csv,
    read_csv,
    synthetic,
)
from .errors import BundleError, ConfigError, DatasetError
from .diff import RunDiff, diff_runs
from .estimate import estimate_seconds
from .groups import GROUP_THRESHOLD
from .explain import (
    METHODS,
    Attributions,
    ExplainConfig,
    Explanation,
    as_images,
    default_methods,
    explain,
    methods_for,
)
from .metrics import SCORES, Evaluation, evaluate
from .presets import PRESETS, Preset
from .seeding import SOURCE_HELP, SOURCES
from .training import (
    FAMILIES,
    MAX_MODELS,
    History,
    MLPConfig,
    Run,
    RunConfig,
    SklearnConfig,
    identical_models,
    inert_note,
    inert_sources,
    parse_hidden,
    train,
)

__all__ = [
    "BUILTIN_DATASETS", "MAX_CSV_BYTES", "Dataset", "from_frame", "load_builtin", "load_csv", "read_csv",
    "synthetic", "ConfigError", "DatasetError", "SOURCE_HELP", "SOURCES", "FAMILIES", "MAX_MODELS",
    "History", "MLPConfig", "Run", "RunConfig", "SklearnConfig", "identical_models", "inert_note", "inert_sources", "parse_hidden", "train",
    "HEADLINE_METRIC", "Comparison", "Summary", "compare", "default_k", "source_spread", "summarize",
    "METHODS", "Attributions", "ExplainConfig", "Explanation", "as_images", "default_methods", "explain", "methods_for",
    "estimate_seconds", "RunDiff", "diff_runs", "GROUP_THRESHOLD", "Evaluation", "evaluate", "SCORES", "METRICS", "Metric", "format", "PRESETS", "Preset",
    "BundleError", "bundle_bytes", "library_versions", "load_bundle", "save_bundle",
]
