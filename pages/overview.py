"""Overview: the finding in plain words, and the most striking pair of models."""
import streamlit as st

import core
from core import charts
from core.agreement import global_importance
from pages import _state

st.title("Overview")
comp = _state.require_comparison()
if comp is not None:
    summary = _state.current_summary()
    ev, head = comp.evaluation, summary.by_method[summary.headline_method]
    st.markdown(f"### {summary.headline}")
    for note in comp.run.dataset.notes:
        st.caption(f"Data note: {_state.escape_md(note)}")
    acc = ev.accuracy
    metric = core.HEADLINE_METRIC
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Models", comp.run.n_models)
    c2.metric("Accuracy", f"{100 * acc.mean():.1f}% ± {100 * acc.std(ddof=1):.1f}" if len(acc) > 1
              else f"{100 * acc.mean():.1f}%", help="Mean ± standard deviation of test accuracy across models.")
    c3.metric(f"Top-{summary.k} agreement", f"{100 * head.between[metric]:.0f}%",
              help="Feature agreement@k (Krishna et al. 2022), averaged over rows and pairs of models.")
    floor = head.noise_floor[metric]
    c4.metric("Explainer noise floor", f"{100 * floor:.0f}%" if floor == floor else "n/a",
              help="The same model explained twice with different explainer seeds: agreement below this "
                   "cannot be told apart from explainer noise.")
    c5.metric("Prediction ambiguity", f"{100 * ev.multiplicity.ambiguity:.0f}%",
              help="Share of test rows on which at least one model predicts differently from model 0 "
                   "(Marx, Calmon & Ustun 2020). " + ev.multiplicity.note)

    st.subheader("Equal accuracy, different logic")
    if summary.pairs.empty:
        st.info(f"No two models are within {100 * summary.tolerance:.0f} accuracy point of each other.")
    else:
        pair = summary.pairs.iloc[0]
        a, b = int(pair.model_a), int(pair.model_b)
        st.markdown(
            f"**Model {a}** ({100 * pair.accuracy_a:.1f}% accurate) and **model {b}** "
            f"({100 * pair.accuracy_b:.1f}%) are equally accurate, yet their top-{summary.k} "
            f"{core.METHODS[summary.headline_method].label} features agree on only "
            f"**{100 * pair.agreement:.0f}%** of them on average"
            + (f" (explainer noise floor: {100 * floor:.0f}%)." if floor == floor else ".")
        )
        values = comp.explanation.by_method[summary.headline_method].values
        _state.show_chart(charts.pair_importance(global_importance(values), a, b,
                                               list(comp.run.dataset.feature_names)))
        st.caption(f"{len(summary.pairs)} pairs of models are within {100 * summary.tolerance:.0f} accuracy point; "
                   "see **Agreement** for all of them.")
