"""Charts layer: pure functions, DataFrame in, plotly Figure out (no Streamlit, no queries, no I/O).

Conventions shared by every chart:
- Groups are coloured through `colour_for`, so a modality has one colour on every chart.
- A row is suppressed when its value is None/NaN or its optional `suppressed` column is True. Suppressed
  rows are left out of every trace; a small note says how many were dropped ("N groups suppressed (fewer
  than k clients)"). `k` is the clinic's small-cell setting and only feeds that sentence (and the
  numbers-at-risk table, whose counts are shown through `privacy.count_label`).
- An empty frame gives a figure with the centred note "No data for this selection" instead of raising.
- Trace data are plain Python lists (None for gaps), so `fig.to_dict()` holds no base64 arrays.
- Time is always days/weeks since the first dose; calendar dates are never drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.privacy import DEFAULT_MIN_CELL, count_label

__all__ = [
    "ALL_COLOUR",
    "MODALITY_COLOURS",
    "NO_DATA_TEXT",
    "OKABE_ITO",
    "band_sankey",
    "client_timeline",
    "colour_for",
    "flow_chart",
    "funnel_plot",
    "improvement_by_dose",
    "km_curve",
    "maintenance_bars",
    "rates_with_ci",
    "trajectory_with_ci",
]

# Okabe & Ito (2008), distinguishable with the common colour-vision deficiencies.
OKABE_ITO: tuple[str, ...] = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#000000",
)

# Fixed so that a modality looks the same on every chart, whatever else is on it. Yellow is left out:
# it is the weakest of the eight against a white background.
MODALITY_COLOURS: dict[str, str] = {
    "IV infusion": "#0072B2",
    "IM injection": "#D55E00",
    "Sublingual / troche": "#009E73",
    "Intranasal esketamine": "#CC79A7",
    "Subcutaneous": "#E69F00",
}

ALL_COLOUR = "#555555"  # the whole cohort ("all"): dark grey, so it reads as the backdrop to the groups
NO_DATA_TEXT = "No data for this selection"
DEFAULT_AT_RISK_TIMES: tuple[int, ...] = (0, 7, 14, 28, 56, 84, 182)

_MODALITY_KEYS = {name.casefold(): colour for name, colour in MODALITY_COLOURS.items()}
_NOTE_FONT = {"size": 11, "color": "#666666"}


# ---------------------------------------------------------------------------------------------- colours


def colour_for(group: str, groups: Iterable[str]) -> str:
    """The colour of `group` on a chart that shows `groups`.

    Canonical modalities always get their MODALITY_COLOURS entry and "all" is dark grey; any other group
    (site, condition, clinician, "with integration therapy" …) takes the Okabe–Ito colour at its position
    in the sorted list of the chart's groups (positions counted over all of them, cycling after eight).
    Pass every group the chart could show (suppressed ones too) so colours do not shift when one drops out.
    """
    name = str(group)
    key = name.strip().casefold()
    if key in _MODALITY_KEYS:
        return _MODALITY_KEYS[key]
    if key == "all":
        return ALL_COLOUR
    ordered = sorted({str(g) for g in groups} | {name})
    return OKABE_ITO[ordered.index(name) % len(OKABE_ITO)]


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# ---------------------------------------------------------------------------------------------- helpers


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(math.isnan(value))
    except (TypeError, ValueError):
        return False


def _num(value) -> float | None:
    """A plain float for plotly, or None for a gap."""
    if _is_missing(value):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _plain(value):
    """Numpy scalars as plain Python values (ints stay ints), so the figure JSON holds plain lists."""
    if _is_missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _whole(value) -> int | float | None:
    """A number as an int when it is whole (counts, days, weeks), else a float; None for a gap."""
    n = _num(value)
    return int(n) if n is not None and n.is_integer() else n


def _is_empty(frame) -> bool:
    return frame is None or len(frame) == 0


def _require(frame: pd.DataFrame, columns: Sequence[str], chart: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns))
        raise ValueError(f"{chart}: frame lacks column(s) {', '.join(missing)}; it has {have}")


def _shown_mask(frame: pd.DataFrame, value_columns: Sequence[str]) -> pd.Series:
    """True for rows that may be drawn: every value column present and `suppressed` not True."""
    ok = pd.Series(True, index=frame.index)
    for col in value_columns:
        ok &= pd.Series([_num(v) is not None for v in frame[col]], index=frame.index)
    if "suppressed" in frame.columns:
        ok &= pd.Series([not (not _is_missing(v) and bool(v)) for v in frame["suppressed"]], index=frame.index)
    return ok


def _unique(values: Iterable) -> list:
    """Distinct values in order of first appearance, missing values left out."""
    seen: dict = {}
    for v in values:
        if not _is_missing(v):
            seen.setdefault(v, None)
    return list(seen)


def _pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def _count(value) -> str:
    n = _num(value)
    return "–" if n is None else f"{round(n):,}"


def _rate_hover(k, n, rate, lo, hi) -> str:
    """'k / n (rate, 95% CI lo–hi)'."""
    ci = "" if lo is None or hi is None else f", 95% CI {_pct(lo)}–{_pct(hi)}"
    return f"{_count(k)} / {_count(n)} ({_pct(rate, 1)}{ci})"


def _style(
    fig: go.Figure,
    *,
    x_title: str | None,
    y_title: str | None,
    title: str | None = None,
    bottom: int = 50,
    right: int = 20,
    **layout,
) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0, "xanchor": "left"} if title else None,
        margin={"l": 60, "r": right, "t": 80 if title else 40, "b": bottom},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        hoverlabel={"align": "left"},
        **layout,
    )
    if x_title is not None:
        fig.update_layout(xaxis_title_text=x_title)
    if y_title is not None:
        fig.update_layout(yaxis_title_text=y_title)
    return fig


def _no_data(x_title: str | None = None, y_title: str | None = None, title: str | None = None) -> go.Figure:
    fig = go.Figure()
    _style(fig, x_title=x_title, y_title=y_title, title=title)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=NO_DATA_TEXT,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        xanchor="center",
        yanchor="middle",
        showarrow=False,
        font={"size": 14, "color": "#666666"},
        name="no_data",
    )
    return fig


def _suppression_note(fig: go.Figure, dropped: int, k: int, noun: str = "group") -> None:
    """A note under the plot, right-aligned, when anything was dropped: 'N groups suppressed (...)'."""
    if dropped <= 0:
        return
    plural = noun if dropped == 1 else f"{noun}s"
    # a cell may also be hidden as the complement of a small one, so the note does not say every one was small
    fig.add_annotation(
        text=f"{dropped} {plural} suppressed (counts under {k}, or hidden alongside one)",
        xref="paper",
        yref="paper",
        x=1,
        y=0,
        xanchor="right",
        yanchor="top",
        yshift=-36,
        showarrow=False,
        font=_NOTE_FONT,
        name="suppression_note",
    )


def _percent_axis(fig: go.Figure, **kwargs) -> None:
    fig.update_yaxes(tickformat=".0%", range=[0, 1], **kwargs)


# ----------------------------------------------------------------------------------------------- charts


def trajectory_with_ci(
    frame: pd.DataFrame, x_title: str, y_title: str, title: str | None = None, *, k: int = DEFAULT_MIN_CELL
) -> go.Figure:
    """Mean score by dose-anchored time, one line per group with its 95% CI as a translucent band.

    frame columns: group, x, mean, ci_low, ci_high, n_clients (+ optional suppressed).
    x is numeric (days/weeks since first dose; sorted) or categorical (kept in frame order). A row whose
    mean is missing or that is flagged suppressed is not drawn; the band covers rows that have both limits.
    Traces per group: the band (legendgroup = group, not in the legend), then the line.
    """
    if _is_empty(frame):
        return _no_data(x_title, y_title, title)
    _require(frame, ["group", "x", "mean", "ci_low", "ci_high", "n_clients"], "trajectory_with_ci")
    groups = _unique(frame["group"])
    shown_mask = _shown_mask(frame, ["mean"])
    shown = frame.loc[shown_mask]
    numeric_x = pd.api.types.is_numeric_dtype(frame["x"])
    fig = go.Figure()
    for group in groups:
        rows = shown.loc[shown["group"] == group]
        if rows.empty:
            continue
        if numeric_x:
            rows = rows.sort_values("x", kind="stable")
        colour = colour_for(group, groups)
        xs = [(_whole(v) if numeric_x else _plain(v)) for v in rows["x"]]
        means = [_num(v) for v in rows["mean"]]
        lows = [_num(v) for v in rows["ci_low"]]
        highs = [_num(v) for v in rows["ci_high"]]
        band = [(x, lo, hi) for x, lo, hi in zip(xs, lows, highs, strict=True) if lo is not None and hi is not None]
        if band:
            bx, blo, bhi = zip(*band, strict=True)
            fig.add_trace(
                go.Scatter(
                    x=list(bx) + list(bx)[::-1],
                    y=list(bhi) + list(blo)[::-1],
                    fill="toself",
                    fillcolor=_rgba(colour, 0.15),
                    line={"width": 0, "color": colour},
                    mode="lines",
                    name=f"{group} 95% CI",
                    legendgroup=str(group),
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
        hover = [
            f"<b>{group}</b><br>{x_title}: {x}<br>Mean: {m:.1f}<br>95% CI: "
            + ("–" if lo is None or hi is None else f"{lo:.1f} to {hi:.1f}")
            + f"<br>n = {_count(n)}"
            for x, m, lo, hi, n in zip(xs, means, lows, highs, rows["n_clients"], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=means,
                mode="lines+markers",
                name=str(group),
                legendgroup=str(group),
                line={"color": colour, "width": 2},
                marker={"color": colour, "size": 7},
                hovertext=hover,
                hoverinfo="text",
            )
        )
    _style(fig, x_title=x_title, y_title=y_title, title=title, bottom=70)
    if not numeric_x:
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=[str(v) for v in _unique(frame["x"])])
    _suppression_note(fig, int((~shown_mask).sum()), k, "point")
    return fig


def rates_with_ci(
    frame: pd.DataFrame,
    y_title: str = "Rate",
    references: Sequence[dict] | None = None,
    *,
    x_title: str = "Outcome",
    k: int = DEFAULT_MIN_CELL,
) -> go.Figure:
    """Rates (as proportions) with Wilson 95% intervals, groups side by side at each label.

    frame columns: group, label, rate, ci_low, ci_high, numerator, denominator (+ optional suppressed).
    rate and CI limits are proportions 0–1. Labels keep the order they first appear in (suppressed rows
    included, so the axis does not change when a cell is hidden). One marker trace per group.
    references: optional list of {label, value, definition} (value a proportion): a dashed line with the
    label beside it (the definition on hover), and the definitions listed under the chart.
    """
    if _is_empty(frame):
        return _no_data(x_title, y_title)
    _require(frame, ["group", "label", "rate", "ci_low", "ci_high", "numerator", "denominator"], "rates_with_ci")
    groups = _unique(frame["group"])
    labels = [str(v) for v in _unique(frame["label"])]
    shown_mask = _shown_mask(frame, ["rate"])
    shown = frame.loc[shown_mask]
    fig = go.Figure()
    for group in groups:
        rows = shown.loc[shown["group"] == group]
        if rows.empty:
            continue
        colour = colour_for(group, groups)
        rates = [_num(v) for v in rows["rate"]]
        lows = [_num(v) for v in rows["ci_low"]]
        highs = [_num(v) for v in rows["ci_high"]]
        plus = [None if h is None else max(h - r, 0.0) for r, h in zip(rates, highs, strict=True)]
        minus = [None if lo is None else max(r - lo, 0.0) for r, lo in zip(rates, lows, strict=True)]
        hover = [
            f"<b>{group}</b><br>{label}: {_rate_hover(num, den, r, lo, hi)}"
            for label, num, den, r, lo, hi in zip(
                rows["label"], rows["numerator"], rows["denominator"], rates, lows, highs, strict=True
            )
        ]
        fig.add_trace(
            go.Scatter(
                x=[str(v) for v in rows["label"]],
                y=rates,
                mode="markers",
                name=str(group),
                legendgroup=str(group),
                offsetgroup=str(group),
                marker={"color": colour, "size": 10},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": plus,
                    "arrayminus": minus,
                    "color": colour,
                    "thickness": 1.5,
                    "width": 4,
                },
                hovertext=hover,
                hoverinfo="text",
                cliponaxis=False,
            )
        )
    refs = [r for r in (references or []) if _num(r.get("value")) is not None]
    _style(fig, x_title=x_title, y_title=y_title, bottom=70 + 18 * len(refs), scattermode="group", scattergap=0.4)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)
    _percent_axis(fig)
    for ref in refs:
        label, definition = str(ref.get("label", "")), str(ref.get("definition", "") or "")
        fig.add_hline(
            y=_num(ref["value"]),
            line={"dash": "dash", "color": "#777777", "width": 1},
            annotation={
                "text": label,
                "hovertext": definition or label,
                "font": _NOTE_FONT,
                "xanchor": "right",
                "x": 1,
                "yanchor": "bottom",
                "showarrow": False,
            },
        )
    for i, ref in enumerate(refs):
        definition = str(ref.get("definition", "") or "")
        fig.add_annotation(
            text=f"Reference line “{ref.get('label', '')}” ({_pct(_num(ref['value']), 1)})"
            + (f": {definition}" if definition else ""),
            xref="paper",
            yref="paper",
            x=0,
            y=0,
            xanchor="left",
            yanchor="top",
            yshift=-54 - 18 * i,
            showarrow=False,
            font=_NOTE_FONT,
            name="reference_definition",
        )
    _suppression_note(fig, int((~shown_mask).sum()), k, "group")
    return fig


def flow_chart(
    frame: pd.DataFrame, *, x_title: str = "Clients", y_title: str = "Stage", k: int = DEFAULT_MIN_CELL
) -> go.Figure:
    """The denominator flow (started → has baseline → … → included) as horizontal bars, first stage on top.

    frame columns: stage, n (in order; n None/NaN or optional suppressed True = suppressed: no bar, the word
    "suppressed" in its place). Bar text: n and its percent of the first stage (when that is shown).
    """
    if _is_empty(frame):
        return _no_data(x_title, y_title)
    _require(frame, ["stage", "n"], "flow_chart")
    stages = [str(s) for s in frame["stage"]]
    shown_mask = _shown_mask(frame, ["n"])
    first = _num(frame["n"].iloc[0]) if bool(shown_mask.iloc[0]) else None
    colour = colour_for("all", ["all"])
    xs, texts, hover = [], [], []
    for stage, n, ok in zip(stages, frame["n"], shown_mask, strict=True):
        if not ok:
            xs.append(None)
            texts.append("")
            hover.append("")
            continue
        value = _num(n)
        share = f" ({_pct(value / first)})" if first else ""
        xs.append(_whole(n))
        texts.append(f"{_count(n)}{share}")
        hover.append(
            f"<b>{stage}</b><br>n = {_count(n)}" + (f"<br>{_pct(value / first, 1)} of {stages[0]}" if first else "")
        )
    fig = go.Figure(
        go.Bar(
            x=xs,
            y=stages,
            orientation="h",
            marker={"color": colour},
            text=texts,
            textposition="auto",
            hovertext=hover,
            hoverinfo="text",
            name="Clients",
            showlegend=False,
            cliponaxis=False,
        )
    )
    for stage, ok in zip(stages, shown_mask, strict=True):
        if not ok:
            fig.add_annotation(
                x=0,
                y=stage,
                xref="x",
                yref="y",
                text="suppressed",
                showarrow=False,
                xanchor="left",
                font=_NOTE_FONT,
                name="suppressed_stage",
            )
    _style(fig, x_title=x_title, y_title=y_title, bottom=70, showlegend=False)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=stages, autorange="reversed")
    fig.update_xaxes(rangemode="tozero")
    _suppression_note(fig, int((~shown_mask).sum()), k, "stage")
    return fig


def km_curve(
    frame: pd.DataFrame,
    y_title: str,
    x_title: str = "Days since first dose",
    at_risk_times: Sequence[float] | None = None,
    *,
    k: int = DEFAULT_MIN_CELL,
) -> go.Figure:
    """Kaplan–Meier step curves with 95% CI bands and a numbers-at-risk table underneath.

    frame columns: group, time, survival, ci_low, ci_high, at_risk (one row per time per group; proportions
    0–1) + optional events, censored (as from `stats.kaplan_meier`) and suppressed.
    at_risk_times: where to count (default 0, 7, 14, 28, 56, 84, 182 up to the last time in the frame).
    The count at t comes from the last shown row of the group with time <= t: its at_risk, less its events and
    censored when those columns are there (then it is the number still followed just after that row, as
    lifelines counts it; without them it is the at_risk of that row). Counts under k show as "<k".
    Layout: row 1 (xaxis/yaxis) the curves, row 2 (xaxis2/yaxis2) the table, one text trace per group.
    Traces per group in row 1: CI lower edge, CI upper edge (filled to the lower), the step line.
    """
    if _is_empty(frame):
        return _no_data(x_title, y_title)
    _require(frame, ["group", "time", "survival", "ci_low", "ci_high", "at_risk"], "km_curve")
    groups = _unique(frame["group"])
    shown_mask = _shown_mask(frame, ["time", "survival"])
    shown = frame.loc[shown_mask]
    if shown.empty:
        fig = _no_data(x_title, y_title)
        _suppression_note(fig, len(groups), k, "group")
        return fig
    has_removed = {"events", "censored"} <= set(frame.columns)
    max_time = max(_num(t) for t in shown["time"])
    if at_risk_times is None:
        times = [t for t in DEFAULT_AT_RISK_TIMES if t <= max_time]
    else:
        times = sorted({_whole(t) for t in at_risk_times if _num(t) is not None})
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.16)
    shown_groups = [g for g in groups if (shown["group"] == g).any()]
    for group in shown_groups:
        rows = shown.loc[shown["group"] == group].sort_values("time", kind="stable")
        colour = colour_for(group, groups)
        ts = [_whole(v) for v in rows["time"]]
        surv = [_num(v) for v in rows["survival"]]
        lows = [_num(v) for v in rows["ci_low"]]
        highs = [_num(v) for v in rows["ci_high"]]
        edge = {"width": 0, "color": colour, "shape": "hv"}
        fig.add_trace(
            go.Scatter(
                x=ts,
                y=lows,
                mode="lines",
                line=edge,
                name=f"{group} 95% CI",
                legendgroup=str(group),
                showlegend=False,
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=ts,
                y=highs,
                mode="lines",
                line=edge,
                fill="tonexty",
                fillcolor=_rgba(colour, 0.15),
                name=f"{group} 95% CI",
                legendgroup=str(group),
                showlegend=False,
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
        hover = [
            f"<b>{group}</b><br>{x_title}: {t:g}<br>{y_title}: {_pct(s, 1)}"
            + ("" if lo is None or hi is None else f"<br>95% CI: {_pct(lo)}–{_pct(hi)}")
            + f"<br>At risk: {count_label(_whole(n), k)}"
            for t, s, lo, hi, n in zip(ts, surv, lows, highs, rows["at_risk"], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=ts,
                y=surv,
                mode="lines",
                line={"color": colour, "width": 2, "shape": "hv"},
                name=str(group),
                legendgroup=str(group),
                hovertext=hover,
                hoverinfo="text",
            ),
            row=1,
            col=1,
        )
    for group in shown_groups:
        rows = shown.loc[shown["group"] == group].sort_values("time", kind="stable")
        counts = []
        for t in times:
            before = rows.loc[[_num(v) <= t for v in rows["time"]]]
            if before.empty:
                counts.append("–")
                continue
            last = before.iloc[-1]
            n = _num(last["at_risk"])
            if n is not None and has_removed:
                n -= (_num(last["events"]) or 0) + (_num(last["censored"]) or 0)
            counts.append("–" if n is None else count_label(round(n), k))
        fig.add_trace(
            go.Scatter(
                x=list(times),
                y=[str(group)] * len(times),
                mode="text",
                text=counts,
                textfont={"color": colour_for(group, groups), "size": 11},
                name=f"{group} at risk",
                legendgroup=str(group),
                showlegend=False,
                hoverinfo="skip",
            ),
            row=2,
            col=1,
        )
    _style(fig, x_title=None, y_title=None, bottom=60, height=520)
    fig.update_xaxes(title_text=x_title, showticklabels=True, row=1, col=1)
    fig.update_yaxes(title_text=y_title, tickformat=".0%", range=[0, 1.02], row=1, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=2, col=1)
    fig.update_yaxes(
        title_text="At risk",
        type="category",
        categoryorder="array",
        categoryarray=[str(g) for g in shown_groups][::-1],
        showgrid=False,
        zeroline=False,
        row=2,
        col=1,
    )
    if times:
        fig.update_xaxes(tickmode="array", tickvals=list(times), row=1, col=1)
    _suppression_note(fig, len(groups) - len(shown_groups), k, "group")
    dropped_points = int((~shown_mask & frame["group"].isin(shown_groups)).sum())
    if dropped_points > 0:
        fig.add_annotation(
            text=f"{dropped_points} time point{'s' if dropped_points != 1 else ''} suppressed (fewer than {k} clients)",
            xref="paper",
            yref="paper",
            x=0,
            y=0,
            xanchor="left",
            yanchor="top",
            yshift=-36,
            showarrow=False,
            font=_NOTE_FONT,
            name="suppression_note",
        )
    return fig


def funnel_plot(
    points: pd.DataFrame,
    limits: pd.DataFrame,
    p0: float | None,
    metric: str = "Response rate",
    *,
    x_title: str = "Clients evaluable (n)",
    k: int = DEFAULT_MIN_CELL,
) -> go.Figure:
    """Funnel plot (Spiegelhalter 2005): each group's rate against its n, within limits around the overall rate.

    points columns: group, n, rate (+ optional suppressed); rate a proportion 0–1.
    limits columns: n, lower_0.95, upper_0.95, lower_0.998, upper_0.998 (as from `stats.funnel_limits`).
    p0: the overall rate (a proportion). Traces: the groups (one markers+text trace, coloured per group,
    not in the legend), the overall rate, 95% limits (dashed, lower and upper), 99.8% limits (dotted).
    Groups are never ranked; hover says where a point falls against the limits at its n.
    """
    if _is_empty(points):
        return _no_data(x_title, metric)
    _require(points, ["group", "n", "rate"], "funnel_plot")
    limit_cols = ["n", "lower_0.95", "upper_0.95", "lower_0.998", "upper_0.998"]
    if not _is_empty(limits):
        _require(limits, limit_cols, "funnel_plot limits")
    groups = _unique(points["group"])
    shown_mask = _shown_mask(points, ["n", "rate"])
    shown = points.loc[shown_mask]
    fig = go.Figure()
    lim = pd.DataFrame(columns=limit_cols) if _is_empty(limits) else limits.sort_values("n", kind="stable")
    by_n = {_num(row["n"]): row for _, row in lim.iterrows()}
    if not shown.empty:
        hover = []
        for group, n, rate in zip(shown["group"], shown["n"], shown["rate"], strict=True):
            where = _funnel_position(_num(rate), by_n.get(_num(n)))
            hover.append(
                f"<b>{group}</b><br>{metric}: {_pct(_num(rate), 1)}<br>n = {_count(n)}"
                + (f"<br>{where}" if where else "")
            )
        fig.add_trace(
            go.Scatter(
                x=[_whole(v) for v in shown["n"]],
                y=[_num(v) for v in shown["rate"]],
                mode="markers+text",
                text=[str(g) for g in shown["group"]],
                textposition="top center",
                textfont={"size": 10},
                marker={
                    "color": [colour_for(g, groups) for g in shown["group"]],
                    "size": 10,
                    "line": {"width": 1, "color": "white"},
                },
                name="Groups",
                showlegend=False,
                hovertext=hover,
                hoverinfo="text",
                cliponaxis=False,
            )
        )
    ns = [_whole(v) for v in lim["n"]]
    p = _num(p0)
    if p is not None:
        span = ns or [_whole(v) for v in shown["n"]]
        if span:
            fig.add_trace(
                go.Scatter(
                    x=[min(span), max(span)],
                    y=[p, p],
                    mode="lines",
                    line={"color": ALL_COLOUR, "width": 1.5},
                    name=f"Overall ({_pct(p, 1)})",
                    hoverinfo="skip",
                )
            )
    for level, dash, name in (("0.95", "dash", "95% limits"), ("0.998", "dot", "99.8% limits")):
        for side in ("lower", "upper"):
            if not ns:
                continue
            fig.add_trace(
                go.Scatter(
                    x=ns,
                    y=[_num(v) for v in lim[f"{side}_{level}"]],
                    mode="lines",
                    line={"color": "#888888", "width": 1, "dash": dash},
                    name=name,
                    legendgroup=name,
                    showlegend=side == "lower",
                    hoverinfo="skip",
                )
            )
    _style(fig, x_title=x_title, y_title=metric, bottom=70)
    fig.update_xaxes(rangemode="tozero")
    _percent_axis(fig)
    _suppression_note(fig, int((~shown_mask).sum()), k, "group")
    return fig


def _funnel_position(rate: float | None, limit_row) -> str:
    if rate is None or limit_row is None:
        return ""
    lo95, hi95 = _num(limit_row["lower_0.95"]), _num(limit_row["upper_0.95"])
    lo998, hi998 = _num(limit_row["lower_0.998"]), _num(limit_row["upper_0.998"])
    if None in (lo95, hi95, lo998, hi998):
        return ""
    if rate > hi998:
        return "above the 99.8% limit"
    if rate < lo998:
        return "below the 99.8% limit"
    if rate > hi95:
        return "above the 95% limit"
    if rate < lo95:
        return "below the 95% limit"
    return "within the 95% limits"


def band_sankey(
    frame: pd.DataFrame, to_label: str = "Follow-up", *, from_label: str = "Baseline", k: int = DEFAULT_MIN_CELL
) -> go.Figure:
    """Severity band at baseline → band at a follow-up timepoint, as a Sankey diagram.

    frame columns: from_band, to_band, n_clients (+ optional suppressed). n_clients None/NaN = suppressed
    (dropped, counted in the note); 0 = no flow. Nodes are "Baseline: <band>" (left) and "<to_label>: <band>"
    (right), bands in the order they first appear in the frame, top to bottom; coloured via colour_for.
    A Sankey has no axes: the two column headings stand in for axis titles.
    Node totals are the sums of the flows drawn.
    """
    if _is_empty(frame):
        return _no_data()
    _require(frame, ["from_band", "to_band", "n_clients"], "band_sankey")
    bands = _unique(v for pair in zip(frame["from_band"], frame["to_band"], strict=True) for v in pair)
    band_names = [str(b) for b in bands]
    shown_mask = _shown_mask(frame, ["n_clients"])
    flows = [
        (str(a), str(b), _num(n))
        for a, b, n in zip(
            frame.loc[shown_mask, "from_band"],
            frame.loc[shown_mask, "to_band"],
            frame.loc[shown_mask, "n_clients"],
            strict=True,
        )
    ]
    flows = [f for f in flows if f[2] and f[2] > 0]
    if not flows:
        fig = _no_data()
        _suppression_note(fig, int((~shown_mask).sum()), k, "flow")
        return fig
    left = [b for b in band_names if any(f[0] == b for f in flows)]
    right = [b for b in band_names if any(f[1] == b for f in flows)]
    labels = [f"{from_label}: {b}" for b in left] + [f"{to_label}: {b}" for b in right]
    colours = [colour_for(b, band_names) for b in left + right]
    index = {("L", b): i for i, b in enumerate(left)} | {("R", b): len(left) + i for i, b in enumerate(right)}

    def positions(column: list[str], side: int) -> list[float]:
        # Centre of each node in band order; plotly would otherwise reorder nodes to shorten links.
        totals = [sum(f[2] for f in flows if f[side] == b) for b in column]
        gap = 0.04
        scale = (1 - gap * (len(column) - 1)) / sum(totals)
        out, top = [], 0.0
        for total in totals:
            out.append(min(max(top + total * scale / 2, 0.001), 0.999))
            top += total * scale + gap
        return out

    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": labels,
                "color": colours,
                "pad": 14,
                "thickness": 16,
                "x": [0.001] * len(left) + [0.999] * len(right),
                "y": positions(left, 0) + positions(right, 1),
                "hovertemplate": "%{label}<br>n = %{value:,}<extra></extra>",
            },
            link={
                "source": [index["L", a] for a, _, _ in flows],
                "target": [index["R", b] for _, b, _ in flows],
                "value": [int(n) if float(n).is_integer() else n for _, _, n in flows],
                "color": [_rgba(colour_for(a, band_names), 0.35) for a, _, _ in flows],
                "customdata": [f"{from_label}: {a} → {to_label}: {b}" for a, b, _ in flows],
                "hovertemplate": "%{customdata}<br>n = %{value:,}<extra></extra>",
            },
        )
    )
    _style(fig, x_title=None, y_title=None, bottom=50)
    for x, anchor, text in ((0, "left", from_label), (1, "right", to_label)):
        fig.add_annotation(
            text=f"<b>{text}</b>",
            xref="paper",
            yref="paper",
            x=x,
            y=1,
            xanchor=anchor,
            yanchor="bottom",
            yshift=6,
            showarrow=False,
            name="column_title",
        )
    _suppression_note(fig, int((~shown_mask).sum()), k, "flow")
    return fig


def client_timeline(
    scores: pd.DataFrame,
    sessions: pd.DataFrame,
    bands: Sequence[tuple[float, str]],
    y_title: str,
    y_range: tuple[float, float],
) -> go.Figure:
    """One client's scores over days since first dose, with severity bands and their sessions.

    scores columns: day, score. sessions columns: day, session_type, modality, is_maintenance, with
    session_type one of dosing / integration / preparation / assessment (the last two are not drawn).
    bands: (max, label) in rising order, a score <= max being in that band; shaded between the previous
    band's max and this one (at half-points when all maxima are whole numbers), labelled at the right.
    Dosing sessions are ticks along the bottom coloured by modality (maintenance doses hollow diamonds);
    integration sessions are open circles just above them. `day` must be a number, never a date.
    Traces: the score line (when there are scores), then one per (dose kind, modality), then integration.
    """
    x_title = "Days since first dose"
    scores = scores if scores is not None else pd.DataFrame(columns=["day", "score"])
    sessions = sessions if sessions is not None else pd.DataFrame(columns=["day", "session_type"])
    for name, part in (("scores", scores), ("sessions", sessions)):
        if (
            len(part)
            and "day" in part.columns
            and any(not _is_missing(v) and (hasattr(v, "year") or _num(v) is None) for v in part["day"])
        ):
            raise TypeError(f"client_timeline: {name}.day must be days since first dose (a number), not a date")
    if _is_empty(scores) and _is_empty(sessions):
        return _no_data(x_title, y_title)
    if not _is_empty(scores):
        _require(scores, ["day", "score"], "client_timeline scores")
    if not _is_empty(sessions):
        _require(sessions, ["day", "session_type", "modality", "is_maintenance"], "client_timeline sessions")
    y_min, y_max = (float(v) for v in y_range)
    span = y_max - y_min
    fig = go.Figure()

    whole = all(float(m).is_integer() for m, _ in bands)
    lower = y_min
    for i, (top, label) in enumerate(bands):
        upper = min(float(top) + (0.5 if whole else 0.0), y_max)
        if upper > lower:
            fill = "rgba(0,114,178,0.07)" if i % 2 == 0 else "rgba(120,120,120,0.08)"
            fig.add_hrect(y0=lower, y1=upper, fillcolor=fill, line_width=0, layer="below")
            fig.add_annotation(
                text=str(label),
                xref="paper",
                yref="y",
                x=1.005,
                y=(lower + upper) / 2,
                xanchor="left",
                yanchor="middle",
                showarrow=False,
                font=_NOTE_FONT,
                name="band_label",
            )
        lower = max(lower, upper)

    if not _is_empty(scores):
        rows = scores.loc[_shown_mask(scores, ["day", "score"])].sort_values("day", kind="stable")
        days = [_whole(v) for v in rows["day"]]
        values = [_num(v) for v in rows["score"]]
        fig.add_trace(
            go.Scatter(
                x=days,
                y=values,
                mode="lines+markers",
                name=y_title,
                line={"color": "#333333", "width": 2},
                marker={"color": "#333333", "size": 7},
                hovertext=[f"Day {d}<br>{y_title}: {v:g}" for d, v in zip(days, values, strict=True)],
                hoverinfo="text",
            )
        )

    if not _is_empty(sessions):
        kind = sessions["session_type"].astype("object").map(lambda v: str(v).strip().casefold())
        day_ok = _shown_mask(sessions, ["day"])
        dosing = sessions.loc[(kind == "dosing") & day_ok]
        modalities = [str(m) for m in _unique(dosing["modality"])]
        maintenance = [not _is_missing(v) and bool(v) for v in dosing["is_maintenance"]]
        dose_kinds = (
            ("Dose", False, "line-ns", y_min + 0.03 * span),
            ("Maintenance dose", True, "diamond-tall-open", y_min + 0.03 * span),
        )
        for label, is_maint, symbol, y in dose_kinds:
            for modality in modalities or []:
                pick = [
                    (str(m) == modality and mt == is_maint)
                    for m, mt in zip(dosing["modality"], maintenance, strict=True)
                ]
                rows = dosing.loc[pick]
                if rows.empty:
                    continue
                colour = colour_for(modality, modalities)
                days = [_whole(v) for v in rows["day"]]
                fig.add_trace(
                    go.Scatter(
                        x=days,
                        y=[y] * len(days),
                        mode="markers",
                        name=f"{label}: {modality}",
                        marker={
                            "symbol": symbol,
                            "size": 16 if symbol == "line-ns" else 11,
                            "color": colour,
                            "line": {"color": colour, "width": 2.5 if symbol == "line-ns" else 1.5},
                        },
                        hovertext=[f"Day {d}<br>{label}: {modality}" for d in days],
                        hoverinfo="text",
                        cliponaxis=False,
                    )
                )
        integration = sessions.loc[(kind == "integration") & day_ok]
        if not integration.empty:
            days = [_whole(v) for v in integration["day"]]
            fig.add_trace(
                go.Scatter(
                    x=days,
                    y=[y_min + 0.09 * span] * len(days),
                    mode="markers",
                    name="Integration session",
                    marker={"symbol": "circle-open", "size": 9, "color": "#555555", "line": {"width": 1.5}},
                    hovertext=[f"Day {d}<br>Integration session" for d in days],
                    hoverinfo="text",
                    cliponaxis=False,
                )
            )

    _style(fig, x_title=x_title, y_title=y_title, right=130 if bands else 20)
    fig.update_xaxes(type="linear")
    fig.update_yaxes(range=[y_min, y_max])
    return fig


def improvement_by_dose(
    frame: pd.DataFrame,
    y_title: str = "Improved ≥20% from baseline",
    *,
    x_title: str = "Dosing session",
    k: int = DEFAULT_MIN_CELL,
) -> go.Figure:
    """Share of clients improved by at least 20% after dosing session k (early improvement, DOMAIN §4).

    frame columns: group, dose_no, rate, ci_low, ci_high, numerator, denominator (+ optional suppressed);
    rate and limits are proportions 0–1 (Wilson). One lines+markers trace per group with error bars,
    groups offset side by side at each dose.
    """
    if _is_empty(frame):
        return _no_data(x_title, y_title)
    _require(
        frame, ["group", "dose_no", "rate", "ci_low", "ci_high", "numerator", "denominator"], "improvement_by_dose"
    )
    groups = _unique(frame["group"])
    shown_mask = _shown_mask(frame, ["dose_no", "rate"])
    shown = frame.loc[shown_mask]
    fig = go.Figure()
    for group in groups:
        rows = shown.loc[shown["group"] == group].sort_values("dose_no", kind="stable")
        if rows.empty:
            continue
        colour = colour_for(group, groups)
        doses = [_whole(v) for v in rows["dose_no"]]
        rates = [_num(v) for v in rows["rate"]]
        lows = [_num(v) for v in rows["ci_low"]]
        highs = [_num(v) for v in rows["ci_high"]]
        hover = [
            f"<b>{group}</b><br>After dose {d}: {_rate_hover(num, den, r, lo, hi)}"
            for d, num, den, r, lo, hi in zip(
                doses, rows["numerator"], rows["denominator"], rates, lows, highs, strict=True
            )
        ]
        fig.add_trace(
            go.Scatter(
                x=doses,
                y=rates,
                mode="lines+markers",
                name=str(group),
                legendgroup=str(group),
                offsetgroup=str(group),
                line={"color": colour, "width": 2},
                marker={"color": colour, "size": 8},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "color": colour,
                    "thickness": 1.5,
                    "width": 3,
                    "array": [None if h is None else max(h - r, 0.0) for r, h in zip(rates, highs, strict=True)],
                    "arrayminus": [None if lo is None else max(r - lo, 0.0) for r, lo in zip(rates, lows, strict=True)],
                },
                hovertext=hover,
                hoverinfo="text",
                cliponaxis=False,
            )
        )
    _style(fig, x_title=x_title, y_title=y_title, bottom=70, scattermode="group", scattergap=0.6)
    fig.update_xaxes(dtick=1, tick0=1)
    _percent_axis(fig)
    _suppression_note(fig, int((~shown_mask).sum()), k, "point")
    return fig


def maintenance_bars(
    frame: pd.DataFrame,
    *,
    x_title: str = "Weeks since first dose",
    y_title: str = "Maintenance doses",
    k: int = DEFAULT_MIN_CELL,
) -> go.Figure:
    """Maintenance doses per week since the first dose, as bars.

    frame columns: week, n_doses (+ optional suppressed); n_doses None/NaN = suppressed (no bar; the word
    "suppressed" at that week, and the note).
    """
    if _is_empty(frame):
        return _no_data(x_title, y_title)
    _require(frame, ["week", "n_doses"], "maintenance_bars")
    shown_mask = _shown_mask(frame, ["week", "n_doses"])
    rows = frame.loc[shown_mask].sort_values("week", kind="stable")
    weeks = [_whole(v) for v in rows["week"]]
    counts = [_whole(v) for v in rows["n_doses"]]
    fig = go.Figure(
        go.Bar(
            x=weeks,
            y=counts,
            marker={"color": colour_for("all", ["all"])},
            name="Maintenance doses",
            showlegend=False,
            hovertext=[f"Week {w}<br>n = {_count(c)} maintenance doses" for w, c in zip(weeks, counts, strict=True)],
            hoverinfo="text",
        )
    )
    # A hidden week is marked, so a gap is not read as a week without doses.
    for week in frame.loc[~shown_mask, "week"]:
        if _num(week) is not None:
            fig.add_annotation(
                x=_whole(week),
                y=0,
                xref="x",
                yref="y",
                text="suppressed",
                textangle=-90,
                yanchor="bottom",
                showarrow=False,
                font=_NOTE_FONT,
                name="suppressed_week",
            )
    _style(fig, x_title=x_title, y_title=y_title, bottom=70, showlegend=False, bargap=0.15)
    fig.update_xaxes(type="linear", dtick=1 if len(weeks) <= 26 else None)
    fig.update_yaxes(rangemode="tozero")
    _suppression_note(fig, int((~shown_mask).sum()), k, "week")
    return fig
