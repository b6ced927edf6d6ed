"""Present: the finding as a short story for a room, one step at a time (the story itself comes from core.story)."""
import streamlit as st

from core.export import charts
from pages import _state

# Large type for the room. A keyed container carries the CSS class st-key-<key>, so the rule reaches
# this page's story text and nothing else.
LARGE_TYPE = "<style>.st-key-story p, .st-key-story li {font-size: 1.6rem; line-height: 1.45}</style>"


def move(by: int, n_steps: int) -> None:
    """Button callback: runs before the page, so the step drawn is already the new one."""
    st.session_state[_state.STEP] = min(max(st.session_state.get(_state.STEP, 0) + by, 0), n_steps - 1)


def indicator(titles: list[str], current: int) -> str:
    """'Step 3 of 6' and every step's title, the current one in bold."""
    parts = [f"**{i + 1}. {title}**" if i == current else f":gray[{i + 1}. {title}]" for i, title in enumerate(titles)]
    return f"Step {current + 1} of {len(titles)} · " + " · ".join(parts)


comp = _state.current()
if comp is None:
    st.title("Present")
    _state.require_comparison()
else:
    summary = _state.current_summary()
    steps = _state.story(comp, st.session_state[_state.COMPARISON_KEY], summary.k, summary.group_threshold)
    current = min(st.session_state.get(_state.STEP, 0), len(steps) - 1)
    st.session_state[_state.STEP] = current
    step = steps[current]

    with st.container(horizontal=True, vertical_alignment="center"):
        st.markdown(indicator([_state.escape_md(s.title) for s in steps], current), width="stretch")
        st.button("Back", key="present_back", icon=":material/arrow_back:", shortcut="Left",
                  disabled=current == 0, on_click=move, args=(-1, len(steps)))
        st.button("Next", key="present_next", icon=":material/arrow_forward:", icon_position="right",
                  shortcut="Right", type="primary", disabled=current == len(steps) - 1,
                  on_click=move, args=(1, len(steps)))

    st.html(LARGE_TYPE)
    with st.container(key="story"):
        st.title(step.title, anchor=False)
        for sentence in step.text:
            st.markdown(_state.escape_md(sentence))
        if step.points:
            st.markdown("\n".join(f"- {_state.escape_md(point)}" for point in step.points))
    chart = charts.story_chart(step)
    if chart is not None:  # its own large type and size: Streamlit's theme would shrink the labels
        st.altair_chart(chart, theme=None, width="content")
