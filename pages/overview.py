"""Overview: the finding in plain words, and the most striking pair of models."""
import numpy as np
import pandas as pd
import streamlit as st

import core
from core.export import charts
from core import format as fmt
from pages import _state

PAIR_READING = {  # what the pair means, from the test the headline reads
    "differ": "Like the models overall, they weigh their features differently, beyond the explainer's own noise.",
    "same": ("Across all models, though, explanations differ no more than one model's from itself: this pair is "
             "no evidence of different logic."),
    "inconclusive": "Whether the models differ beyond the explainer's own noise is not decided (see the headline).",
    None: "Whether that is beyond the explainer's own noise was not tested.",
}

st.title("Overview")
comp = _state.require_comparison()
if comp is not None:
    summary = _state.current_summary()
    ev, head = comp.evaluation, summary.by_method[summary.headline_method]
    st.markdown(f"### {_state.escape_md(summary.headline)}")
    st.caption(_state.escape_md(summary.grouping))
    for note in comp.run.dataset.notes:
        st.caption(f"Data note: {_state.escape_md(note)}")
    metric, verdict = core.HEADLINE_METRIC, head.verdict
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Models", comp.run.n_models)
    if summary.regression:
        c2.metric("RMSE", fmt.units(summary.accuracy_mean), delta=f"± {fmt.units(summary.accuracy_std)} across models",
                  delta_color="off", delta_arrow="off",
                  help="Mean and standard deviation across models of the test root mean squared error, in "
                       f"{_state.escape_md(comp.run.dataset.target_name)}'s units.")
    else:
        c2.metric("Accuracy", summary.accuracy_spread, help="Mean ± standard deviation of test accuracy across models.")
    c3.metric(f"Top-{summary.k} agreement", fmt.percent(head.between[metric]),
              help="Feature agreement@k (Krishna et al. 2022), averaged over rows and pairs of models.")
    c4.metric("Do they differ?", core.VERDICT_LABELS[verdict.outcome] if verdict else "not tested",
              delta=f"{fmt.points(verdict.difference.estimate)} like with like" if verdict else None,
              delta_color="off",
              help="Each model is explained on two independent halves of the explainer's samples: two models "
                   "across the halves against one model across them, so the explainer's noise is on both sides. "
                   f"Differ: the 95% interval of the difference lies below -{fmt.points(core.MARGIN, signed=False)}; "
                   "no detectable difference: above it.")
    c5.metric("Prediction ambiguity", fmt.percent(ev.multiplicity.ambiguity),
              help=(f"Share of test rows on which some model's prediction lies more than δ = "
                    f"{fmt.units(summary.delta)} from model 0's. " + ev.multiplicity.note) if summary.regression else
              ("Share of test rows on which at least one model predicts differently from model 0 "
                   "(Marx, Calmon & Ustun 2020). " + ev.multiplicity.note))

    st.subheader("Equal accuracy, different logic")
    if summary.pairs.empty:
        st.info(f"No two models are {summary.tolerance_text}.")
    else:
        pair = summary.pairs.iloc[0]
        a, b = int(pair.model_a), int(pair.model_b)
        quality = ((f"(RMSE {summary.quality(pair.accuracy_a)})", f"({summary.quality(pair.accuracy_b)})")
                   if summary.regression else
                   (f"({fmt.percent(pair.accuracy_a, 1)} accurate)", f"({fmt.percent(pair.accuracy_b, 1)})"))
        st.markdown(
            f"**Model {a}** {quality[0]} and **model {b}** {quality[1]} are equally accurate, yet their top-{summary.k} "
            f"{core.METHODS[summary.headline_method].label} features agree on only "
            f"**{fmt.percent(pair.agreement)}** of them on average. " + PAIR_READING[verdict.outcome if verdict else None]
        )
        _state.show_chart(charts.pair_importance(head.importance, a, b, list(comp.run.dataset.feature_names)))
        st.caption(f"{len(summary.pairs)} pairs of models are {summary.tolerance_text}; "
                   "see **Agreement** for all of them.")
    if summary.regression:
        ranges = ev.prediction_range
        order = np.argsort(-ranges, kind="stable")[:5]
        ds = comp.run.dataset
        st.subheader("Where the predictions lie furthest apart")
        st.caption(f"The test rows to look at first: the {len(order)} where the lowest and the highest model's "
                   f"predictions of {_state.escape_md(ds.target_name)} differ most (typical row: "
                   f"{fmt.units(float(np.median(ranges)))}).")
        st.dataframe(pd.DataFrame({
            "row": ev.rows[order], "actual": ds.y[ev.rows[order]],
            "lowest model": ev.predictions[:, order].min(axis=0), "highest model": ev.predictions[:, order].max(axis=0),
            "range": ranges[order]}), hide_index=True, width="stretch",
            column_config={c: st.column_config.NumberColumn(format="%.4g")
                           for c in ("actual", "lowest model", "highest model", "range")})
