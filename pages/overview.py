"""Overview: the finding in plain words, and the most striking pair of models."""
import streamlit as st

import core
from core.export import charts
from core import format as fmt
from pages import _state

st.title("Overview")
comp = _state.require_comparison()
if comp is not None:
    summary = _state.current_summary()
    ev, head = comp.evaluation, summary.by_method[summary.headline_method]
    st.markdown(f"### {summary.headline}")
    st.caption(summary.grouping)
    for note in comp.run.dataset.notes:
        st.caption(f"Data note: {_state.escape_md(note)}")
    metric = core.HEADLINE_METRIC
    floor = head.noise_floor[metric]
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Models", comp.run.n_models)
    c2.metric("Accuracy", summary.accuracy_spread, help="Mean ± standard deviation of test accuracy across models.")
    c3.metric(f"Top-{summary.k} agreement", fmt.percent(head.between[metric]),
              help="Feature agreement@k (Krishna et al. 2022), averaged over rows and pairs of models.")
    c4.metric("Explainer noise floor", fmt.percent(floor),
              help="The same model explained twice with different explainer seeds: agreement below this "
                   "cannot be told apart from explainer noise.")
    c5.metric("Prediction ambiguity", fmt.percent(ev.multiplicity.ambiguity),
              help="Share of test rows on which at least one model predicts differently from model 0 "
                   "(Marx, Calmon & Ustun 2020). " + ev.multiplicity.note)

    st.subheader("Equal accuracy, different logic")
    if summary.pairs.empty:
        st.info(f"No two models are within {fmt.percent(summary.tolerance)} accuracy of each other.")
    else:
        pair = summary.pairs.iloc[0]
        a, b = int(pair.model_a), int(pair.model_b)
        st.markdown(
            f"**Model {a}** ({fmt.percent(pair.accuracy_a, 1)} accurate) and **model {b}** "
            f"({fmt.percent(pair.accuracy_b, 1)}) are equally accurate, yet their top-{summary.k} "
            f"{core.METHODS[summary.headline_method].label} features agree on only "
            f"**{fmt.percent(pair.agreement)}** of them on average"
            + (f" (explainer noise floor: {fmt.percent(floor)})." if floor == floor else ".")
        )
        _state.show_chart(charts.pair_importance(head.importance, a, b, list(comp.run.dataset.feature_names)))
        st.caption(f"{len(summary.pairs)} pairs of models are within {fmt.percent(summary.tolerance)} accuracy; "
                   "see **Agreement** for all of them.")
