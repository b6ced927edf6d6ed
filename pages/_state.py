"""Session-state keys and the one place that caches core calls.

Cached by what things are: a comparison (trained torch modules, explanations) is a
resource keyed by the configuration and the data's content hash; its summary for a
given k is derived from it. Switching pages, k or the row never retrains or re-explains.
"""
from __future__ import annotations

import io

import altair as alt
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
UPLOADED = "uploaded_csv"  # (upload id, file name, bytes) of the last CSV uploaded on Setup
# Setup's widgets whose values must outlive a visit to another page (buttons and uploaders cannot be set).
SETUP_WIDGETS = ("preset", "data_source", "builtin", "target", "family", "hidden", "epochs", "batch", "lr", "dropout",
                 "patience", "C", "n_trees", "depth", "gb_lr", "subsample", "n_models", "seed", "test_fraction",
                 "rows", "background", "k_setup", "kernel_samples", "lime_samples", "ig_steps", "target_class")


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


@st.cache_resource(show_spinner=False, max_entries=4)
def comparison(_dataset: core.Dataset, config_key: str, _run_config: core.RunConfig,
               _explain_config: core.ExplainConfig, _progress=None) -> core.Comparison:
    """Train and explain once per (data content, configuration)."""
    return core.compare(_dataset, _run_config, _explain_config, progress=_progress)


@st.cache_resource(show_spinner=False, max_entries=32)
def summary(_comparison: core.Comparison, comparison_key: str, k: int | None,
            group_threshold: float = core.GROUP_THRESHOLD) -> core.Summary:
    return core.summarize(_comparison, k=k, group_threshold=group_threshold)


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


@st.cache_resource(show_spinner=False, max_entries=4)
def source_spread(_dataset: core.Dataset, key: str, k: int, _run_config: core.RunConfig,
                  _explain_config: core.ExplainConfig, _progress=None):
    """Variance share per randomness source: one extra run per source, cached like a comparison."""
    return core.source_spread(_dataset, _run_config, _explain_config, k=k, progress=_progress)


def show_chart(chart: alt.TopLevelMixin) -> None:
    """st.altair_chart that keeps the chart's own pixel height (Streamlit's "content" height drops it),
    and its own width when that is set per band (heatmaps), so cells stay square."""
    height = getattr(chart, "height", alt.Undefined)
    width = "content" if isinstance(getattr(chart, "width", None), alt.Step) else None
    st.altair_chart(chart, height=height if isinstance(height, int) else "content", width=width)


@st.cache_resource(show_spinner=False, max_entries=8)
def report_html(_comparison: core.Comparison, comparison_key: str, k: int, group_threshold: float) -> str:
    from core import report
    return report.render_html(_comparison, summary(_comparison, comparison_key, k, group_threshold))


@st.cache_resource(show_spinner=False, max_entries=8)
def bundle(_comparison: core.Comparison, comparison_key: str, k: int, group_threshold: float) -> bytes:
    return core.bundle_bytes(_comparison, summary(_comparison, comparison_key, k, group_threshold))


@st.cache_resource(show_spinner=False, max_entries=4)
def load_bundle(content_hash: str, _content: bytes) -> core.Comparison:
    return core.load_bundle(_content)


def adopt(comp: core.Comparison, key: str, *, k: int | None = None) -> None:
    """Make `comp` (identified by `key`) the comparison every page shows, at top-k (None: the default)."""
    st.session_state[COMPARISON] = comp
    st.session_state[COMPARISON_KEY] = key
    st.session_state[K] = k
    st.session_state.pop(K_SLIDER, None)  # a new comparison starts at its own k, not the last slider position
    st.session_state.pop(SPREAD, None)


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
