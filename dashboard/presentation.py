"""Presentation mode for case conferences: no sidebar or controls, large type, the cohort as a subtitle, and
client-level views hidden unless explicitly enabled. Turned on by a toggle or a link (?present=1)."""

from __future__ import annotations

import streamlit as st

CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stToolbar"],
[data-testid="stExpander"], [data-testid="stDownloadButton"],
[data-testid="stElementToolbar"] {display: none !important;}
html {font-size: 125%;}
h1 {font-size: 2.6rem !important;}
</style>
"""
FONT_SIZE = 20  # plotly text size on a projector
# Why each client-level view (by its URL path) is not shown in presentation mode
CLIENT_VIEWS = {
    "client-timeline": "The client timeline is not shown in presentation mode: it shows one client's data.",
    "my-cohort": "My cohort is not shown in presentation mode: it lists individual clients.",
}


def active() -> bool:
    """True when the link or the toggle asks for presentation mode."""
    return st.query_params.get("present") == "1"


def clients_enabled() -> bool:
    """Client-level views stay hidden in presentation mode unless the link says ?clients=1."""
    return st.query_params.get("clients") == "1"


def refuse(page: st.Page, overview: st.Page) -> None:
    """In place of a client-level view in presentation mode: say why it is not shown, offer the overview, and stop
    (the page never runs). Not a switch to the overview: st.switch_page in mid-run drops the sidebar's values."""
    st.info(
        f"{CLIENT_VIEWS[page.url_path]} To show client-level views, add `&clients=1` to the link, or exit "
        "presentation mode.",
        icon=":material/visibility_off:",
    )
    params = {k: st.query_params.get_all(k) for k in st.query_params if k != "client"}  # still presenting
    st.page_link(overview, label="Open the overview", icon=":material/dashboard:", query_params=params)
    st.stop()


def apply() -> None:
    """Hide the chrome and enlarge the type; offer a way back."""
    st.markdown(CSS, unsafe_allow_html=True)
    if st.button("Exit presentation mode", icon=":material/close_fullscreen:", type="tertiary"):
        params = {k: st.query_params.get_all(k) for k in st.query_params if k not in ("present", "clients")}
        st.query_params.from_dict(params)
        st.session_state["f_present"] = False  # the switch is not drawn in this run, so it may be reset
        st.rerun()


def toggle() -> None:
    """The sidebar switch into presentation mode."""
    if st.sidebar.toggle(
        "Presentation mode",
        key="f_present",
        value=False,
        help="For case conferences: hides the sidebar and controls, enlarges the type, shows the "
        "filters as a subtitle and hides client-level views. Link: add ?present=1.",
    ):
        st.query_params["present"] = "1"
        st.rerun()


def style(fig):
    """A chart restyled for the projector (a copy; the chart functions stay pure): every text larger, axis ticks,
    legend, and the texts a chart sizes itself (numbers at risk, labels on points, notes under the plot) by the same
    factor as the page's type."""
    out = type(fig)(fig)
    out.update_layout(font={"size": FONT_SIZE}, legend={"font": {"size": FONT_SIZE}})
    out.update_xaxes(tickfont={"size": FONT_SIZE - 2})
    out.update_yaxes(tickfont={"size": FONT_SIZE - 2})
    for trace in out.data:
        size = getattr(getattr(trace, "textfont", None), "size", None)
        if isinstance(size, int | float):
            trace.textfont.size = round(size * SCALE)
    for note in out.layout.annotations:
        if note.font.size:
            note.font.size = round(note.font.size * SCALE)
        if note.yshift:  # the notes stacked under a plot keep clear of each other at the larger size
            note.yshift = round(note.yshift * SCALE)
    if out.layout.margin.b:
        out.layout.margin.b = round(out.layout.margin.b * SCALE)
    if out.layout.margin.t:
        out.layout.margin.t = round(out.layout.margin.t * SCALE)
    if out.layout.title.text:
        out.layout.title.font.size = round((out.layout.title.font.size or 14) * SCALE)
        out.layout.title.subtitle.font.size = round((out.layout.title.subtitle.font.size or 11) * SCALE)
    if out.layout.height:  # a chart that sets its height (a Kaplan–Meier curve over its numbers at risk) grows too
        out.layout.height = round(out.layout.height * SCALE)
    return out


SCALE = 1.4  # presentation text over the screen's (FONT_SIZE 20 over plotly's 14)
