"""Session-state keys and the one place that caches core calls.

Cached by what things are: a comparison (trained torch modules, explanations) is a
resource keyed by the configuration and the data's content hash; its summary for a
given k is derived from it. Switching pages, k or the row never retrains or re-explains.
"""
from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass

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
JOB = "job"  # the Running work of this session (a comparison, or the sources' ranking) until a page takes it
JOB_NEWS = "job_news"  # how the last work ended, when not with a result: (kind of st message, text), shown once
QUEUED = "queued_run"  # (label, start) of a comparison asked for while other work ran: started when it ends
# Setup's widgets whose values must outlive a visit to another page (buttons and uploaders cannot be set).
SETUP_WIDGETS = ("preset", "data_source", "builtin", "target", "family", "hidden", "epochs", "batch", "lr", "dropout",
                 "patience", "C", "alpha", "family_regression", "n_trees", "depth", "gb_lr", "subsample", "colsample", "n_models", "seed", "test_fraction",
                 "rows", "background", "kernel_samples", "lime_samples", "ig_steps", "precision", "target_class",
                 COMPUTE, RAY_ADDRESS)


_WORK_STARTED = threading.Event()  # set by the first job of any session: the warm-up then only imports
_IMPORTED = threading.Event()  # set once the warm-up has imported torch, shap, lime and scikit-learn
_WARM_DELAY = 1.5  # seconds the warm-up waits while the first page is drawn (its script takes about 0.5 s)
_WARMING: list[threading.Thread] = []  # the warm-up, once started


def _warm(slot: "_Slot", preset: core.Preset) -> None:
    _WORK_STARTED.wait(_WARM_DELAY)  # importing at once slowed the first page by 0.4 s on 2 cores, and
    # before Setup stopped importing scikit-learn, by 4-5 s (import locks)
    compare = core.compare  # imports core.run.compare, and with it torch, shap, lime and scikit-learn
    import altair  # noqa: F401  (the first chart's, on the overview)
    _IMPORTED.set()
    if not _WORK_STARTED.is_set():  # a user's run warms the libraries itself; two runs at once slow both
        _filled(slot, lambda: compare(core.BUILTIN_SHAPES[preset.dataset].loaded(), preset.run, preset.explain))


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per server process, started by the first script run: import the libraries in the background,
    then compute the first demo (what a first visitor presses, often in front of people) into the cache
    that every session's runs share, unless someone's own run has started by then. The comparison is the
    one the demo gives, bit for bit: pressing the demo then shows it at once, and pressing it earlier waits
    for it instead of computing it twice. Computing it also sets up what the libraries set up on first use
    (torch.optim imports TorchDynamo, over a second), as core.warm_up does."""
    preset = next(iter(core.PRESETS.values()))
    shape = core.BUILTIN_SHAPES[preset.dataset]
    slot = _slot("comparison", config_key(shape, preset.run, preset.explain))
    thread = threading.Thread(target=_warm, args=(slot, preset), name="seedscope-warm-up", daemon=True)
    thread.start()
    _WARMING.append(thread)
    return thread


def opening(what: str):
    """A spinner while `what` (markdown, escaped by the caller) is opened; in the server's first seconds it
    also says that the libraries are still loading, so a bundle uploaded then shows why it takes a moment."""
    if _IMPORTED.is_set() or not any(thread.is_alive() for thread in _WARMING):
        return st.spinner(f"Opening {what}…")
    return st.spinner(f"Opening {what}… The server has just started and is still loading its libraries "
                      "(torch, shap, scikit-learn): a few seconds, only this once.")


# Uploaded files are cached by their upload id: hashing up to 200 MB of bytes on every rerun would not be.
@st.cache_resource(show_spinner=False, max_entries=8)
def csv_frame(upload_id: str, _content: bytes):
    return core.read_csv(io.BytesIO(_content))


@st.cache_resource(show_spinner=False, max_entries=8)
def csv_dataset(upload_id: str, file_name: str, target: str, _content: bytes, task: str | None = None) -> core.Dataset:
    return core.from_frame(csv_frame(upload_id, _content), target, name=file_name, task=task)


class _Slot:
    """One cached result and the lock its computation holds (see _filled)."""

    def __init__(self):
        self.lock, self.value = threading.Lock(), None


@st.cache_resource(show_spinner=False, max_entries=8)
def _slot(kind: str, key: str) -> _Slot:
    return _Slot()


def _filled(slot: _Slot, compute):
    """compute()'s result, computed once per slot and then shared.

    Slots, not st.cache_resource functions: Streamlit records the elements a cached function draws
    and replays them on a hit, and a progress bar created outside it cannot be replayed (the second
    session to run the same preset got CacheReplayClosureError). A slot's lock also keeps two
    sessions from computing the same thing at once. Work in a job's thread gets its slot from the
    page that starts it: that thread calls nothing of Streamlit's.
    """
    with slot.lock:
        if slot.value is None:
            slot.value = compute()
        return slot.value


@dataclass(frozen=True, eq=False)
class Running:
    """Work of this session in a thread of its own (core.Job): it outlives the page's script run that
    started it, and every page shows it (app.py's sidebar) until a page takes its result (take_finished)."""

    job: core.Job
    kind: str  # "comparison" or "spread"
    key: str  # the comparison's key (config and data hash): what a spread is of
    k: int | None = None  # top-k to open a comparison at
    timed: tuple | None = None  # (dataset, run_config, explain_config) of a comparison computed here, to time it

    def status(self) -> str:
        """'Explaining 10 models with LIME · 64% · about 3 s left'."""
        left = self.job.seconds_left()
        eta = "" if left is None else (f" · {core.format.duration(left)} left" if left >= 1 else " · finishing")
        return f"{self.job.message} · {self.job.fraction:.0%}{eta}"


def running() -> Running | None:
    """This session's work, while it runs."""
    work = untaken()
    return work if work is not None and not work.job.done else None


def untaken() -> Running | None:
    """This session's work until a page takes it: running, or ended (a cache hit ends at once)."""
    return st.session_state.get(JOB)


def start_comparison(dataset: core.Dataset | core.Shape, run_config: core.RunConfig, explain_config: core.ExplainConfig, *,
                     k: int | None = None, address: str | None = None, delta: float | None = None) -> bool:
    """Train and explain in a job of this session, once per (data content, configuration) in this process:
    here, or on the Ray cluster at `address`, which gives the same comparison (so where it ran is not part
    of the key). Work already running queues it instead: False then."""
    label = f"{dataset.name}: {run_config.n_models} × {core.FAMILIES[run_config.family]}"
    if running() is not None:
        st.session_state[QUEUED] = (label, lambda: start_comparison(dataset, run_config, explain_config, k=k,
                                                                    address=address, delta=delta))
        return False
    key = config_key(dataset, run_config, explain_config) + ("" if delta is None else f"|delta={delta!r}")
    slot = _slot("comparison", key)

    def work(progress):  # a built-in dataset is loaded here, not on the first page (see core.Shape)
        if address is not None:
            return _filled(slot, lambda: core.compare_on_ray(dataset.loaded(), run_config, explain_config,
                                                             address=address, progress=progress, delta=delta))
        return _filled(slot, lambda: core.compare(dataset.loaded(), run_config, explain_config, progress=progress,
                                                  delta=delta))
    speed = None if address is not None else st.session_state.get(SPEED)
    estimate = core.estimate_seconds(dataset, run_config, explain_config, speed=speed or 1.0)
    _WORK_STARTED.set()
    st.session_state[JOB] = Running(core.Job(work, label=label, estimate=estimate), "comparison", key, k,
                                    None if address is not None else (dataset, run_config, explain_config))
    return True


def start_spread(dataset: core.Dataset, key: str, k: int, run_config: core.RunConfig,
                 explain_config: core.ExplainConfig) -> bool:
    """The variance share per randomness source (one extra run per source) in a job of this session,
    computed once per comparison and k like a comparison. Work already running: False, nothing started."""
    if running() is not None:
        return False
    slot = _slot("source_spread", f"{key}|{k}")
    _WORK_STARTED.set()
    job = core.Job(lambda progress: _filled(slot, lambda: core.source_spread(
        dataset, run_config, explain_config, k=k, progress=progress)), label="Ranking the sources of randomness")
    st.session_state[JOB] = Running(job, "spread", key)
    return True


def take_finished() -> str | None:
    """Take this session's work once it has ended: a comparison becomes the current one (and times this
    machine), a ranking of sources is kept for its comparison, an error or a cancel becomes news for
    whatever page is drawn (JOB_NEWS); then a queued comparison starts. What was taken: "comparison",
    "spread", "error", "cancelled", or None when nothing had ended."""
    work = st.session_state.get(JOB)
    if work is None or not work.job.done:
        return None
    del st.session_state[JOB]
    job, taken = work.job, work.kind
    if job.cancelled:
        st.session_state[JOB_NEWS] = ("info", f"Cancelled: {escape_md(job.label)}.")
        taken = "cancelled"
    elif isinstance(job.error, (core.ConfigError, core.DatasetError)):
        st.session_state[JOB_NEWS] = ("error", escape_md(job.error))
        taken = "error"
    elif job.error is not None:  # a failure we did not foresee: say so plainly instead of a traceback
        st.session_state[JOB_NEWS] = ("error", f"{escape_md(job.label)} failed ({type(job.error).__name__}: "
                                               f"{escape_md(job.error)}). Try fewer models or rows, or other "
                                               "settings; if it persists, report it with this message.")
        taken = "error"
    elif work.kind == "comparison":
        if work.timed and job.first_report and not job.crowded and not _drew_more(job.result):  # as estimated, alone
            st.session_state[SPEED] = core.machine_speed(core.estimate_seconds(*work.timed), job.ended - job.first_report,
                                                         previous=st.session_state.get(SPEED))
        adopt(job.result, work.key, k=work.k)
    elif st.session_state.get(COMPARISON_KEY) == work.key:  # a ranking of the comparison still shown
        st.session_state[SPREAD] = job.result
    queued = st.session_state.pop(QUEUED, None)
    if queued is not None:
        queued[1]()
    return taken


def _drew_more(comp: core.Comparison) -> bool:
    """Whether precision "auto" drew more samples than configured: the estimate counts none of those."""
    config, n_features = comp.explanation.config, comp.run.dataset.n_features
    return any(a.samples is not None and a.samples > core.METHODS[name].samples(config, n_features)
               for name, a in comp.explanation.by_method.items())


def follow_here(work: Running, *, cancel_key: str, where=st) -> str | None:
    """Show `work`'s progress in `where` (a container of this page) until it ends, with a Cancel button,
    then take it (take_finished). A click elsewhere stops this script run, not the work, which the
    sidebar then shows."""
    if where.button("Cancel", key=cancel_key):
        work.job.cancel()
    bar = where.progress(work.job.fraction, text=work.status())
    while not work.job.wait(0.1):
        bar.progress(work.job.fraction, text=work.status())
    bar.empty()
    return take_finished()


def show_news() -> None:
    """How this session's last work ended, when not with a result (an error, a cancel): once, on the page drawn."""
    news = st.session_state.pop(JOB_NEWS, None)
    if news is not None:
        (st.error if news[0] == "error" else st.info)(news[1])


def sidebar_status() -> None:
    """This session's running work, on every page: progress, time left, Cancel, what is queued. It polls
    twice a second; when the work ends it reruns the app, whose run takes the result."""
    work = untaken()
    if work is None:
        return
    if work.job.done:  # ended since this run took what had ended: take it now
        st.rerun()

    @st.fragment(run_every=0.5)
    def poll():
        work = st.session_state.get(JOB)
        if work is None or work.job.done:
            st.rerun()  # the whole app: its run takes the result and draws the page with it
        st.caption(f"Running: {escape_md(work.job.label)}")
        st.progress(work.job.fraction, text=work.status())
        if st.button("Cancel", key="cancel_sidebar"):
            work.job.cancel()
        queued = st.session_state.get(QUEUED)
        if queued is not None:
            st.caption(f"Next: {escape_md(queued[0])}")
            if st.button("Drop the next run", key="drop_queued"):
                st.session_state.pop(QUEUED, None)
    poll()


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
    work = running()
    if comp is None and work is not None and work.kind == "comparison":
        st.info(f"{escape_md(work.job.label)} is running (see the sidebar): this page shows it once it is done.")
    elif comp is None:
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


def show_chart(chart) -> None:
    """st.altair_chart that keeps the chart's own pixel height (Streamlit's "content" height drops it),
    and its own width when that is set per band (heatmaps), so cells stay square."""
    import altair as alt  # on first use: the first page, Setup, draws no chart

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
    """A user string (class, feature, file name) shown as itself by st.markdown and every element that renders
    markdown (captions, messages, help, widget labels, radio options, metric labels and values): no link, image,
    emphasis, HTML, LaTeX, heading, list, colour, icon or emoji.

    Markdown characters get a backslash, and so do the marks that open a heading or a list at a line's start.
    Streamlit finds bare links (https://…, www.…, name@host) and :shortcodes: (emoji, :material/…:, :streamlit:)
    in the text after the backslashes are gone, so those get an invisible word joiner (U+2060) instead."""
    text = "".join("\\" + ch if ch in "\\`*_[]<>|$~&" else ch for ch in str(text))
    text = re.sub(r"(?m)^(\s*)([#+=-])", r"\1\\\2", text)  # headings, bullets, setext underlines
    text = re.sub(r"(?m)^(\s*\d+)([.)])(?=\s|$)", r"\1\\\2", text)  # numbered lists
    text = re.sub(r"(?i)(:(?=[\w+/-])|www(?=\.)|@)", "\\1\u2060", text)  # :smile:, https://, www., a@b.c
    return text


def file_stem(name: str) -> str:
    """A file-name-safe version of a dataset name."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name.rsplit(".", 1)[0])[:40] or "data"


def keep_setup_widgets() -> None:
    """Streamlit drops a widget's value when its page is not drawn; re-assigning it keeps Setup as the user left it."""
    for key in list(st.session_state):
        if key in SETUP_WIDGETS or key.startswith(("vary_", "methods_", "k_setup_", "task_", "own_delta_", "delta_",
                                                  "estimator_")):
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
