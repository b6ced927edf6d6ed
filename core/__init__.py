"""SeedScope's public API: what the app, the CLI and the tests call."""
from . import format
from .agreement import METRICS, Metric
from .bundle import bundle_bytes, library_versions, load_bundle, load_bundle_and_cohort, save_bundle
from .cluster import Cluster, compare_on_ray, connect_ray, disconnect_ray
from .cohort import Bound, Category, Cohort
from .cohort_stats import Figures, cohort_figures, side_by_side
from .compare import (
    HEADLINE_METRIC,
    Comparison,
    Summary,
    compare,
    default_k,
    source_spread,
    summarize,
    warm_up,
)
from .dependence import Dependence, attribution_scatter, ice, partial_dependence
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
from .estimate import estimate_seconds, machine_speed
from .features import Feature, dataset_features
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
from .runtime import computations
from .seeding import SOURCE_HELP, SOURCES
from .story import Step, story
from .whatif import WhatIf, kernel_shap_row, what_if
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
    "Cluster", "compare_on_ray", "connect_ray", "disconnect_ray",
    "BUILTIN_DATASETS", "MAX_CSV_BYTES", "Dataset", "from_frame", "load_builtin", "load_csv", "read_csv",
    "synthetic", "ConfigError", "DatasetError", "SOURCE_HELP", "SOURCES", "FAMILIES", "MAX_MODELS",
    "History", "MLPConfig", "Run", "RunConfig", "SklearnConfig", "identical_models", "inert_note", "inert_sources", "parse_hidden", "train",
    "HEADLINE_METRIC", "Comparison", "Summary", "compare", "default_k", "source_spread", "summarize", "warm_up",
    "METHODS", "Attributions", "ExplainConfig", "Explanation", "as_images", "default_methods", "explain", "methods_for",
    "estimate_seconds", "machine_speed", "computations", "RunDiff", "diff_runs", "GROUP_THRESHOLD", "Evaluation", "evaluate", "SCORES", "METRICS", "Metric", "format", "PRESETS", "Preset",
    "Feature", "dataset_features", "WhatIf", "what_if", "kernel_shap_row",
    "Dependence", "partial_dependence", "ice", "attribution_scatter",
    "BundleError", "bundle_bytes", "library_versions", "load_bundle", "load_bundle_and_cohort", "save_bundle",
    "Bound", "Category", "Cohort", "Figures", "cohort_figures", "side_by_side",
    "Step", "story",
]
