"""Cohorts: a subgroup of test rows, its accuracy, ambiguity and explanation agreement beside all test rows."""
import shlex

import numpy as np
import pandas as pd
import streamlit as st

import core
from core import format as fmt
from pages import _state

_OUTCOMES = {"any": "Any", "correct": "Right", "incorrect": "Wrong"}
_PREFIX = "cohort_"  # every widget of this page, so that a new comparison starts from its stored cohort


def _range(feature: str, j: int, column: np.ndarray, previous: core.Cohort) -> list[core.Bound]:
    """A range slider over the feature's values, starting from `previous`; a bound only where it cuts into them."""
    low, high = float(column.min()), float(column.max())
    old = [b for b in previous.bounds if b.feature == feature]
    lower = max((b for b in old if b.op in (">=", ">")), key=lambda b: (b.value, b.op == ">"), default=None)
    upper = min((b for b in old if b.op in ("<=", "<")), key=lambda b: (b.value, b.op != "<"), default=None)
    start = min(max(lower.value, low), high) if lower else low
    end = max(min(upper.value, high), low) if upper else high
    whole = np.all(column == np.round(column))
    step = 1.0 if whole else float(10 ** np.floor(np.log10((high - low) / 100))) if high > low else 0.01
    chosen = st.slider(_state.escape_md(feature), low, high, (start, end), step=step, key=f"{_PREFIX}range_{j}",
                       format="%.0f" if whole else f"%.{max(0, int(-np.log10(step)))}f")
    # An end left where it was keeps its comparison: a strict < typed on the command line stays strict.
    bounds = []
    if chosen[0] > low:
        bounds.append(core.Bound(feature, lower.op if lower and chosen[0] == lower.value else ">=", chosen[0]))
    if chosen[1] < high:
        bounds.append(core.Bound(feature, upper.op if upper and chosen[1] == upper.value else "<=", chosen[1]))
    return bounds


def cohort_inputs(comp: core.Comparison, previous: core.Cohort) -> core.Cohort:
    """The cohort the widgets describe, starting from `previous`."""
    ds = comp.run.dataset
    columns = core.categorical_columns(ds)
    one_hot = {j for values in columns.values() for j in values.values()}
    numeric = [j for j in range(ds.n_features) if j not in one_hot]
    names = ds.feature_names
    left, right = st.columns(2)
    with left:
        st.markdown("**Features**")
        chosen = st.multiselect("Filter by these features", numeric, format_func=names.__getitem__,
                                default=[j for j in numeric if any(b.feature == names[j] for b in previous.bounds)],
                                key=f"{_PREFIX}features", placeholder="Choose features")
        bounds = [b for j in chosen for b in _range(names[j], j, ds.X[:, j], previous)]
        categories = []
        for i, (column, values) in enumerate(columns.items()):
            old = next((c.values for c in previous.categories if c.column == column), ())
            picked = st.multiselect(_state.escape_md(column), list(values), default=[v for v in old if v in values],
                                    key=f"{_PREFIX}category_{i}", placeholder="Any value")
            if picked:
                categories.append(core.Category(column, tuple(picked)))
    with right:
        st.markdown("**Predictions**")
        if ds.regression:
            if core.PREDICTION not in names:  # a range of the median prediction, in place of predicted classes
                st.caption(f"The models' median prediction of {_state.escape_md(ds.target_name)}")
                bounds += _range(core.PREDICTION, -1, np.median(comp.evaluation.predictions, axis=0), previous)
            delta = fmt.units(comp.evaluation.delta)
            outcome = st.radio(f"The models' median prediction lies", list(_OUTCOMES),
                               format_func={"any": "anywhere", "correct": f"within {delta} of the truth",
                                            "incorrect": f"more than {delta} from it"}.get, horizontal=True,
                               index=list(_OUTCOMES).index(previous.outcome), key=f"{_PREFIX}outcome")
            return core.Cohort(tuple(bounds), tuple(categories), (), outcome)
        predicted = st.multiselect(f"Predicted class (majority vote of the {comp.run.n_models} models)",
                                   list(ds.class_names), default=list(previous.predicted),
                                   key=f"{_PREFIX}predicted", placeholder="Any class")
        outcome = st.radio("The majority vote is", list(_OUTCOMES), format_func=_OUTCOMES.get, horizontal=True,
                           index=list(_OUTCOMES).index(previous.outcome), key=f"{_PREFIX}outcome")
    return core.Cohort(tuple(bounds), tuple(categories), tuple(predicted), outcome)


def show(comp: core.Comparison, summary: core.Summary, cohort: core.Cohort) -> None:
    key = st.session_state[_state.COMPARISON_KEY]
    inside = _state.cohort_figures(comp, key, summary.k, summary.group_threshold, cohort.to_json())
    whole = _state.cohort_figures(comp, key, summary.k, summary.group_threshold, core.Cohort().to_json())
    for note in inside.notes:
        (st.warning if inside.scores is None else st.caption)(_state.escape_md(note))
    head = summary.headline_method

    def delta(a: float, b: float, units: bool = False) -> str | None:
        if not (np.isfinite(a) and np.isfinite(b)):
            return None
        return f"{a - b:+.3g} against all test rows" if units else f"{100 * (a - b):+.1f} pts against all test rows"

    ambiguity = inside.ambiguity.estimate if inside.ambiguity is not None else float("nan")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Test rows in the cohort", f"{len(inside.rows)} of {inside.n_test}")
    if summary.regression:
        c2.metric("RMSE, mean of models", fmt.units(inside.accuracy), delta(inside.accuracy, whole.accuracy, True),
                  delta_color="inverse")
    else:
        c2.metric("Accuracy, mean of models", fmt.percent(inside.accuracy, 1), delta(inside.accuracy, whole.accuracy))
    c3.metric("Prediction ambiguity", fmt.percent(ambiguity, 1), delta(ambiguity, whole.ambiguity.estimate),
              delta_color="inverse",
              help=(f"Rows on which some model's prediction lies more than {fmt.units(summary.delta)} from model "
                    "0's." if summary.regression else "Rows on which some model predicts differently from model 0."))
    c4.metric(f"Top-{summary.k} {core.METHODS[head].label} agreement", fmt.percent(inside.agreement_of(head)),
              delta(inside.agreement_of(head), whole.agreement_of(head)),
              help=f"Over the cohort's {len(inside.explained)} explained rows, mean over pairs of models.")
    st.dataframe(core.side_by_side(inside, whole, summary), hide_index=True, width="stretch", height="content",
                 column_config={"figure": st.column_config.TextColumn(width="large")})
    with st.expander("RMSE of each model" if summary.regression else "Accuracy of each model"):
        st.dataframe(core.per_model_accuracy(inside, whole), width="stretch", column_config={
            c: st.column_config.NumberColumn(format="%.4g" if summary.regression else "percent")
            for c in ("this cohort", "all test rows")})
    with st.expander("Every agreement metric"):
        st.dataframe(core.agreement_table(inside, whole, summary), hide_index=True, width="stretch")

    st.subheader("Contested rows in the cohort")
    if inside.contested.empty:
        st.caption("No explained row of this cohort to rank." if comp.run.n_models > 1 else
                   "Train at least two models to find rows where their explanations disagree.")
    else:
        ds = comp.run.dataset
        st.caption(f"The cohort's explained rows whose top-{summary.k} features agree least across models "
                   "(mean over pairs of models).")
        rows = inside.contested
        if ds.regression:
            st.dataframe(pd.DataFrame({
                "dataset row": rows["row"], "actual": ds.y[rows["row"]], "agreement": rows["agreement"],
                "predictions more than δ apart": rows["prediction_flips"], "lowest prediction": rows["low"],
                "highest prediction": rows["high"]}), width="stretch", hide_index=True,
                column_config={"agreement": st.column_config.NumberColumn(format="%.2f")})
        else:
            st.dataframe(pd.DataFrame({
                "dataset row": rows["row"], "true class": [ds.class_names[ds.y[r]] for r in rows["row"]],
                "agreement": rows["agreement"], "models split on the prediction": rows["prediction_flips"],
                "predictions (class ×models)": [fmt.votes(v, ds.class_names) for v in rows["votes"]]}),
                width="stretch", hide_index=True,
                column_config={"agreement": st.column_config.NumberColumn(format="%.2f")})
    st.caption("The report and the data bundle downloaded on the **Report** page include this cohort. "
               "The same cohort on the command line:")
    st.code(f"python -m core compare ... --cohort {shlex.quote(cohort.to_option())}", language="bash")


st.title("Cohorts")
st.caption("Pick a group of test rows, say the largest tumours or the cases the models get wrong, and see "
           "whether the models are as accurate, as unanimous and as alike in their reasons there as on all test rows.")
comp = _state.require_comparison()
if comp is not None:
    summary = _state.current_summary()
    if st.session_state.get(f"{_PREFIX}of") != st.session_state[_state.COMPARISON_KEY]:
        for stale in [k for k in st.session_state if str(k).startswith(_PREFIX)]:
            del st.session_state[stale]
        st.session_state[f"{_PREFIX}of"] = st.session_state[_state.COMPARISON_KEY]
    try:
        cohort = cohort_inputs(comp, _state.current_cohort() or core.Cohort())
    except core.ConfigError as exc:
        st.error(_state.escape_md(exc))
    else:
        st.session_state[_state.COHORT] = None if cohort.is_everything else cohort
        st.markdown(f"#### {_state.escape_md(cohort.describe(comp.run.dataset.regression))}")
        if cohort.is_everything:
            st.info("No condition yet: choose features to filter by, a predicted class, or whether the vote is "
                    "right or wrong, above.")
        else:
            show(comp, summary, cohort)
