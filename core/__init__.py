"""SeedScope's public API: what the app, the CLI and the tests call.

Each name is imported from its room on first use (PEP 562), not when `core` is imported: torch, shap and
scikit-learn take seconds to import, and the command line must answer a Ctrl-C (and the app draw its first
page) while they load. `from core import X` and `core.X` read the same either way.
"""
from __future__ import annotations

import importlib

_FROM = {  # room module -> the public names it gives
    ".agree.agreement": ("Metric", "METRICS"),
    ".agree.groups": ("GROUP_THRESHOLD",),
    ".agree.scores": ("evaluate", "Evaluation", "SCORES"),
    ".agree.topk": ("default_k", "DELTA_FRACTION", "HEADLINE_METRIC", "RMSE_TOLERANCE"),
    ".agree.verdict": ("MARGIN", "Verdict"),
    ".errors": ("BundleError", "ConfigError", "DatasetError"),
    ".runtime": ("Cancelled", "computations", "Job"),
    ".seeding": ("SOURCE_HELP", "SOURCES"),
    ".explainers.methods": ("as_images", "Attributions", "explain", "Explanation"),
    ".explainers.registry": ("default_methods", "ExplainConfig", "MAX_DOUBLINGS", "METHODS", "methods_for", "PRECISIONS"),
    ".export.bundle": ("bundle_bytes", "library_versions", "load_bundle", "load_bundle_and_cohort", "save_bundle"),
    ".export.report": ("render_diff_html", "render_html"),
    ".run.cluster": ("Cluster", "compare_on_ray", "connect_ray", "disconnect_ray"),
    ".run.compare": (
        "compare", "Comparison", "source_spread", "summarize", "Summary",
        "VERDICT_LABELS", "verdict_text", "warm_up",
    ),
    ".run.estimate": ("estimate_seconds", "machine_speed", "most_seconds"),
    ".run.presets": ("Preset", "PRESETS"),
    ".training.data": (
        "BUILTIN_DATASETS", "BUILTIN_SHAPES", "Dataset", "from_frame", "load_builtin", "load_csv", "MAX_CSV_BYTES", "read_csv",
        "Shape", "synthetic", "friedman1", "guess_task", "MAX_CLASSES", "TASKS",
    ),
    ".training.features": ("dataset_features", "Feature", "set_value"),
    ".training.config": (
        "FAMILIES", "identical_models", "inert_note", "inert_sources", "MAX_MODELS", "MLPConfig", "parse_hidden",
        "RunConfig", "SklearnConfig", "TASK_FAMILIES", "check_family",
    ),
    ".training.fit": ("History", "Run", "train"),
    ".training.estimators": ("allowed_packages", "check_allowed", "parse_param", "PACKAGES_VARIABLE"),
    ".views.cohort": ("Bound", "categorical_columns", "Category", "Cohort", "PREDICTION"),
    ".views.cohort_figures": (
        "agreement_table", "cohort_figures", "Figures", "per_model_accuracy", "side_by_side",
    ),
    ".views.dependence": (
        "attribution_scatter", "Dependence", "dependence_target", "ice", "partial_dependence", "RowCurves",
    ),
    ".views.diff": ("diff_runs", "RunDiff"),
    ".views.story": ("Step", "story"),
    ".views.whatif": (
        "kernel_shap_row", "TOP_REASONS", "what_if", "what_if_changes", "what_if_table", "what_if_target",
        "WhatIf",
    ),
}
_WHERE = {name: module for module, names in _FROM.items() for name in names}
__all__ = ["format", *_WHERE]  # format: how numbers read (core.format), a module of the base


def __getattr__(name: str):
    if name == "format":
        return importlib.import_module(".format", __name__)  # a submodule: importing it sets the attribute
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
