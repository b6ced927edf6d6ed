"""Dependence: how each model's answer moves with one feature, the band the seeds span, and the attributions."""
import numpy as np
import streamlit as st

import core
from core.export import charts
from core import format as fmt
from pages import _state

st.title("Dependence")
comp = _state.require_comparison()
if comp is not None:
    ds, ex, key = comp.run.dataset, comp.explanation, st.session_state[_state.COMPARISON_KEY]
    features = _state.current_features()
    summary = _state.current_summary()
    # Start from the feature the headline method finds most important across models.
    importance = summary.by_method[summary.headline_method].importance.mean(axis=0)
    first = int(np.argmax([importance[list(f.columns)].sum() for f in features]))
    c1, c2 = st.columns(2)
    feature = c1.selectbox("Feature", features, index=first, format_func=lambda f: f.name, key="dep_feature")
    target = core.dependence_target(comp)
    if ds.n_classes > 2 and not ds.regression:
        target = c2.selectbox("Probability of", range(ds.n_classes), index=target,
                              format_func=ds.class_names.__getitem__, key="dep_class")
    class_name = ds.class_names[target]
    column = feature.columns[0]

    st.subheader("Partial dependence of every model")
    if comp.run.bank is None:
        st.info("Partial dependence needs the trained models, and this comparison was loaded from a bundle, which "
                "holds none. Train it on **Setup** in this session (the same settings give the same numbers); the "
                "attributions below come from the bundle.")
    else:
        dep = _state.dependence(comp, key, column, target)
        widest = dep.widest
        c1, c2, c3 = st.columns(3)
        name, shown_class = _state.escape_md(feature.name), _state.escape_md(class_name)
        show = fmt.units if ds.regression else fmt.percent
        answer = f"prediction of {shown_class}" if ds.regression else f"probability of {shown_class}"
        c1.metric("Largest gap between models", show(dep.gap[widest]),
                  help=f"The most two models differ in their mean {answer} at any value shown"
                       + (" (in the target's units)." if ds.regression else " (percentage points)."))
        c2.metric(f"Gap largest at {name}", _state.escape_md(dep.labels[widest]))
        effect = dep.effect
        c3.metric("Effect of the feature", f"{show(effect.min())} to {show(effect.max())}",
                  help=f"How far each model's curve moves over the values shown, from the model it moves least "
                       f"to the one it moves most ({answer}).")
        _state.show_chart(charts.partial_dependence(dep, class_name=class_name, regression=ds.regression))
        st.caption(f"For each value of {name}, every one of the {len(dep.rows)} test rows "
                   "is given that value and each model's predictions are averaged (partial dependence). One line "
                   "per model; the shaded band spans them"
                   + (", darker between the 10th and 90th percentile of models." if len(dep.curves) >= 5 else ".")
                   + " Where the band is wide, equally accurate models disagree about this feature's effect.")

        st.subheader("One row, every model")
        rows = list(ex.rows)
        current = st.session_state.get(_state.ROW, rows[0])
        row = st.selectbox("Test row", rows, index=rows.index(current) if current in rows else 0, key="dep_row",
                           format_func=(lambda r: f"row {r} · actual {fmt.units(ds.y[r])}") if ds.regression else
                           (lambda r: f"row {r} · true class {ds.class_names[ds.y[r]]}"))
        st.session_state[_state.ROW] = row
        _state.show_chart(charts.ice_curves(dep, _state.ice(comp, key, column, target, int(row)), class_name=class_name,
                                            regression=ds.regression))
        st.caption(f"Individual conditional expectation: this row's {'prediction' if ds.regression else 'probability'} "
                   "as only this feature changes, one "
                   "line per model; the dots are each model's answer for the row as it is, at its own value "
                   "(dashed).")

    st.subheader("Attribution against feature value")
    method = _state.method_picker(comp)
    scatter = _state.attribution_scatter(comp, key, column, method)
    label = core.METHODS[method].label
    _state.show_chart(charts.attribution_scatter(scatter, feature_name=feature.name, method_label=label,
                                                 categorical=feature.categorical))
    st.caption(f"Each dot is one explained row for one model (SHAP dependence plot): how much "
               f"{_state.escape_md(feature.name)} pushed that model's "
               f"{'prediction' if ds.regression else 'probability'} up (above 0) or down, at the row's "
               "value. Dots of different colours at the same value part where the models' reasons differ.")
