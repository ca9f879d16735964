"""Pieces every view shows: the frame's filters, the demo notice, charts with captions, tiles, downloads.

Text from the data is escaped where it meets markdown (dashboard/escape.py): `chart` and the tiles escape their plain
text arguments themselves; a chart's caption is markdown, so a view escapes the data it puts into one with `md`."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard import data, definitions, export, filters, presentation, privacy
from dashboard.escape import grid, md
from dashboard.sections import SECTIONS
from dashboard.settings import load


def page(title: str, question: str) -> filters.State:
    """Title, one-line question, demo notice and link notices; returns the sidebar's filter state."""
    state = filters.current()
    st.title(title)
    st.session_state[SECTION] = title  # a chart's heading in its picture, until a subheader names its section
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


SECTION = "_chart_section"
HEADING_CHARS = 64  # a chart's cohort line wraps at this many characters (a ~450 px chart holds them)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, break_long_words=False) or [""]


def subheader(text: str) -> None:
    """A section heading, which the section's charts also carry in their own picture (see `chart`)."""
    st.session_state[SECTION] = text
    st.subheader(text)


def sections(key: str) -> tuple[dict, str]:
    """A view's sections (SECTIONS[key]) as tabs. Only the open section is computed and drawn, so a filter change
    redraws that section's charts and not the whole page's (plotly draws each chart afresh, about 0.1 s apiece in
    the browser). The open one is kept in the link under `key` (a view control, filters.bind); its charts carry its
    heading. Returns the tabs by label and the open label."""
    titles = SECTIONS[key]
    labels = list(titles)
    filters.bind(key, labels, labels[0])
    tabs = st.tabs(labels, key=key, on_change="rerun")
    shown = st.session_state[key]
    st.session_state[SECTION] = titles[shown]
    return dict(zip(labels, tabs, strict=True)), shown


def heading(fig, title: str | None, state: filters.State | None):
    """The figure (changed in place: a copy costs milliseconds a chart on every filter change) with a heading inside
    the picture, so that its PNG (the chart's camera button) says what it is: the title, then the instrument, the
    cohort's filters, the clients started (rounded unless exact counts are on) and "Demo data" on the demo.
    `state` None (one client's chart): the title and demo label only."""
    from dashboard.escape import plot

    parts = []
    if state is not None and state.instrument is not None:
        s = load()
        primary = (float(s.primary_day), float(s.window_for(s.primary_day)))
        # the cohort's own counts: rounded (or hidden under k) unless an editor shows exact ones
        started = data.outcomes_table(state.cohort("none"), timepoints=[primary], include_last=False)
        n = started.n_started.iloc[0] if len(started) else None
        shown = f"<{s.min_cell}" if n is None or pd.isna(n) else f"{int(n):,}"
        parts = [state.instrument, state.filters.describe(), f"n = {shown} clients with a baseline above 0"]
    if data.dataset_info()["kind"] == "demo":
        parts.append("Demo data (synthetic)")
    out = fig
    lines = _wrap(" · ".join(map(str, parts)), HEADING_CHARS) if parts else []
    head = 30 + 15 * len(lines)  # the title's line and the cohort's lines, in px
    legend = [
        t.name
        for t in out.data
        if getattr(t, "showlegend", False) is not False and t.name and not str(t.name).endswith("CI")
    ]
    # the legend sits between the heading and the plot: room for its rows as a ~450 px wide chart wraps them
    rows = 0 if out.layout.showlegend is False or not legend else 1 + sum(7 * len(str(n)) + 40 for n in legend) // 420
    height = out.layout.height or 450
    out.update_layout(
        title={
            "text": f"<b>{plot(title or '')}</b>",
            "subtitle": {"text": "<br>".join(plot(x) for x in lines), "font": {"size": 11, "color": "#555555"}},
            "x": 0,
            "xanchor": "left",
            "xref": "container",
            "y": 1,
            "yanchor": "top",
            "yref": "container",
            "pad": {"t": 8, "l": 8},
            "font": {"size": 14},
        },
        legend={"yref": "container", "y": 1 - (head + 4) / (height + head), "yanchor": "top"},
        height=height + head,
        margin_t=head + 10 + 22 * rows,
    )
    return out


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
    """Modality / integration therapy / all clients: the grouping of a view's charts (kept in the link)."""
    labels = {"modality": "Modality", "integration": "Integration therapy", "none": "All clients"}
    filters.bind(key, list(labels), "modality")
    return st.segmented_control("Group by", list(labels), format_func=labels.get, key=key) or "modality"


def empty_note(frame: pd.DataFrame, what: str = "No clients match these filters.") -> bool:
    if frame is None or len(frame) == 0:
        st.info(what, icon=":material/filter_alt_off:")
        return True
    return False


def missing_groups(frame: pd.DataFrame | None, cohort, k: int) -> list[str]:
    """The groups of a grouped cohort that a chart of `frame` does not show, each with why: no data of the
    instrument for it here, or every figure of it suppressed (fewer than k clients)."""
    if cohort is None or cohort.by == "none" or frame is None or "group" not in getattr(frame, "columns", []):
        return []
    present = set(frame["group"].astype(str))
    shown = frame if "suppressed" not in frame.columns else frame[~frame["suppressed"].fillna(False).astype(bool)]
    drawn = set(shown["group"].astype(str))
    out = []
    for group in data.cohort_groups(cohort):
        if group in drawn:
            continue
        why = f"fewer than {k} clients" if group in present else f"no {cohort.instrument} data here"
        out.append(f"{group} ({why})")
    return out


def chart(
    fig,
    caption: str,
    how: str,
    frame: pd.DataFrame | None = None,
    key: str = "",
    cohort=None,
    title: str | None = None,
    client_level: bool = False,
) -> None:
    """A chart with its one-line caption (definition and denominator), a 'How is this calculated?' expander and
    a CSV download of the (already suppressed) numbers behind it. `caption` is markdown (data in it escaped with
    `md` by the caller); `how` is plain text (escaped here), as the definitions give it. With the (grouped) `cohort`
    the chart names in a note any of its groups it does not show, and why. The picture carries a heading (`heading`):
    `title`, or the section's subheader; `client_level` charts (one client's) carry no cohort line."""
    missing = missing_groups(frame, cohort, load().min_cell)
    if missing:
        from dashboard.charts.layout import note_below
        from dashboard.escape import plot

        note_below(fig, plot("Not shown: " + "; ".join(missing)), name="missing_groups", left=True)
    fig = heading(fig, title or st.session_state.get(SECTION), None if client_level else filters.current())
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


def _ci_text(low, high, digits: int) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return ""
    return f"{100 * float(low):.{digits}f}–{100 * float(high):.{digits}f}%"


def compact_rates(table_rows: pd.DataFrame, exact: bool) -> pd.DataFrame:
    """An outcomes table narrow enough for the page: each rate in percent with its Wilson interval as one text
    column beside it ("57–78%"), counts as they are; no suppressed flag (a hidden cell is empty, as the caption
    says). The full table is the CSV download."""
    digits = 1 if exact else 0
    out = table_rows[["group", "n_started", "n_evaluable", "n_responders"]].copy()
    out["response"] = pd.to_numeric(table_rows.response_rate, errors="coerce") * 100
    out["response_ci"] = [
        _ci_text(lo, hi, digits) for lo, hi in zip(table_rows.response_ci_low, table_rows.response_ci_high, strict=True)
    ]
    out["response_itt"] = pd.to_numeric(table_rows.response_rate_itt, errors="coerce") * 100
    out["n_remission_eligible"] = table_rows.n_remission_eligible
    out["n_remitters"] = table_rows.n_remitters
    out["remission"] = pd.to_numeric(table_rows.remission_rate, errors="coerce") * 100
    out["mean_baseline"] = table_rows.mean_baseline
    out["mean_pct_change"] = table_rows.mean_pct_change
    return out


def compact_rate_columns(by: str) -> dict:
    pct = "%.1f%%" if filters.current().exact else "%.0f%%"
    count = st.column_config.NumberColumn
    return {
        "group": st.column_config.TextColumn(by.replace("_", " ").capitalize()),
        "n_started": count("Started", format="%d", help="First courses with a baseline above 0"),
        "n_evaluable": count("Evaluable", format="%d", help="Started, with a score in the timepoint's window"),
        "n_responders": count("Responders", format="%d", help="Evaluable clients with a fall of at least 50%"),
        "response": count("Response", format=pct, help="Responders / evaluable clients"),
        "response_ci": st.column_config.TextColumn("95% CI", help="Wilson interval of the response rate"),
        "response_itt": count("Response (all started)", format=pct, help="Responders / all who started"),
        "n_remission_eligible": count(
            "Remission-eligible", format="%d", help="Evaluable, not in remission at baseline"
        ),
        "n_remitters": count("Remitters", format="%d"),
        "remission": count("Remission", format=pct, help="Remitters / remission-eligible clients"),
        "mean_baseline": count("Mean baseline", format="%.1f", help="Points"),
        "mean_pct_change": count("Mean change", format="%.0f%%", help="Mean percent change from baseline"),
    }


def funnel_table(placed: pd.DataFrame, by: str, metric: str, ratio: bool = False) -> None:
    """Under a funnel plot: every plotted clinician or site with its n, its value and where it falls against the
    limits, in name order (never ranked)."""
    if placed.empty:
        return
    rows = placed.sort_values("group", key=lambda g: g.astype(str).str.casefold(), kind="stable")
    rows = rows.assign(position=[p or "no limit at this n" for p in rows.position])[["group", "n", "rate", "position"]]
    if not ratio:  # shown as a percent, whole unless exact counts are on
        rows = rows.assign(rate=pd.to_numeric(rows.rate, errors="coerce") * 100)
    rate_format = "%.2f" if ratio else ("%.1f%%" if filters.current().exact else "%.0f%%")
    table(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            "group": st.column_config.TextColumn(by.capitalize(), help=f"Each {by} with enough clients to show"),
            "n": st.column_config.NumberColumn(
                "Expected responders (E)" if ratio else "Evaluable clients",
                format="%.1f" if ratio else "%d",
                help="The funnel's x axis",
            ),
            "rate": st.column_config.NumberColumn(
                metric,
                format=rate_format,
                help="Observed over expected responders" if ratio else "Responders / evaluable clients",
            ),
            "position": st.column_config.TextColumn(
                "Where it falls",
                help="Against the 95% and 99.8% limits at its n: outside the 99.8% limits is unlikely to be chance "
                "alone; within the 95% limits is compatible with chance",
            ),
        },
    )


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
    built when clicked, named for the instrument, the cohort and the day (report.file_name)."""
    from datetime import date

    from dashboard.report import file_name

    if state.instrument is None:
        return
    st.sidebar.download_button(
        "Download report",
        data=lambda: data.report_html(state.cohort()),
        file_name=file_name(state.instrument, state.filters, date.today()),
        mime="text/html",
        on_click="ignore",
        icon=":material/description:",
        help="One self-contained HTML file: no client ids, dates to the month, small cells suppressed. Opens offline.",
    )
