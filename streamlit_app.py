"""The app's frame: page setup, navigation and the shared filters in the sidebar. Views live in dashboard/views/.

This file is both the app's server and its page script. `streamlit run streamlit_app.py` imports it and finds `app`,
an st.App that serves this same file as the page script behind dashboard/server.py's guard (with sign-in
configured: downloads and metrics only for a signed-in session; an unsafe cookie secret stops the start). Each page
run executes the file as __main__, which draws the frame."""

from pathlib import Path

import streamlit as st

from dashboard import server

VIEWS = Path(__file__).resolve().parent / "dashboard" / "views"


def view(name: str, title: str, icon: str, hidden: bool = False, url_path: str = "", default: bool = False) -> st.Page:
    return st.Page(
        VIEWS / f"{name}.py",
        title=title,
        icon=f":material/{icon}:",
        url_path=url_path or name.replace("_", "-"),
        default=default,
        visibility="hidden" if hidden else "visible",
    )


# On a narrow window (a laptop at 800 px with the sidebar open leaves the page about 450 px): columns wrap onto
# rows of their own instead of squeezing charts and tiles, and labels wrap instead of ending in "…".
NARROW_CSS = """<style>
@media (max-width: 1100px) {
  [data-testid="stHorizontalBlock"] { flex-wrap: wrap !important; row-gap: 0.5rem; }
  [data-testid="stHorizontalBlock"] > [data-testid="stColumn"] { min-width: min(100%, 340px) !important; }
  [data-testid="stMetricLabel"] *, [data-testid="stWidgetLabel"] *, [data-testid="stCaptionContainer"] * {
    white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  }
}
</style>"""


def main() -> None:
    # Imported here, not above: the server imports this file before Streamlit's runtime exists, and the views'
    # cached functions would each log "No runtime found" at that point.
    from dashboard import access, data, filters, presentation
    from dashboard.views.common import report_button

    # A local icon: a material-symbol page icon would be fetched from a font CDN, and the app makes no outside
    # requests.
    st.set_page_config(
        page_title="Ketamine outcomes", page_icon=str(VIEWS.parent / "assets" / "icon.png"), layout="wide"
    )
    st.html(NARROW_CSS)  # style only: applied to the page, no element drawn
    filters.page_setup()  # on a narrow window: the sidebar closed

    access.gate()
    presenting = presentation.active()
    # client-level views stay off the conference screen unless the link enables them: out of the menu, and a link
    # to one says why instead of showing it (presentation.refuse)
    hide_clients = presenting and not presentation.clients_enabled()
    clients = [
        view("client_timeline", "Client timeline", "person", hidden=hide_clients),
        view("my_cohort", "My cohort", "groups", hidden=hide_clients),
    ]
    # The overview is the default page, at the app's root (Streamlit serves a default page there and reserves it a
    # path, "home", that is never shown). /overview, the overview's own address, opens the root with the link's
    # parameters, so both addresses work and the menu marks the overview either way. The root is the one that does
    # not switch: it is every first visit (a switch runs the page twice, 0.2-0.3 s).
    overview = view("overview", "Overview", "dashboard", url_path="home", default=True)

    def to_the_root() -> None:
        st.switch_page(overview, query_params={k: st.query_params.get_all(k) for k in st.query_params})

    overview_address = st.Page(to_the_root, title="Overview", url_path="overview", visibility="hidden")
    pages = {
        "Outcomes": [
            overview,
            overview_address,
            view("rapid_onset", "Rapid onset", "bolt"),
            view("long_term", "Long-term", "timeline"),
            view("compare", "Compare cohorts", "compare_arrows"),
            view("clinicians_sites", "Clinicians and sites", "scatter_plot"),
            view("attrition", "Attrition", "trending_down"),
            *(clients if hide_clients else []),
        ],
        "Clients": [] if hide_clients else clients,
        "Manage": [view("data", "Data", "database")],
    }
    pages = {section: listed for section, listed in pages.items() if listed}
    current = st.navigation(pages, position="top" if presenting else "sidebar")
    if current is overview_address:
        current.run()  # on to the root at once: a sidebar drawn here would be thrown away by the switch
    if not presenting:
        data.dataset_switch()  # the clinic's database or the demo, per session
    data.ensure_current()  # never a figure from derived tables built under other settings
    state = filters.sidebar()
    if presenting:
        presentation.apply()
    else:
        presentation.toggle()
        report_button(state)
    if hide_clients and current in clients:
        presentation.refuse(current, overview)
    current.run()


if __name__ == "__main__":  # a page run
    main()
else:  # imported to serve the app
    server.refuse_to_start_if_unsafe()
    app = st.App(__file__, middleware=server.middleware(), lifespan=server.lifespan)
