"""Metrics: per-model scores, accuracy spread, training curves, prediction disagreement."""
import streamlit as st

import core
from core.export import charts
from pages import _state

st.title("Metrics")
comp = _state.require_comparison()
if comp is not None:
    ev = comp.evaluation
    st.subheader("Per-model scores")
    if "split" in comp.run.config.vary:
        st.caption("The train/test split varies, so each model is scored on its own test rows.")
    pct = {c: st.column_config.NumberColumn(c.replace("_", " "), format="%.3f")
           for c in core.SCORES}
    st.dataframe(ev.scores.per_model, column_config=pct, width="stretch")
    st.caption("Across models")
    st.dataframe(ev.scores.summary, column_config=pct, width="stretch")
    _state.show_chart(charts.accuracy_strip(ev.scores.per_model))
    if comp.run.history is not None:
        st.subheader("Training curves per seed")
        _state.show_chart(charts.training_curves(comp.run.history.train_loss, comp.run.history.val_accuracy))

    st.subheader("Do the models predict the same?")
    m = ev.multiplicity
    c1, c2, c3 = st.columns(3)
    c1.metric("Ambiguity", f"{100 * m.ambiguity:.1f}%", help="Rows on which at least one model disagrees with model 0.")
    c2.metric("Discrepancy", f"{100 * m.discrepancy:.1f}%", help="Most rows on which a single model disagrees with model 0.")
    c3.metric("Rows compared", m.n_rows)
    st.caption(m.note + " Marx, Calmon & Ustun (2020), Predictive Multiplicity in Classification.")
    _state.show_chart(charts.disagreement_heatmap(
        m.disagreement, title="Share of test rows on which two models predict differently"))
