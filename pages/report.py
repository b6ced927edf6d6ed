"""Report: download the comparison as an offline HTML report and a data bundle, or load a saved bundle."""
import hashlib

import streamlit as st

import core
from pages import _state

st.title("Report")
st.caption("Take the comparison to a meeting or a review: the HTML report opens in any browser, offline; "
           "the data bundle (.zip of JSON, CSV and NPZ) loads back here without retraining.")

comp = _state.current()
export, load = st.tabs(["Export this comparison", "Load a saved comparison"])
with export:
    if comp is None:
        st.info("No comparison yet: run one on the **Setup** page, or load a saved bundle in the next tab.")
    else:
        summary, key = _state.current_summary(), st.session_state[_state.COMPARISON_KEY]
        cohort = _state.current_cohort()
        cohort_json = cohort.to_json() if cohort is not None else None
        stem = f"seedscope_{_state.file_stem(comp.run.dataset.name)}_{comp.run.n_models}models"
        st.markdown(f"**{_state.escape_md(summary.headline)}**")
        c1, c2 = st.columns(2)
        view = (comp, key, summary.k, summary.group_threshold, cohort_json)
        c1.download_button("Download the HTML report", _state.report_html(*view),
                           file_name=f"{stem}.html", mime="text/html", type="primary", key="download_html")
        try:
            bundle = _state.bundle(*view)
        except core.ConfigError as exc:  # too large to load back: the HTML report above still holds everything
            c2.error(str(exc))
        else:
            c2.download_button("Download the data bundle (.zip)", bundle,
                               file_name=f"{stem}.zip", mime="application/zip", key="download_bundle")
        st.caption(f"The report shows agreement at k = {summary.k} and groups at |rho| >= {summary.group_threshold:.2f}; "
                   "change them on the Agreement page first "
                   "if you want another.")
        if cohort is not None:
            st.caption(f"Both include the cohort defined on the Cohorts page: {_state.escape_md(cohort.describe(comp.run.dataset.regression))}")
with load:
    upload = st.file_uploader("SeedScope bundle (.zip)", type=["zip"], key="bundle_upload")
    if upload is not None:
        content = upload.getvalue()
        key = "bundle:" + hashlib.sha256(content).hexdigest()
        try:
            with _state.opening(_state.escape_md(upload.name)):
                loaded, cohort = _state.load_bundle_and_cohort(key, content)
        except core.BundleError as exc:
            st.error(f"{_state.escape_md(upload.name)}: {_state.escape_md(exc)}")
        else:
            if st.session_state.get(_state.COMPARISON_KEY) != key:  # a new bundle: show it everywhere
                _state.adopt(loaded, key, cohort=cohort)
                st.rerun()
            st.success(f"Loaded {_state.escape_md(upload.name)}: {loaded.run.n_models} models on "
                       f"{_state.escape_md(loaded.run.dataset.name)}. Every page now shows it; models themselves "
                       "are not in the bundle, so nothing retrains.")
            if cohort is not None:
                st.caption(f"With its cohort, shown on the Cohorts page: {_state.escape_md(cohort.describe(loaded.run.dataset.regression))}")
            st.page_link("pages/overview.py", label="Open the overview", icon=":material/insights:")
