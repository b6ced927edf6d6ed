"""Compare runs: the current comparison (or a bundle) against a saved bundle on the same features."""
import hashlib

import streamlit as st

import core
from core import format as fmt
from pages import _state

st.title("Compare runs")
st.caption("Two runs on the same features (two library versions, data versions, hyperparameters or model "
           "families): do their models agree with each other as well as among themselves?")


def bundle_input(label: str, key: str):
    """A loaded bundle from an uploader, or None; its error shown."""
    upload = st.file_uploader(label, type=["zip"], key=key)
    if upload is None:
        return None, None
    content = upload.getvalue()
    try:
        with _state.opening(_state.escape_md(upload.name)):
            return _state.load_bundle("bundle:" + hashlib.sha256(content).hexdigest(), content), upload.name
    except core.BundleError as exc:
        st.error(f"{_state.escape_md(upload.name)}: {_state.escape_md(exc)}")
        return None, None


c1, c2 = st.columns(2)
with c1:
    a, name_a = bundle_input("Run A (leave empty to use the current comparison)", "diff_a")
    if a is None and _state.current() is not None:
        a, name_a = _state.current(), "the current comparison"
with c2:
    b, name_b = bundle_input("Run B (.zip bundle)", "diff_b")
if a is None or b is None:
    st.info("Choose run B (and run A, unless a comparison is open) to compare them.")
else:
    try:
        d = core.diff_runs(a, b)
    except core.ConfigError as exc:
        st.error(_state.escape_md(exc))
    else:
        st.markdown(f"**A**: {_state.escape_md(name_a)} · **B**: {_state.escape_md(name_b)} · "
                    f"{core.METHODS[d.method].label}, k = {d.k}, compared by {d.level}")
        m1, m2, m3, m4 = st.columns(4)
        quality, show = ("RMSE", fmt.units) if d.regression else ("Accuracy", lambda v: fmt.percent(v, 1))
        m1.metric(f"{quality} A", show(d.accuracy[0].mean()))
        m2.metric(f"{quality} B", show(d.accuracy[1].mean()))
        m3.metric("Agreement within A / B", f"{fmt.percent(d.within[0])} / {fmt.percent(d.within[1])}")
        m4.metric("Agreement between A and B", fmt.percent(d.between))
        st.subheader("Features whose rank moved most")
        st.dataframe(d.rank_moves.head(15), hide_index=True, width="stretch")
        st.subheader("Rows whose majority prediction changed")
        if d.changed_rows.empty:
            st.caption("None of the rows explained in both runs.")
        else:
            st.dataframe(d.changed_rows, hide_index=True, width="stretch")
        st.subheader("Settings")
        st.dataframe(d.settings.style.apply(
            lambda row: ["background-color: #fff3cd" if row.differs else ""] * len(row), axis=1),
            hide_index=True, width="stretch")
        st.download_button("Download this comparison of runs (HTML)", core.render_diff_html(d, (name_a, name_b)),
                           file_name="seedscope_diff.html", mime="text/html", key="download_diff")
