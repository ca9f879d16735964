"""Pieces every view shows: the frame's filters, the demo notice, charts with captions, tiles, downloads.

Text from the data is escaped where it meets markdown (dashboard/escape.py): `chart` and the tiles escape their plain
text arguments themselves; a chart's caption is markdown, so a view escapes the data it puts into one with `md`."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard import data, definitions, export, filters, presentation, privacy
from dashboard.escape import grid, md
from dashboard.settings import load


def page(title: str, question: str) -> filters.State:
    """Title, one-line question, demo notice and link notices; returns the sidebar's filter state."""
    state = filters.current()
    st.title(title)
    if presentation.active():
        st.markdown(
            f"**{md(state.instrument or 'No data')}** · {state.filters.describe(quote=md)} · rates over "
            f"{filters.RATES[state.rates].lower()}"
        )
    else:
        st.caption(question)
    counts_notice(state)
    dataset_notice()
    filters.show_notices(state)
    return state


def counts_notice(state: filters.State) -> None:
    """Say how the counts on the page are shown: rounded (the default, shareable) or exact (labelled)."""
    k = load().min_cell
    if state.exact:
        st.warning(
            "**Exact counts**, for use inside the clinic only: not for slides, screenshots or e-mail. Downloads "
            "are off while exact counts are shown; turn off *Exact counts* in the sidebar to share.",
            icon=":material/lock:",
        )
    else:
        st.caption(f"Counts are rounded to the nearest 5 and counts under {k} hidden; rates use the exact counts.")


def dataset_notice() -> None:
    """Say plainly when the numbers come from the synthetic demo database."""
    info = data.dataset_info()
    if info["kind"] == "demo":
        back = (
            " Switch *Show the demo data* off in the sidebar to see your clinic's."
            if data.demo_chosen()
            else " Import your clinic's anonymised exports on the **Data** page, or point `OUTCOMES_DB` at your "
            "database."
        )
        st.info("**Demo data.** Everything here is synthetic: no real clients." + back, icon=":material/science:")


def safety_note(instrument, si: pd.DataFrame, k: int) -> str:
    """Why the suicidal-ideation tile shows no figure: the true reason, not a guess."""
    name = md(instrument.name) if instrument is not None else "This instrument"
    if instrument is None or instrument.safety_item is None:
        return f"{name} has no safety item, so suicidal ideation is not shown for it (PHQ-9 has one: item 9)."
    n = si.iloc[0].n_with_safety_item if len(si) else 0
    if len(si) and pd.isna(n):
        return (
            f"Fewer than {k} clients in this cohort have {name} item answers (item {instrument.safety_item}, the "
            "safety item) at baseline, so the suicidal-ideation figure is hidden."
        )
    return (
        f"No {name} score in this cohort has its item answers: suicidal ideation is read from item "
        f"{instrument.safety_item}. Import scores with items (item1 … item{instrument.n_items}) to see it."
    )


def small_cells_notice(counts: list, k: int) -> None:
    """When a page's key counts are hidden as small cells: say why, how many clients the store has, what can be seen,
    and how to see smaller counts inside the clinic. Not in presentation mode (it names an exact count)."""
    if k <= 0 or presentation.active() or not any(pd.isna(c) for c in counts):
        return
    n = int(data.table_counts().iloc[0].n_clients)
    st.info(
        f"**Why figures are hidden.** A count under k = {k} is never shown (and other counts are rounded to "
        f"5), so that no client can be recognised from a figure; rates built on hidden counts are hidden too. This "
        f"database has {n:,} client{'s' if n != 1 else ''} in all, and fewer than {k} count in some figures here "
        "with these filters. You can see: the Data page's totals and import reports, each client's own timeline, "
        "and figures once enough clients count (widen the filters, or import more). Inside the clinic, an editor "
        f"can switch on *Exact counts* in the sidebar (counts from {k} up, not rounded), or lower k with "
        "`min_cell = 5` in a `[settings]` table of a TOML file named by `OUTCOMES_SETTINGS` (0 hides nothing); "
        "keep the default for anything shared.",
        icon=":material/visibility_off:",
    )


def no_data(state: filters.State) -> bool:
    """True (after explaining) when there is nothing to show for these filters."""
    if state.instrument is None:
        st.info("No outcome data yet. Import sessions and scores on the **Data** page.")
        return True
    return False


def group_by_control(key: str) -> str:
    """Modality / integration therapy / all clients: the grouping of a view's charts."""
    labels = {"modality": "Modality", "integration": "Integration therapy", "none": "All clients"}
    return (
        st.segmented_control("Group by", list(labels), default="modality", format_func=labels.get, key=key)
        or "modality"
    )


def empty_note(frame: pd.DataFrame, what: str = "No clients match these filters.") -> bool:
    if frame is None or len(frame) == 0:
        st.info(what, icon=":material/filter_alt_off:")
        return True
    return False


def chart(fig, caption: str, how: str, frame: pd.DataFrame | None = None, key: str = "") -> None:
    """A chart with its one-line caption (definition and denominator), a 'How is this calculated?' expander and
    a CSV download of the (already suppressed) numbers behind it. `caption` is markdown (data in it escaped with
    `md` by the caller); `how` is plain text (escaped here), as the definitions give it."""
    if presentation.active():
        fig = presentation.style(fig)
    st.plotly_chart(
        fig,
        width="stretch",
        key=f"chart_{key}",
        config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": key}},
    )
    st.caption(caption)
    if presentation.active():  # the conference screen: the caption carries definition and n; no controls
        return
    with st.expander("How is this calculated?"):
        st.markdown(md(how))
        st.caption(definitions.settings_in_force(load()))
    if frame is not None and len(frame):
        download_csv(frame, "Download the numbers (CSV)", f"{key}.csv", key=f"dl_{key}")


def pct(x) -> str:
    """A rate as a percent: whole when it is one (a rounded cohort's rates are), else to one decimal."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    value = 100 * float(x)
    return f"{value:.0f}%" if abs(value - round(value)) < 1e-9 else f"{value:.1f}%"


def rate_tile(col, label: str, k, n, rate, low, high, definition: str) -> None:
    """A tile: the rate, its n / denominator and Wilson interval underneath (suppressed where small). The label and
    the definition are plain text (escaped here), as are the other tiles' label, caption and definition."""
    label, definition = md(label), md(definition)
    with col.container(border=True):
        if rate is None or pd.isna(rate) or k is None or n is None or pd.isna(k) or pd.isna(n):
            st.metric(label, "suppressed" if n is None or (n and not pd.isna(n)) else "–", help=definition)
            st.caption("fewer than the minimum cell size" if n is None or (n and not pd.isna(n)) else "no clients")
        else:
            st.metric(label, pct(rate), help=definition)
            st.caption(f"{int(k):,} of {int(n):,} · 95% CI {pct(low)}–{pct(high)}")


def count_tile(col, label: str, n, caption: str, definition: str) -> None:
    with col.container(border=True):
        shown = privacy.count_label(n, load().min_cell) if n is not None else "suppressed"
        st.metric(md(label), shown, help=md(definition))
        st.caption(md(caption))


def count_text(n) -> str:
    """A count for a table cell: '1,234', or 'suppressed' where it is hidden."""
    return "suppressed" if n is None or (isinstance(n, float) and math.isnan(n)) else f"{int(n):,}"


def value_tile(col, label: str, value: str | None, caption: str | None, definition: str) -> None:
    """A tile for a statistic that is not a count (a median, say); None means suppressed."""
    with col.container(border=True):
        st.metric(md(label), value if value is not None else "suppressed", help=md(definition))
        st.caption(md(caption) if caption is not None else "fewer than the minimum cell size")


def table(frame: pd.DataFrame, **kwargs) -> None:
    """st.dataframe of `frame` with every text cell and header that a spreadsheet would run as a formula quoted
    (escape.grid): the table's own "Download as CSV" writes what the table holds, and no setting turns it off."""
    st.dataframe(grid(frame), **kwargs)


def suppressed_counts(frame: pd.DataFrame, columns: list[str], k: int | None = None) -> pd.DataFrame:
    """Counts shown as text, with 1..k-1 replaced by '<k'."""
    k = load().min_cell if k is None else k
    out = frame.copy()
    for c in columns:
        out[c] = out[c].map(lambda n: privacy.count_label(n, k))
    return out


def download_csv(frame: pd.DataFrame, label: str, file_name: str, key: str, figures: bool = True) -> None:
    """A CSV download (formulas neutralised); `figures`: the frame holds counts of clients, which never leave the
    clinic exact, so the button is off while an editor shows exact counts."""
    if presentation.active():
        return
    if figures and filters.current().exact:
        st.caption("Downloads are off while exact counts are shown.")
        return
    st.download_button(
        label, export.to_csv_bytes(frame), file_name=file_name, mime="text/csv", key=key, icon=":material/download:"
    )


def report_button(state: filters.State) -> None:
    """The sidebar's "Download report": the case-conference HTML report for the current instrument and cohort,
    built when clicked."""
    if state.instrument is None:
        return
    st.sidebar.download_button(
        "Download report",
        data=lambda: data.report_html(state.cohort()),
        file_name=f"outcomes-report-{state.instrument}.html",
        mime="text/html",
        on_click="ignore",
        icon=":material/description:",
        help="One self-contained HTML file: no client ids, dates to the month, small cells suppressed. Opens offline.",
    )
