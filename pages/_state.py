"""Session-state keys and the one place that caches core calls.

Cached by what things are: a comparison (trained torch modules, explanations) is a
resource keyed by the configuration and the data's content hash; its summary for a
given k is derived from it. Switching pages, k or the row never retrains or re-explains.
"""
from __future__ import annotations

import io
import threading

import altair as alt
import numpy as np
import streamlit as st

import core

COMPARISON = "comparison"  # the current core.Comparison
COMPARISON_KEY = "comparison_key"  # what the current comparison is (config and data hash, or bundle hash)
K = "k"  # top-k used by agreement metrics (None: the dataset's default)
K_SLIDER = "k_slider"  # the Agreement page's k widget
GROUPS = "group_threshold"  # |Spearman rho| from which features count as one group (the Agreement page's slider)
ROW = "explorer_row"  # dataset row id shown in the row explorer
METHOD = "method"  # explanation method shown on the attribution pages
SPREAD = "source_spread"  # variance share per source, when measured
COHORT = "cohort"  # the core.Cohort defined on the Cohorts page (None: none), carried into report and bundle
WHATIF_SHAP = "whatif_kernel_shap"  # (row, values, target) of the edited row whose KernelSHAP the user asked for
STEP = "present_step"  # index of the story step the Present page shows
COMPUTE = "compute"  # Setup's choice: this machine or a Ray cluster
RAY_ADDRESS = "ray_address"  # the Ray cluster's address typed on Setup
CLUSTER = "ray_cluster"  # the core.Cluster last connected to from Setup
UPLOADED = "uploaded_csv"  # (upload id, file name, bytes) of the last CSV uploaded on Setup
SPEED = "machine_speed"  # this machine's seconds per reference second, from this session's runs (core.machine_speed)
# Setup's widgets whose values must outlive a visit to another page (buttons and uploaders cannot be set).
SETUP_WIDGETS = ("preset", "data_source", "builtin", "target", "family", "hidden", "epochs", "batch", "lr", "dropout",
                 "patience", "C", "n_trees", "depth", "gb_lr", "subsample", "n_models", "seed", "test_fraction",
                 "rows", "background", "k_setup", "kernel_samples", "lime_samples", "ig_steps", "target_class",
                 COMPUTE, RAY_ADDRESS)


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """core.warm_up in the background, started once per server process by the first page drawn, so
    that the first run (often a demo in front of people) is as quick as the ones after it."""
    thread = threading.Thread(target=core.warm_up, name="seedscope-warm-up", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner=False, max_entries=8)
def builtin_dataset(name: str) -> core.Dataset:
    return core.load_builtin(name)


# Uploaded files are cached by their upload id: hashing up to 200 MB of bytes on every rerun would not be.
@st.cache_resource(show_spinner=False, max_entries=8)
def csv_frame(upload_id: str, _content: bytes):
    return core.read_csv(io.BytesIO(_content))


@st.cache_resource(show_spinner=False, max_entries=8)
def csv_dataset(upload_id: str, file_name: str, target: str, _content: bytes) -> core.Dataset:
    return core.from_frame(csv_frame(upload_id, _content), target, name=file_name)


class _Slot:
    """One cached result and the lock its computation holds (see computed_once)."""

    def __init__(self):
        self.lock, self.value = threading.Lock(), None


@st.cache_resource(show_spinner=False, max_entries=8)
def _slot(kind: str, key: str) -> _Slot:
    return _Slot()


def computed_once(kind: str, key: str, compute):
    """compute()'s result, computed once per (kind, key) in this process and then shared.

    Not an st.cache_resource function itself: Streamlit records the elements a cached function
    draws and replays them on a hit, and a progress bar created outside it cannot be replayed
    (the second session to run the same preset got CacheReplayClosureError). The slot is cached
    instead; its lock also keeps two sessions from computing the same thing at once.
    """
    slot = _slot(kind, key)
    with slot.lock:
        if slot.value is None:
            slot.value = compute()
        return slot.value


def comparison(dataset: core.Dataset, config_key: str, run_config: core.RunConfig,
               explain_config: core.ExplainConfig, progress=None, address: str | None = None) -> core.Comparison:
    """Train and explain once per (data content, configuration): in this process, or on the Ray cluster
    at address, which gives the same comparison (so where it ran is not part of the key)."""
    if address is not None:
        return computed_once("comparison", config_key, lambda: core.compare_on_ray(
            dataset, run_config, explain_config, address=address, progress=progress))
    return computed_once("comparison", config_key,
                         lambda: core.compare(dataset, run_config, explain_config, progress=progress))


@st.cache_resource(show_spinner=False, max_entries=32)
def summary(_comparison: core.Comparison, comparison_key: str, k: int | None,
            group_threshold: float = core.GROUP_THRESHOLD) -> core.Summary:
    return core.summarize(_comparison, k=k, group_threshold=group_threshold)


@st.cache_resource(show_spinner=False, max_entries=32)
def story(_comparison: core.Comparison, comparison_key: str, k: int | None,
          group_threshold: float = core.GROUP_THRESHOLD) -> tuple[core.Step, ...]:
    return core.story(_comparison, summary(_comparison, comparison_key, k, group_threshold))


def config_key(dataset: core.Dataset, run_config: core.RunConfig, explain_config: core.ExplainConfig) -> str:
    return f"{dataset.content_hash}|{run_config!r}|{explain_config!r}"


def current() -> core.Comparison | None:
    return st.session_state.get(COMPARISON)


def current_summary() -> core.Summary:
    """The current comparison's summary at the k the user chose (None until then: the dataset's default)."""
    return summary(current(), st.session_state[COMPARISON_KEY], st.session_state.get(K),
                   st.session_state.get(GROUPS, core.GROUP_THRESHOLD))


def require_comparison() -> core.Comparison | None:
    """The current comparison, or a note saying what to do first (then None)."""
    comp = current()
    if comp is None:
        st.info("No comparison yet. Open **Setup**, choose a dataset (or a demo preset) and press "
                "**Train and explain**.")
        st.page_link("pages/setup.py", label="Go to Setup", icon=":material/tune:")
    return comp


def method_picker(comp: core.Comparison) -> str:
    methods = list(comp.explanation.by_method)
    labels = {m: core.METHODS[m].label for m in methods}
    chosen = st.session_state.get(METHOD)
    method = st.selectbox("Explanation method", methods, index=methods.index(chosen) if chosen in methods else 0,
                          format_func=labels.get, key=f"{METHOD}_select")
    st.session_state[METHOD] = method  # shared by the Attributions and Agreement pages
    return method


def source_spread(dataset: core.Dataset, key: str, k: int, run_config: core.RunConfig,
                  explain_config: core.ExplainConfig, progress=None):
    """Variance share per randomness source: one extra run per source, computed once like a comparison."""
    return computed_once("source_spread", f"{key}|{k}", lambda: core.source_spread(
        dataset, run_config, explain_config, k=k, progress=progress))


def show_chart(chart: alt.TopLevelMixin) -> None:
    """st.altair_chart that keeps the chart's own pixel height (Streamlit's "content" height drops it),
    and its own width when that is set per band (heatmaps), so cells stay square."""
    height = getattr(chart, "height", alt.Undefined)
    width = "content" if isinstance(getattr(chart, "width", None), alt.Step) else None
    st.altair_chart(chart, height=height if isinstance(height, int) else "content", width=width)


def _cohort(cohort_json: str | None) -> core.Cohort | None:
    return None if cohort_json is None else core.Cohort.from_json(cohort_json)


# Cohorts are keyed by their JSON: a definition, not an object, says what the figures are of.
@st.cache_resource(show_spinner=False, max_entries=32)
def cohort_figures(_comparison: core.Comparison, comparison_key: str, k: int, group_threshold: float,
                   cohort_json: str) -> core.Figures:
    return core.cohort_figures(_comparison, summary(_comparison, comparison_key, k, group_threshold),
                               core.Cohort.from_json(cohort_json))


def current_cohort() -> core.Cohort | None:
    return st.session_state.get(COHORT)


@st.cache_resource(show_spinner=False, max_entries=8)
def report_html(_comparison: core.Comparison, comparison_key: str, k: int, group_threshold: float,
                cohort_json: str | None = None) -> str:
    return core.render_html(_comparison, summary(_comparison, comparison_key, k, group_threshold),
                              cohort=_cohort(cohort_json))


@st.cache_resource(show_spinner=False, max_entries=8)
def bundle(_comparison: core.Comparison, comparison_key: str, k: int, group_threshold: float,
           cohort_json: str | None = None) -> bytes:
    return core.bundle_bytes(_comparison, summary(_comparison, comparison_key, k, group_threshold),
                             cohort=_cohort(cohort_json))


@st.cache_resource(show_spinner=False, max_entries=4)
def load_bundle_and_cohort(content_hash: str, _content: bytes) -> tuple[core.Comparison, core.Cohort | None]:
    return core.load_bundle_and_cohort(_content)


def load_bundle(content_hash: str, _content: bytes) -> core.Comparison:
    return load_bundle_and_cohort(content_hash, _content)[0]


def adopt(comp: core.Comparison, key: str, *, k: int | None = None, cohort: core.Cohort | None = None) -> None:
    """Make `comp` (identified by `key`) the comparison every page shows, at top-k (None: the default),
    with `cohort`, or else the cohort defined before when it still fits the new comparison's data."""
    previous = st.session_state.get(COHORT)
    if cohort is None and previous is not None:
        try:
            previous.check(comp.run.dataset)
            cohort = previous
        except core.ConfigError:
            pass
    st.session_state[COHORT] = cohort
    st.session_state[COMPARISON] = comp
    st.session_state[COMPARISON_KEY] = key
    st.session_state[K] = k
    st.session_state.pop(K_SLIDER, None)  # a new comparison starts at its own k, not the last slider position
    st.session_state.pop(STEP, None)  # and its story at the first step
    st.session_state.pop(SPREAD, None)


def time_estimate(dataset: core.Dataset, run_config: core.RunConfig, explain_config: core.ExplainConfig, *,
                  on_cluster: bool = False) -> str:
    """'about 6 s on a 2-core machine', or, once this session has timed a run here, 'about 4 s on this
    machine (timed from your runs here)'; on a Ray cluster, the 2-core figure and that its workers share it."""
    speed = None if on_cluster else st.session_state.get(SPEED)
    seconds = core.format.duration(core.estimate_seconds(dataset, run_config, explain_config, speed=speed or 1.0))
    most = core.most_seconds(dataset, run_config, explain_config, speed=speed or 1.0)
    if core.format.duration(most) != seconds:  # precision "auto" may draw more
        seconds += f" (up to {core.format.duration(most).removeprefix('about ')} if the explainers must draw more to decide)"
    if on_cluster:
        return f"{seconds} on one 2-core machine, shared out among the cluster's workers"
    return f"{seconds} on this machine (timed from your runs here)" if speed else f"{seconds} on a 2-core machine"


def escape_md(text: str) -> str:
    """A user string (class, feature, file name) safe inside st.markdown: no LaTeX, emphasis or links."""
    return "".join("\\" + ch if ch in "\\`*_[]<>|$~" else ch for ch in str(text))


def file_stem(name: str) -> str:
    """A file-name-safe version of a dataset name."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name.rsplit(".", 1)[0])[:40] or "data"


def keep_setup_widgets() -> None:
    """Streamlit drops a widget's value when its page is not drawn; re-assigning it keeps Setup as the user left it."""
    for key in list(st.session_state):
        if key in SETUP_WIDGETS or key.startswith(("vary_", "methods_")):
            st.session_state[key] = st.session_state[key]


@st.cache_resource(show_spinner=False, max_entries=8)
def features(_dataset: core.Dataset, content_hash: str) -> tuple[core.Feature, ...]:
    """The dataset's features as a person sees them (one-hot groups as one categorical feature)."""
    return core.dataset_features(_dataset)


def current_features() -> tuple[core.Feature, ...]:
    dataset = current().run.dataset
    return features(dataset, dataset.content_hash)


def whatif_key(row: int, column: int) -> str:
    """The what-if input of one feature (by its first column) of one row: another row starts from its own values."""
    return f"whatif_{row}_{column}"


# The what-if and dependence results below are keyed by the comparison and what was asked, so a change of
# view (a method, a chart) reuses them; `values` is the edited row as a tuple of floats.
@st.cache_resource(show_spinner=False, max_entries=64)
def what_if(_comparison: core.Comparison, comparison_key: str, row: int, values: tuple[float, ...],
            target: int) -> core.WhatIf:
    dataset = _comparison.run.dataset
    return core.what_if(_comparison, np.array(values), row=row, target=target,
                        features=features(dataset, dataset.content_hash))


@st.cache_resource(show_spinner=False, max_entries=16)
def kernel_shap_row(_comparison: core.Comparison, comparison_key: str, row: int, values: tuple[float, ...],
                    target: int) -> np.ndarray:
    return core.kernel_shap_row(_comparison, np.array(values), row=row, target=target)


def _feature(comparison: core.Comparison, column: int) -> core.Feature:
    dataset = comparison.run.dataset
    return next(f for f in features(dataset, dataset.content_hash) if f.columns[0] == column)


@st.cache_resource(show_spinner=False, max_entries=32)
def dependence(_comparison: core.Comparison, comparison_key: str, column: int, target: int) -> core.Dependence:
    return core.partial_dependence(_comparison, _feature(_comparison, column), target=target)


@st.cache_resource(show_spinner=False, max_entries=64)
def ice(_comparison: core.Comparison, comparison_key: str, column: int, target: int,
        row: int) -> core.RowCurves:
    return core.ice(_comparison, dependence(_comparison, comparison_key, column, target), row)


@st.cache_data(show_spinner=False, max_entries=32)
def attribution_scatter(_comparison: core.Comparison, comparison_key: str, column: int, method: str):
    return core.attribution_scatter(_comparison, _feature(_comparison, column), method)
