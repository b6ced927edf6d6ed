"""SeedScope's public API: what the app, the CLI and the tests call."""
from . import format
from .agree.agreement import METRICS, Metric
from .agree.verdict import MARGIN, Verdict
from .export.bundle import bundle_bytes, library_versions, load_bundle, load_bundle_and_cohort, save_bundle
from .export.report import render_diff_html, render_html
from .run.cluster import Cluster, compare_on_ray, connect_ray, disconnect_ray
from .views.cohort import Bound, Category, Cohort, categorical_columns
from .views.cohort_figures import Figures, agreement_table, cohort_figures, per_model_accuracy, side_by_side
from .run.compare import (
    HEADLINE_METRIC,
    VERDICT_LABELS,
    Comparison,
    Summary,
    compare,
    default_k,
    source_spread,
    summarize,
    verdict_text,
    warm_up,
)
from .views.dependence import Dependence, RowCurves, attribution_scatter, dependence_target, ice, partial_dependence
from .training.data import (
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
from .views.diff import RunDiff, diff_runs
from .run.estimate import estimate_seconds, machine_speed, most_seconds
from .training.features import Feature, dataset_features, set_value
from .agree.groups import GROUP_THRESHOLD
from .explainers.methods import (
    MAX_DOUBLINGS,
    METHODS,
    PRECISIONS,
    Attributions,
    ExplainConfig,
    Explanation,
    as_images,
    default_methods,
    explain,
    methods_for,
)
from .agree.scores import SCORES, Evaluation, evaluate
from .run.presets import PRESETS, Preset
from .runtime import computations
from .seeding import SOURCE_HELP, SOURCES
from .views.story import Step, story
from .views.whatif import TOP_REASONS, WhatIf, kernel_shap_row, what_if, what_if_changes, what_if_table, what_if_target
from .training.fit import (
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
    "HEADLINE_METRIC", "VERDICT_LABELS", "MARGIN", "Verdict", "verdict_text", "Comparison", "Summary", "compare", "default_k", "source_spread", "summarize", "warm_up",
    "MAX_DOUBLINGS", "METHODS", "PRECISIONS", "Attributions", "ExplainConfig", "Explanation", "as_images", "default_methods", "explain", "methods_for",
    "estimate_seconds", "machine_speed", "most_seconds", "computations", "RunDiff", "diff_runs", "GROUP_THRESHOLD", "Evaluation", "evaluate", "SCORES", "METRICS", "Metric", "format", "PRESETS", "Preset",
    "Feature", "dataset_features", "set_value", "WhatIf", "what_if", "kernel_shap_row", "TOP_REASONS",
    "what_if_changes", "what_if_table", "what_if_target", "render_html", "render_diff_html",
    "Dependence", "RowCurves", "dependence_target", "partial_dependence", "ice", "attribution_scatter",
    "BundleError", "bundle_bytes", "library_versions", "load_bundle", "load_bundle_and_cohort", "save_bundle",
    "Bound", "Category", "Cohort", "categorical_columns", "Figures", "agreement_table", "cohort_figures",
    "per_model_accuracy", "side_by_side",
    "Step", "story",
]
