"""SeedScope: do equally accurate models decide for the same reasons? Entry page and navigation."""
from pathlib import Path

import streamlit as st

# A file, not ":material/insights:": the browser fetches a material favicon from fonts.gstatic.com, and
# SeedScope is shown in rooms with no internet (material icons on the pages come from a bundled font).
ICON = Path(__file__).parent / "assets" / "seedscope.svg"
st.set_page_config(page_title="SeedScope", page_icon=ICON, layout="wide")

PAGES = [
    st.Page("pages/setup.py", title="Setup", icon=":material/tune:", default=True),
    st.Page("pages/overview.py", title="Overview", icon=":material/insights:"),
    st.Page("pages/present.py", title="Present", icon=":material/slideshow:"),
    st.Page("pages/metrics.py", title="Metrics", icon=":material/leaderboard:"),
    st.Page("pages/attributions.py", title="Attributions", icon=":material/bar_chart:"),
    st.Page("pages/dependence.py", title="Dependence", icon=":material/show_chart:"),
    st.Page("pages/agreement.py", title="Agreement", icon=":material/handshake:"),
    st.Page("pages/cohorts.py", title="Cohorts", icon=":material/filter_alt:"),
    st.Page("pages/report.py", title="Report", icon=":material/description:"),
    st.Page("pages/compare_runs.py", title="Compare runs", icon=":material/compare_arrows:"),
]

# Navigation first: until a session has run st.navigation, Streamlit lists the pages/ directory itself in
# the sidebar (_state.py included), and the first import of the libraries below takes seconds.
page = st.navigation(PAGES)

from pages import _state  # noqa: E402  (after st.navigation, see above)

# The libraries load in the background, a second after the first script run starts (see _state.warm_up):
# importing them at once held up the first page's own drawing.
_state.warm_up()
_state.keep_setup_widgets()
# Work of this session that ended since the last run (a click elsewhere never stops it): its result becomes
# the page's; a comparison finished while Setup is open opens the overview, as when Setup watched it end.
if _state.take_finished() == "comparison" and page.title == "Setup":
    _state.current_summary()
    st.switch_page("pages/overview.py")
with st.sidebar:
    st.markdown("### SeedScope")
    st.caption("Same code, same data, same accuracy: same reasons?")
    comp = _state.current()
    if comp is None:
        st.caption("No comparison yet.")
    else:
        name, run_config = comp.run.dataset.name, comp.run.config
        st.caption(
            f"**{_state.escape_md(name)}** · {run_config.n_models} × {comp.run.config.family} · "
            f"varying {', '.join(sorted(run_config.vary)) or 'nothing'} · seed {run_config.seed}"
        )
    _state.sidebar_status()

_state.show_news()
page.run()
