"""Attributions: global importance per model, a row explorer, digit pictures."""
import pandas as pd
import streamlit as st

import core
from core import charts
from pages import _state

st.title("Attributions")
comp = _state.require_comparison()
if comp is not None:
    ds, ex = comp.run.dataset, comp.explanation
    names = list(ds.feature_names)
    method = _state.method_picker(comp)
    values = ex.by_method[method].values  # (model, row, feature)
    if ex.skipped:
        st.caption(f"Not available for {comp.run.config.family}: {', '.join(core.METHODS[m].label for m in ex.skipped)}.")

    st.subheader("Global importance per model")
    st.caption(f"Mean |attribution| over {len(ex.rows)} explained test rows; the 10 features most important overall.")
    importance = _state.current_summary().by_method[method].importance  # (model, feature)
    _state.show_chart(charts.importance_small_multiples(importance, names))
    if ds.image_shape is not None:
        _state.show_chart(charts.image_grid(core.as_images(importance, ds.image_shape),
                                          title="Mean |attribution| per pixel"))

    st.subheader("Row explorer")
    rows = list(ex.rows)
    preds = comp.predictions
    current = st.session_state.get(_state.ROW, rows[0])
    row = st.selectbox(
        "Test row", rows, index=rows.index(current) if current in rows else 0, key="row_select",
        format_func=lambda r: f"row {r} · true class {ds.class_names[ds.y[r]]}",
    )
    st.session_state[_state.ROW] = row
    i = rows.index(row)
    target = _state.escape_md(ds.class_names[ex.target_class[i]])
    predicted = [_state.escape_md(ds.class_names[c]) for c in preds[:, i]]
    st.markdown(f"Explaining the probability of class **{target}**. Predictions: " + ", ".join(
        f"model {m}: **{p}**" for m, p in enumerate(predicted)))
    by_method = {name: attr.values[:, i] for name, attr in ex.by_method.items()}
    columns = st.columns(min(3, len(by_method)))
    for col, (name, row_values) in zip(columns * 3, by_method.items()):
        with col:
            _state.show_chart(charts.row_attributions(row_values, names, title=core.METHODS[name].label))
    if ds.image_shape is not None:
        _state.show_chart(charts.image_grid(core.as_images(values[:, i], ds.image_shape),
                                          title=f"{core.METHODS[method].label}, row {row} (red: pushes towards {target})"))
    with st.expander("Raw attributions of this row"):
        st.dataframe(pd.DataFrame(values[:, i].T, index=names, columns=[charts.model_label(m) for m in range(len(values))]),
                     width="stretch")
