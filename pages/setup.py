"""Setup: dataset, models, randomness sources, explanations; then train and explain."""
from __future__ import annotations

import streamlit as st

import core
from pages import _state

APP_MAX_MODELS = 200  # more runs from the command line (python -m core compare --models, up to core.MAX_MODELS)

st.title("Setup")
st.caption("Train several models that differ only in their randomness, explain each one, and compare.")


def run_comparison(dataset: core.Dataset, run_config: core.RunConfig, explain_config: core.ExplainConfig,
                   k: int | None = None, *, address: str | None = None, delta: float | None = None) -> None:
    """Train, explain and summarize (or fetch from the cache), here or on the Ray cluster at `address`, in
    work of this session that a visit to another page does not stop; queued behind work already running."""
    if not _state.start_comparison(dataset, run_config, explain_config, k=k, address=address, delta=delta):
        st.info("Other work of yours is running: this comparison starts when it ends (see the sidebar).")


def follow_running(where) -> None:
    """The session's running work, shown in `where` (at the top of the page, drawn last: the controls stay
    usable meanwhile) until it ends; a new comparison then opens the overview."""
    work = _state.untaken()
    if work is None:
        return
    where.caption(f"Running: {_state.escape_md(work.job.label)}")
    if _state.follow_here(work, cancel_key="cancel_setup", where=where) == "comparison":
        _state.current_summary()  # what the overview shows first, computed before it opens
        st.switch_page("pages/overview.py")
    with where:
        _state.show_news()


def compute_inputs() -> str | None:
    """The address of the Ray cluster to compute on, or None for this machine."""
    with st.expander("Compute"):
        where = st.radio("Run on", ["This machine", "A Ray cluster"], horizontal=True, key=_state.COMPUTE,
                         help="A Ray cluster trains and explains the models on its machines in parallel; "
                              "the results are identical to this machine's.")
        if where == "This machine":
            st.caption("Models are trained and explained by this app itself.")
            return None
        address = st.text_input("Cluster address", "auto", key=_state.RAY_ADDRESS,
                                help="auto: the Ray cluster this machine belongs to; ray://HEAD:10001: a cluster "
                                     "elsewhere, started with `ray start --head` on its head machine.").strip()
        if st.button("Connect", key="ray_connect"):
            try:
                st.session_state[_state.CLUSTER] = core.connect_ray(address)
            except core.ConfigError as exc:
                st.session_state.pop(_state.CLUSTER, None)
                st.error(_state.escape_md(exc))
        cluster = st.session_state.get(_state.CLUSTER)
        if cluster is not None and cluster.address == address:
            st.success(f"Connected: {cluster.describe()}.")
        else:
            st.caption("Connect to check the cluster and see its workers; a run connects by itself too.")
        return address


def preset_inputs(address: str | None) -> None:
    st.subheader("One-click demo")
    names = list(core.PRESETS)
    choice = st.selectbox("Preset", names, key="preset")
    preset = core.PRESETS[choice]
    st.caption(preset.blurb)
    dataset = core.BUILTIN_SHAPES[preset.dataset]
    st.caption(f"Takes {_state.time_estimate(dataset, preset.run, preset.explain, on_cluster=address is not None)}.")
    if st.button("Run this demo", type="primary", key="run_preset"):
        run_comparison(dataset, preset.run, preset.explain, address=address)


def dataset_inputs() -> core.Dataset | core.Shape | None:
    """The chosen dataset (a built-in one as its shape, loaded when a run starts), or None with an error shown."""
    source = st.radio("Data", ["Built-in dataset", "Upload a CSV"], horizontal=True, key="data_source")
    if source == "Built-in dataset":
        name = st.selectbox("Dataset", list(core.BUILTIN_DATASETS), key="builtin")
        dataset = core.BUILTIN_SHAPES[name]
        if dataset.regression:
            st.caption(f"{dataset.n_rows} rows · {dataset.n_features} features · regression: predicts "
                       f"{_state.escape_md(dataset.class_names[0])}, a number")
            return dataset
        st.caption(f"{dataset.n_rows} rows · {dataset.n_features} features · {dataset.n_classes} classes")
        return dataset
    upload = st.file_uploader("CSV file (a header row, one row per example)", type=["csv"], key="upload")
    if upload is not None:  # read_csv checks the size limit, among the rest
        if st.session_state.get(_state.UPLOADED, (None,))[0] != upload.file_id:  # a new file
            st.session_state[_state.UPLOADED] = (upload.file_id, upload.name, upload.getvalue())
    elif _state.UPLOADED in st.session_state:  # back from another page: the uploader forgets, we do not
        st.caption(f"Using {_state.escape_md(st.session_state[_state.UPLOADED][1])}, uploaded earlier; "
                   "upload another file to replace it.")
    else:
        st.info("Upload a CSV file, then pick its target column.")
        return None
    upload_id, file_name, content = st.session_state[_state.UPLOADED]
    try:
        frame = _state.csv_frame(upload_id, content)
    except core.DatasetError as exc:
        st.error(f"{_state.escape_md(file_name)}: {_state.escape_md(exc)}")
        return None
    columns = list(frame.columns)
    c1, c2 = st.columns([2, 1])
    target = c1.selectbox("Target column (what to predict)", columns, index=len(columns) - 1, key="target")
    guessed = core.guess_task(frame, target)
    task = c2.radio("Task", core.TASKS, index=core.TASKS.index(guessed), horizontal=True, key=f"task_{target}",
                    help=f"Guessed from the target: a numeric column with more than {core.MAX_CLASSES} distinct "
                         "values is predicted as a number (regression); anything else as classes. A 0-10 score "
                         "can be either: choose.")
    st.dataframe(frame.head(8), width="stretch")
    try:
        dataset = _state.csv_dataset(upload_id, file_name, target, content, task)
    except core.DatasetError as exc:
        st.error(_state.escape_md(exc))
        return None
    for note in dataset.notes:
        st.warning(_state.escape_md(note))
    if dataset.regression:
        st.caption(f"{dataset.n_rows} rows · {dataset.n_features} features after encoding · regression: the target "
                   f"{_state.escape_md(target)} is predicted as a number"
                   + (" (guessed from its values; change it above)" if task == guessed else ""))
    else:
        st.caption(f"{dataset.n_rows} rows · {dataset.n_features} features after encoding · {dataset.n_classes} classes")
    return dataset


ESTIMATOR_EXAMPLES = {"classification": "sklearn.ensemble.ExtraTreesClassifier",
                      "regression": "sklearn.ensemble.ExtraTreesRegressor"}


def estimator_inputs(task: str) -> core.SklearnConfig:
    """An estimator by import path and its parameters. Refused before anything is imported unless it lies in
    a package the server allows (core.check_allowed): a visitor never has the server import a module they name."""
    st.caption("Any scikit-learn-compatible estimator by its import path, from "
               f"{', '.join(core.allowed_packages())} (whoever runs the server can allow more with "
               f"{core.PACKAGES_VARIABLE}). Its random_state, if it has one, is drawn from the init source.")
    path = st.text_input("Estimator (import path)", ESTIMATOR_EXAMPLES[task], key=f"estimator_{task}").strip()
    lines = st.text_area("Parameters, one name=value per line", "n_estimators=100", key=f"estimator_params_{task}")
    core.check_allowed(path)
    params = tuple(core.parse_param(line) for line in lines.splitlines() if line.strip())
    return core.SklearnConfig(estimator=path, params=params)


def hyperparameter_inputs(family: str, task: str = "classification") -> tuple[core.MLPConfig, core.SklearnConfig]:
    """The family's hyperparameters; raises ConfigError for a value a model cannot take."""
    mlp, sk = core.MLPConfig(), core.SklearnConfig()  # the defaults the CLI uses too
    if family == "estimator":
        return mlp, estimator_inputs(task)
    with st.expander("Hyperparameters", expanded=False):
        if family == "mlp":
            hidden = st.text_input("Hidden layer sizes (comma-separated)", ",".join(map(str, mlp.hidden)), key="hidden")
            c1, c2, c3 = st.columns(3)
            epochs = c1.number_input("Epochs", 1, 2000, mlp.epochs, key="epochs")
            batch = c2.number_input("Batch size", 1, 4096, mlp.batch_size, key="batch")
            lr = c3.number_input("Learning rate", 1e-5, 1.0, mlp.learning_rate, format="%.4f", key="lr")
            dropout = c1.slider("Dropout", 0.0, 0.9, mlp.dropout, 0.05, key="dropout")
            patience = c2.number_input("Early-stopping patience (0 = off)", 0, 500, 0, key="patience")
            mlp = core.MLPConfig(hidden=core.parse_hidden(hidden), dropout=round(dropout, 4), epochs=int(epochs), batch_size=int(batch),
                                 learning_rate=float(lr), patience=int(patience) or None)
        elif family == "logistic_regression":
            sk = core.SklearnConfig(C=st.number_input("Inverse regularization C", 1e-4, 1e4, sk.C, key="C"))
        elif family == "ridge":
            sk = core.SklearnConfig(alpha=st.number_input("Penalty alpha (L2)", 0.0, 1e6, sk.alpha, key="alpha"))
        else:
            c1, c2 = st.columns(2)
            n_trees = c1.number_input("Trees", 1, 1000, sk.n_estimators, key="n_trees")
            depth = c2.number_input("Max depth (0: unlimited for forests and LightGBM, 3 for boosting, 6 for "
                                    "XGBoost)", 0, 50, 0, key="depth")
            lr = c1.number_input("Learning rate (boosting)", 0.001, 1.0, sk.learning_rate, key="gb_lr")
            sub = c2.slider("Row subsample (boosting)", 0.1, 1.0, sk.subsample, 0.05, key="subsample",
                            help="The share of training rows each tree sees, drawn from the seed: below 1, seeds "
                                 "matter.")
            col = sk.colsample
            if family in ("xgboost", "lightgbm"):
                col = c1.slider("Column subsample", 0.1, 1.0, sk.colsample, 0.05, key="colsample",
                                help="The share of features each tree draws from the seed. With both subsamples "
                                     "at 1.0, the seed changes nothing.")
            sk = core.SklearnConfig(n_estimators=int(n_trees), max_depth=int(depth) or None, learning_rate=float(lr),
                                    subsample=float(sub), colsample=float(col))
    return mlp, sk


def randomness_inputs() -> tuple[int, int, float, frozenset[str]]:
    c1, c2, c3 = st.columns(3)
    defaults = core.RunConfig()
    n_models = c1.slider("Number of models", 2, APP_MAX_MODELS, defaults.n_models, key="n_models")
    seed = c2.number_input("Base seed", 0, 2**31 - 1, defaults.seed, key="seed")
    test_fraction = c3.slider("Test fraction", 0.05, 0.5, defaults.test_fraction, 0.05, key="test_fraction")
    st.markdown("**What varies between the models** (everything else is held fixed)")
    cols = st.columns(len(core.SOURCES))
    vary = frozenset(s for s, col in zip(core.SOURCES, cols)
                     if col.checkbox(s, value=s in defaults.vary, help=core.SOURCE_HELP[s], key=f"vary_{s}"))
    st.caption(" · ".join(f"**{s}**: {core.SOURCE_HELP[s]}" for s in core.SOURCES))
    return n_models, int(seed), round(test_fraction, 4), vary


def explain_inputs(family: str, seed: int, dataset: core.Dataset | None) -> tuple[core.ExplainConfig, int]:
    """The explanation settings and k; raises ConfigError for settings the explainers cannot take."""
    defaults = core.ExplainConfig()
    n_classes = dataset.n_classes if dataset is not None else 2
    methods = st.multiselect("Explanation methods", list(core.methods_for(family, n_classes)),
                             default=core.default_methods(family, n_classes),
                             format_func=lambda m: core.METHODS[m].label, key=f"methods_{family}" + ("_multiclass" if n_classes > 2 and family == "gradient_boosting" else ""))
    c1, c2, c3 = st.columns(3)
    rows = c1.slider("Test rows to explain", 5, 300, defaults.max_rows, 5, key="rows")
    background = c2.slider("SHAP background size (k-means)", 5, 100, defaults.background_size, key="background")
    n_features = dataset.n_features if dataset is not None else 10
    k = c3.number_input("k (top features compared)", 1, max(n_features, 2), core.default_k(n_features),
                        key=f"k_setup_{n_features}")  # another number of features starts at its own default
    with st.expander("Explainer settings"):
        e1, e2, e3 = st.columns(3)
        kernel = e1.number_input("KernelSHAP coalitions", 10, 20000, defaults.kernel_samples, key="kernel_samples",
                                 help="Shared by all models; more means a lower noise floor, slower.")
        lime_samples = e2.number_input("LIME samples per row", 100, 20000, defaults.lime_samples, key="lime_samples")
        ig_steps = e3.number_input("Integrated-gradient nodes per piece", 2, 256, defaults.ig_steps, key="ig_steps",
                                   help="The path is cut where a ReLU switches; each smooth piece is integrated "
                                        "with this many Gauss-Legendre nodes (32: exact to float64 precision).")
        precision = st.radio("Precision", core.PRECISIONS, horizontal=True, key="precision",
                             format_func={"auto": "auto: draw more until the test decides",
                                          "fixed": "fixed: exactly the samples above"}.get,
                             help="Whether the models differ is tested on two independent halves of each sampling "
                                  f"explainer's samples. At auto, an undecided test doubles them, up to "
                                  f"{2 ** core.MAX_DOUBLINGS} times, reusing what was drawn.")
    target = None
    if dataset is not None and not dataset.regression and dataset.n_classes > 2:
        options = [None, *range(dataset.n_classes)]
        target = st.selectbox("Class whose probability is explained", options, key="target_class",
                              format_func=lambda c: "the class most models predict, row by row" if c is None
                              else dataset.class_names[c])
    config = core.ExplainConfig(methods=tuple(methods), max_rows=rows, background_size=background, seed=seed,
                                target_class=target, kernel_samples=int(kernel), lime_samples=int(lime_samples),
                                ig_steps=int(ig_steps), precision=precision,
                                k=None if int(k) == core.default_k(n_features) else min(int(k), n_features))
    return config, min(int(k), n_features)


def shown_errors(build, *args):
    """build(*args), or None with its ConfigError shown, so one bad value never hides the other settings."""
    try:
        return build(*args)
    except core.ConfigError as exc:
        st.error(_state.escape_md(exc))
        return None


running = st.container()  # the session's running work, shown here once the page is drawn
address = compute_inputs()
preset_inputs(address)
st.divider()
st.subheader("Or set up your own comparison")
dataset = dataset_inputs()
task = dataset.task if dataset is not None else "classification"
family = st.selectbox("Model family", core.TASK_FAMILIES[task], format_func=core.FAMILIES.get,
                      key="family" if task == "classification" else "family_regression")
hyper = shown_errors(hyperparameter_inputs, family, task)
n_models, seed, test_fraction, vary = randomness_inputs()
explained = shown_errors(explain_inputs, family, seed, dataset)
run_config = hyper and shown_errors(lambda: core.RunConfig(
    family=family, n_models=n_models, seed=seed, vary=vary, test_fraction=test_fraction, mlp=hyper[0], sklearn=hyper[1]))
note = run_config and core.inert_note(run_config)
if note:
    (st.warning if core.identical_models(run_config) else st.caption)(note)
ready = dataset is not None and run_config is not None and explained is not None
delta = None
if dataset is not None and dataset.regression:
    unit = f"{_state.escape_md(dataset.class_names[0])}'s units"
    c1, c2 = st.columns([1, 2])
    if c1.checkbox("Set the tolerance δ myself", key=f"own_delta_{dataset.content_hash}"):
        delta = c2.number_input(f"Tolerance δ, in {unit}", min_value=0.0,
                                value=float(f"{core.DELTA_FRACTION * dataset.target_std:.3g}"), format="%.4g",
                                key=f"delta_{dataset.content_hash}") or None
        if delta is None:
            st.error("The tolerance must be positive: enter a distance in the target's units.")
            ready = False
    else:
        c2.caption(f"Tolerance δ: 10% of the target's standard deviation on the training rows, about "
                   f"{core.format.units(core.DELTA_FRACTION * dataset.target_std)} in {unit}.")
    st.caption("Two models' predictions for a row differ when they are more than δ apart: δ decides the "
               "ambiguity (rows where some model departs from model 0), and a prediction within δ of the truth "
               "counts as right in cohorts.")
if ready:
    st.caption(f"Estimated time: {_state.time_estimate(dataset, run_config, explained[0], on_cluster=address is not None)} "
               "(training, explaining with every method, and testing whether the models differ).")
if st.button("Train and explain", type="primary", disabled=not ready, key="train"):
    run_comparison(dataset, run_config, *explained, address=address, delta=delta)
follow_running(running)
