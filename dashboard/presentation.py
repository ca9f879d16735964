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


def active() -> bool:
    """True when the link or the toggle asks for presentation mode."""
    return st.query_params.get("present") == "1"


def clients_enabled() -> bool:
    """Client-level views stay hidden in presentation mode unless the link says ?clients=1."""
    return st.query_params.get("clients") == "1"


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
    """A chart restyled for the projector (a copy; the chart functions stay pure)."""
    out = type(fig)(fig)
    out.update_layout(font={"size": FONT_SIZE}, legend={"font": {"size": FONT_SIZE}})
    return out
