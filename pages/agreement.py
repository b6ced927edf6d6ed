"""Agreement: how much the models' explanations agree, against the explainer's own noise and chance."""
import numpy as np
import pandas as pd
import streamlit as st

import core
from core.export import charts
from core import format as fmt
from pages import _state

st.title("Agreement")
comp = _state.require_comparison()
if comp is not None:
    ds = comp.run.dataset
    c1, c2, c3 = st.columns(3)
    if ds.n_features > 1:
        st.session_state[_state.K] = c1.slider("k (top features compared)", 1, ds.n_features,
                                               _state.current_summary().k, key=_state.K_SLIDER)
    else:
        c1.caption("k = 1: the data has a single feature.")
    summary = _state.current_summary()
    k, labels = summary.k, summary.metric_labels
    with c2:
        method = _state.method_picker(comp)
    metric = c3.selectbox("Metric", list(labels), format_func=labels.get, key="metric")
    result = summary.by_method[method]

    c1, c2, c3 = st.columns(3)
    c1.metric("Between models", fmt.number(result.between[metric], 2), help="Mean over all pairs of models and rows.")
    floor = result.noise_floor[metric]
    c2.metric("Explainer noise floor", fmt.number(floor, 2) if np.isfinite(floor) else "deterministic",
              help="Each model explained on two independent halves of the explainer's samples, against itself, "
                   "averaged over models: how far one explanation of one model can be trusted. Between models, "
                   "the same samples are shared, so compare models with the test below, not with this number.")
    c3.metric("Random rankings", fmt.number(summary.null[metric], 2),
              help="What two unrelated random rankings would score.")
    st.markdown(f"**Do the models differ?** ({labels[core.HEADLINE_METRIC]}) "
                + _state.escape_md(core.verdict_text(result.verdict, method, precision=summary.precision)))
    _state.show_chart(charts.heatmap(result.matrices[metric], title=f"{labels[metric]}, {core.METHODS[method].label}"))

    if len(summary.by_method) > 1:
        st.subheader("Do the methods agree with each other?")
        model = st.selectbox("Model", range(comp.run.n_models), format_func=charts.model_label, key="method_model")
        _state.show_chart(charts.heatmap(summary.method_matrices[metric][model],
                                         title=f"{labels[metric]} between methods, model {model}",
                                         labels=[core.METHODS[m].label for m in summary.by_method]))

    st.subheader("Correlated features")
    st.session_state[_state.GROUPS] = st.slider(
        "Group features whose |Spearman correlation| reaches", 0.5, 1.0, float(summary.group_threshold), 0.05,
        key="group_slider", help="Attributions are summed within each group and every metric is measured again.")
    summary = _state.current_summary()
    grouped = summary.group_by_method[method]
    st.caption(_state.escape_md(summary.grouping))
    g1, g2, g3 = st.columns(3)
    g1.metric(f"Between models, {len(summary.groups)} groups", fmt.number(grouped.between[metric], 2))
    g_floor = grouped.noise_floor[metric]
    g2.metric("Group noise floor", fmt.number(g_floor, 2) if np.isfinite(g_floor) else "deterministic")
    g3.metric("Random rankings of groups", fmt.number(summary.group_null[metric], 2))
    with st.expander("The groups"):
        st.dataframe(pd.DataFrame({"group": summary.group_names, "features": [len(g) for g in summary.groups]}),
                     hide_index=True, width="stretch")

    if summary.budget is not None:
        st.subheader("How many seeds are enough?")
        st.caption(f"Agreement {fmt.percent(summary.budget.agreement.estimate)} "
                   f"({fmt.confidence(summary.budget.agreement)}, resampling models). "
                   + fmt.planner(summary.budget)
                   + " Bands: what random subsets of that many of these models show (headline method and metric).")
        _state.show_chart(charts.seed_budget(summary.budget.curve, regression=summary.regression))

    st.subheader("Equal accuracy, different logic")
    head = summary.headline_method
    _state.show_chart(charts.gap_vs_agreement(summary.all_pairs, regression=summary.regression))
    lo, hi = summary.accuracy_ci
    interval = ((lambda a, b: f"[{fmt.units(lo[a, b])}, {fmt.units(hi[a, b])}]") if summary.regression else
                (lambda a, b: fmt.points_interval(lo[a, b], hi[a, b])))
    pairs = summary.pairs.drop(columns="equal_accuracy").assign(
        accuracy_difference_ci=[interval(a, b) for a, b in zip(summary.pairs.model_a, summary.pairs.model_b)])
    if summary.regression:
        pairs = pairs.rename(columns=lambda c: c.replace("accuracy", "rmse"))
    st.caption(f"Pairs {summary.tolerance_text}, lowest top-{k} "
               f"{core.METHODS[head].label} agreement first. The 95% bootstrap interval of each "
               f"{summary.quality_name} difference (on the shared test rows) says how equal \"equal\" is.")
    st.dataframe(pairs, width="stretch", hide_index=True, column_config={
        **{f"{q}_{x}": st.column_config.NumberColumn(format="%.4g" if summary.regression else "%.3f")
           for q in ("accuracy", "rmse") for x in ("a", "b", "gap")},
        "agreement": st.column_config.NumberColumn(format="%.2f")})

    if not summary.contested.empty:
        st.subheader("Contested rows")
        st.caption("Test rows whose explanations disagree most across models, and whether the prediction flips.")
        if summary.regression:
            contested = summary.contested.rename(columns={"prediction_flips": f"apart by more than δ",
                                                          "low": "lowest prediction", "high": "highest prediction"})
        else:
            contested = summary.contested.assign(votes=lambda d: [fmt.votes(v, ds.class_names) for v in d["votes"]])
            contested = contested.rename(columns={"votes": "predictions (class ×models)"})
        st.dataframe(contested, width="stretch", hide_index=True,
                     column_config={"agreement": st.column_config.NumberColumn(format="%.2f")})
        pick = st.selectbox("Open a row in the row explorer", contested["row"].tolist(), key="contested_pick")
        if st.button("Open in row explorer", key="open_row"):
            st.session_state[_state.ROW] = int(pick)
            st.switch_page("pages/attributions.py")

    if not summary.divergent.empty:
        st.subheader("Same prediction, different reasons")
        same = (f"within δ = {fmt.units(summary.delta)} of each other (median shown)" if summary.regression
                else "the same class")
        st.caption(f"Rows on which every model predicts {same}, ranked by how much their top-{k} "
                   f"{core.METHODS[head].label} features differ (1 - mean feature agreement).")
        divergent = (summary.divergent if summary.regression else
                     summary.divergent.assign(prediction=lambda d: [ds.class_names[c] for c in d["prediction"]]))
        st.dataframe(divergent.head(20), width="stretch", hide_index=True,
                     column_config={"divergence": st.column_config.NumberColumn(format="%.2f")})

    st.subheader("Feature ranks across models")
    flips = dict(zip(ds.feature_names, summary.sign_flips))
    _state.show_chart(charts.rank_distribution(summary.ranks, flips))
    flipped = [f for f, flag in flips.items() if flag]
    st.caption("Features whose mean attribution is positive in some models and negative in others: "
               + (", ".join(map(_state.escape_md, flipped)) if flipped else "none."))

    with st.expander("Which source of randomness causes the disagreement?"):
        st.caption("Trains one extra run per source, varying only that source, and compares their spread.")
        if st.button("Measure each source's share", key="spread", disabled=_state.running() is not None,
                     help="Other work of yours is running: see the sidebar." if _state.running() else None):
            _state.start_spread(ds, st.session_state[_state.COMPARISON_KEY], k, comp.run.config, comp.explanation.config)
        work = _state.untaken()
        if work is not None and work.kind == "spread":
            _state.follow_here(work, cancel_key="cancel_spread")  # a click elsewhere leaves it running
            _state.show_news()
        if _state.SPREAD in st.session_state:
            st.dataframe(pd.DataFrame(st.session_state[_state.SPREAD]), width="stretch", hide_index=True)
