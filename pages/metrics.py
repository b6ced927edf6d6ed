"""Metrics: per-model scores, accuracy spread, training curves, prediction disagreement."""
import numpy as np
import pandas as pd
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
    pct = {c: st.column_config.NumberColumn(c.replace("_", " ").replace("r2", "R²").upper()
                                            if ev.regression else c.replace("_", " "), format="%.4g" if ev.regression else "%.3f")
           for c in ev.scores.summary.columns}
    st.dataframe(ev.scores.per_model, column_config=pct, width="stretch")
    st.caption("Across models")
    st.dataframe(ev.scores.summary, column_config=pct, width="stretch")
    _state.show_chart(charts.accuracy_strip(ev.scores.per_model))
    if ev.regression:
        ds = comp.run.dataset
        st.subheader("Predicted against actual")
        st.caption(f"On the {len(ev.rows)} test rows every model saw: the median model's prediction of "
                   f"{_state.escape_md(ds.target_name)} (dot) and the band from the lowest to the highest model's "
                   "(line); beside it, the residuals.")
        _state.show_chart(charts.predicted_against_actual(ds.y[ev.rows], ev.predictions, ds.target_name))
    if comp.run.history is not None:
        st.subheader("Training curves per seed")
        _state.show_chart(charts.training_curves(comp.run.history.train_loss, comp.run.history.val_accuracy,
                                                 regression=ev.regression))

    st.subheader("Do the models predict the same?")
    m = ev.multiplicity
    if ev.regression:
        spread = ev.prediction_range
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Prediction range, typical row", core.format.units(float(np.median(spread))),
                  help="Median over test rows of the highest minus the lowest model's prediction, in the target's "
                       "units: the viable prediction range (Watson-Daniels et al. 2022) of these models.")
        c2.metric(f"Ambiguity at δ = {core.format.units(m.delta)}", f"{100 * m.ambiguity:.1f}%",
                  help="Rows on which some model's prediction lies more than δ from model 0's.")
        c3.metric("Discrepancy", f"{100 * m.discrepancy:.1f}%",
                  help="Most rows on which a single model lies more than δ from model 0.")
        c4.metric("Rows compared", m.n_rows)
        st.caption(_state.escape_md(m.note))
        order = np.argsort(-spread, kind="stable")[:10]
        st.markdown("**The rows where the models' predictions lie furthest apart** (look at these first)")
        st.dataframe(pd.DataFrame({
            "row": ev.rows[order], "actual": comp.run.dataset.y[ev.rows[order]],
            "lowest": ev.predictions[:, order].min(axis=0), "median": np.median(ev.predictions[:, order], axis=0),
            "highest": ev.predictions[:, order].max(axis=0), "range": spread[order],
            "std": ev.predictions[:, order].std(axis=0)}), hide_index=True, width="stretch",
            column_config={c: st.column_config.NumberColumn(format="%.4g")
                           for c in ("actual", "lowest", "median", "highest", "range", "std")})
        title = f"Share of test rows on which two models predict more than {core.format.units(m.delta)} apart"
    else:
        c1, c2, c3 = st.columns(3)
        c1.metric("Ambiguity", f"{100 * m.ambiguity:.1f}%", help="Rows on which at least one model disagrees with model 0.")
        c2.metric("Discrepancy", f"{100 * m.discrepancy:.1f}%", help="Most rows on which a single model disagrees with model 0.")
        c3.metric("Rows compared", m.n_rows)
        st.caption(m.note + " Marx, Calmon & Ustun (2020), Predictive Multiplicity in Classification.")
        title = "Share of test rows on which two models predict differently"
    _state.show_chart(charts.disagreement_heatmap(m.disagreement, title=title))
