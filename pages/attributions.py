"""Attributions: global importance per model, a row explorer with a what-if, digit pictures."""
import numpy as np
import pandas as pd
import streamlit as st

import core
from core.export import charts
from core import format as fmt
from pages import _state

SPLIT_COLOUR = "background-color: #fde0dc"  # models that part from the majority


def edit_inputs(features: tuple[core.Feature, ...], original: np.ndarray, row: int) -> np.ndarray:
    """One input per feature, starting from the row's values, within the data's range; the edited row.
    The inputs edit a copy: the dataset itself is never written to."""
    x = original[None].copy()
    columns = st.columns(4)
    for i, f in enumerate(features):
        key = _state.whatif_key(row, f.columns[0])
        label = _state.escape_md(f.name)
        with columns[i % 4]:
            if f.categorical:
                current = int(np.argmax(original[list(f.columns)]))
                value = st.selectbox(label, range(len(f.categories)), index=current, key=key,
                                     format_func=f.categories.__getitem__)
            else:
                value = st.number_input(label, min_value=f.low, max_value=f.high, value=float(original[f.columns[0]]),
                                        step=f.step, format=f"%.{f.decimals}f", key=key,
                                        help=f"In the data: {f.low:.{f.decimals}f} to {f.high:.{f.decimals}f}.")
        x = core.set_value(x, f, value)
    return x[0]


def reset(features: tuple[core.Feature, ...], row: int) -> None:
    """Back to the row as it is in the data: the inputs drop their edits and start from its values again."""
    for f in features:
        st.session_state.pop(_state.whatif_key(row, f.columns[0]), None)
    st.session_state.pop(_state.WHATIF_SHAP, None)


def what_if_section(comp: core.Comparison, key: str, row: int) -> None:
    ds, features = comp.run.dataset, _state.current_features()
    original = ds.X[row]
    with st.expander(f"Values of row {row} (edit any of them)", expanded=len(features) <= 12):
        x = edit_inputs(features, original, row)
        st.button("Reset to the original row", key="whatif_reset", on_click=reset, args=(features, row),
                  icon=":material/restart_alt:")
    stored_target = core.what_if_target(comp, row)
    target = stored_target
    if ds.n_classes > 2 and not ds.regression:
        target = st.columns(3)[0].selectbox("Reasons for the probability of", range(ds.n_classes), index=stored_target,
                                            format_func=ds.class_names.__getitem__, key=f"whatif_target_{row}")
    values = tuple(map(float, x))
    try:
        result = _state.what_if(comp, key, row, values, target)
    except core.ConfigError as exc:
        st.error(_state.escape_md(exc))
        return
    for note in result.notes:
        st.caption(_state.escape_md(note))
    changed = core.what_if_changes(result, features)
    st.caption(("Changed: " + "; ".join(map(_state.escape_md, changed))) if changed
               else "No value changed yet: the models answer as for the row in the data.")
    if ds.regression:
        predicted, name = result.proba[:, 0], _state.escape_md(ds.target_name)
        span = f"from {fmt.units(predicted.min())} to {fmt.units(predicted.max())}"
        if result.split:
            st.warning(f"The models' predictions of {name} range {span}: {int(result.departs.sum())} of them lie "
                       f"more than δ = {fmt.units(result.delta)} from the median ({fmt.units(np.median(predicted))}), "
                       "highlighted below.", icon=":material/call_split:")
        else:
            st.success(f"All {len(predicted)} models predict {name} within δ = {fmt.units(result.delta)} of their "
                       f"median: {span}.", icon=":material/check_circle:")
    else:
        votes = fmt.votes(result.votes, tuple(map(_state.escape_md, ds.class_names)))
        if result.split:
            st.warning(f"The models split: {votes}. Trained the same way on the same data, they answer differently.",
                       icon=":material/call_split:")
        else:
            st.success(f"All {len(result.predicted)} models predict "
                       f"**{_state.escape_md(ds.class_names[result.votes[0][0]])}**.", icon=":material/check_circle:")
        _state.show_chart(charts.class_probabilities(result.proba, ds.class_names))

    methods = dict(result.attributions)
    shap_key = (row, values, target)
    if st.button("Explain the edited row with KernelSHAP", key="whatif_shap", icon=":material/calculate:"):
        with st.spinner("Running KernelSHAP on every model…"):
            _state.kernel_shap_row(comp, key, row, values, target)
        st.session_state[_state.WHATIF_SHAP] = shap_key
        st.session_state["whatif_method"] = "kernel_shap"
    if st.session_state.get(_state.WHATIF_SHAP) == shap_key:
        methods["kernel_shap"] = _state.kernel_shap_row(comp, key, row, values, target)
    if not methods:
        st.caption("Press the button for each model's reasons (this model family has no instant method).")
        st.dataframe(styled(core.what_if_table(result, ds.class_names, ds.feature_names)), hide_index=True)
        return
    if st.session_state.get("whatif_method") not in methods:  # e.g. KernelSHAP of a row since edited again
        st.session_state.pop("whatif_method", None)
    method = st.radio("Reasons from", list(methods), format_func=lambda m: core.METHODS[m].label, horizontal=True,
                      key="whatif_method")
    label = core.METHODS[method].label
    explained = (f"predicted {_state.escape_md(ds.target_name)}" if ds.regression else
                 f"probability of {_state.escape_md(ds.class_names[target])}")
    st.caption(f"Top reasons: the {core.TOP_REASONS} features with the largest {label} attribution for the "
               f"{explained}; ↑ raises it, ↓ lowers it.")
    table = core.what_if_table(result, ds.class_names, ds.feature_names, methods[method])
    st.dataframe(styled(table), hide_index=True, width="stretch",
                 column_config={"top reasons": st.column_config.TextColumn(width="large")})
    _state.show_chart(charts.row_attributions(methods[method], list(ds.feature_names),
                                              title=f"{label}, edited row"))


def styled(table: pd.DataFrame):
    """The model table with the models that part from the majority shaded."""
    flag = next(c for c in table.columns if c.startswith(("differs from most models", "departs from the median")))
    shown = ({"prediction": "{:.4g}", "before the edit": "{:.4g}"} if flag.startswith("departs") else
             {"probability": "{:.0%}"})
    return table.style.format(shown).apply(lambda line: [SPLIT_COLOUR if line[flag] else ""] * len(line), axis=1)

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
        format_func=(lambda r: f"row {r} · actual {fmt.units(ds.y[r])}") if ds.regression else
        (lambda r: f"row {r} · true class {ds.class_names[ds.y[r]]}"),
    )
    st.session_state[_state.ROW] = row
    i = rows.index(row)
    if ds.regression:
        target = f"higher {ds.target_name}"
        st.markdown(f"Explaining the predicted **{_state.escape_md(ds.target_name)}**. Predictions: " + ", ".join(
            f"model {m}: **{fmt.units(p)}**" for m, p in enumerate(preds[:, i])))
    else:
        target = ds.class_names[ex.target_class[i]]
        predicted = [_state.escape_md(ds.class_names[c]) for c in preds[:, i]]
        st.markdown(f"Explaining the probability of class **{_state.escape_md(target)}**. Predictions: " + ", ".join(
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

    st.subheader("What if?")
    st.caption("Change this row's values and watch every model answer at once. Only this view changes: "
               "the data stays as it is.")
    if comp.run.bank is None:
        st.info("What-if needs the trained models, and this comparison was loaded from a bundle, which holds "
                "none. Train it on **Setup** in this session (the same settings give the same numbers) to edit "
                "a row.")
    else:
        what_if_section(comp, st.session_state[_state.COMPARISON_KEY], int(row))
