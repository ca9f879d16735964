"""Kaplan–Meier step curves with 95% CI bands, and the numbers-at-risk table underneath."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.common import Group, intervals, is_empty, per_group, require, shown_mask
from dashboard.charts.layout import no_data, note_below, style, suppression_note
from dashboard.charts.palette import rgba
from dashboard.charts.values import num, pct, whole
from dashboard.escape import plot
from dashboard.privacy import DEFAULT_MIN_CELL, count_label

DEFAULT_AT_RISK_TIMES: tuple[int, ...] = (0, 7, 14, 28, 56, 84, 182)


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
    at_risk_times: where to count (default 0, 7, 14, 28, 56, 84, 182 up to the last time in the frame, each at
    least a tenth of that last time after the one before: _spaced).
    The count at t comes from the last shown row of the group with time <= t: its at_risk, less its events and
    censored when those columns are there (then it is the number still followed just after that row, as
    lifelines counts it; without them it is the at_risk of that row). Counts under k show as "<k".
    Layout: row 1 (xaxis/yaxis) the curves, row 2 (xaxis2/yaxis2) the table, one text trace per group.
    Traces per group in row 1: CI lower edge, CI upper edge (filled to the lower), the step line.
    """
    if is_empty(frame):
        return no_data(x_title, y_title)
    require(frame, ["group", "time", "survival", "ci_low", "ci_high", "at_risk"], "km_curve")
    shown = shown_mask(frame, ["time", "survival"])
    groups = per_group(frame, shown, sort_by="time")
    if not shown.any():
        fig = no_data(x_title, y_title)
        suppression_note(fig, len(groups.names), k, "group")
        return fig
    has_removed = {"events", "censored"} <= set(frame.columns)
    max_time = max(num(t) for t in frame.loc[shown, "time"])
    if at_risk_times is None:
        times = _spaced([t for t in DEFAULT_AT_RISK_TIMES if t <= max_time], max_time)
    else:
        times = sorted({whole(t) for t in at_risk_times if num(t) is not None})
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.16)
    for group in groups:
        _add_curve(fig, group, x_title, y_title, k)
    for group in groups:
        _add_at_risk_row(fig, group, times, has_removed, k)
    drawn = [g.name for g in groups]
    _axes(fig, x_title, y_title, [g.label for g in groups], times)
    suppression_note(fig, len(groups.empty), k, "group")
    dropped_points = int((~shown & frame["group"].isin(drawn)).sum())
    if dropped_points > 0:
        note_below(
            fig,
            f"{dropped_points} time point{'s' if dropped_points != 1 else ''} suppressed (fewer than {k} clients)",
            name="suppression_note",
            left=True,
        )
    return fig


def _add_curve(fig: go.Figure, group: Group, x_title: str, y_title: str, k: int) -> None:
    """The group's CI band (lower edge, then upper edge filled to it) and its step line, in row 1."""
    rows, colour = group.rows, group.colour
    ts = [whole(v) for v in rows["time"]]
    surv, lows, highs = intervals(rows, "survival")
    edge = {"width": 0, "color": colour, "shape": "hv"}
    for ys, fill in ((lows, {}), (highs, {"fill": "tonexty", "fillcolor": rgba(colour, 0.15)})):
        fig.add_trace(
            go.Scatter(
                x=ts,
                y=ys,
                mode="lines",
                line=edge,
                name=f"{group.label} 95% CI",
                legendgroup=group.label,
                showlegend=False,
                hoverinfo="skip",
                **fill,
            ),
            row=1,
            col=1,
        )
    head, x_name, y_name = f"<b>{group.label}</b>", plot(x_title), plot(y_title)
    hover = [
        f"{head}<br>{x_name}: {t:g}<br>{y_name}: {pct(s, 1)}"
        + ("" if lo is None or hi is None else f"<br>95% CI: {pct(lo)}–{pct(hi)}")
        + f"<br>At risk: {count_label(whole(n), k)}"
        for t, s, lo, hi, n in zip(ts, surv, lows, highs, rows["at_risk"], strict=True)
    ]
    fig.add_trace(
        go.Scatter(
            x=ts,
            y=surv,
            mode="lines",
            line={"color": colour, "width": 2, "shape": "hv"},
            name=group.label,
            legendgroup=group.label,
            hovertext=hover,
            hoverinfo="text",
        ),
        row=1,
        col=1,
    )


AT_RISK_MIN_GAP = 0.1  # default times closer than this share of the axis to the last one kept are left out


def _spaced(times: list, max_time: float) -> list:
    """The default at-risk times, each at least AT_RISK_MIN_GAP x the last time from the one before (0 kept), so
    that their numbers (and the axis ticks) do not run into each other on a long axis or a narrow screen."""
    out: list = []
    for t in times:
        if not out or t - out[-1] >= AT_RISK_MIN_GAP * max_time:
            out.append(t)
    return out


def _at_risk(rows: pd.DataFrame, t: float, has_removed: bool, k: int) -> str:
    """The number at risk at t, from the last row at or before t ('–' when there is none)."""
    before = rows.loc[[num(v) <= t for v in rows["time"]]]
    if before.empty:
        return "–"
    last = before.iloc[-1]
    if "remaining" in rows.columns:  # the engine's own count after the row's events (rounded where it is shared)
        n = num(last["remaining"])
        return f"<{k}" if n is None else count_label(round(n), k)
    n = num(last["at_risk"])
    if n is not None and has_removed:
        n -= (num(last["events"]) or 0) + (num(last["censored"]) or 0)
    return "–" if n is None else count_label(round(n), k)


def _add_at_risk_row(fig: go.Figure, group: Group, times: list, has_removed: bool, k: int) -> None:
    """The group's row of the numbers-at-risk table (row 2), in its colour."""
    fig.add_trace(
        go.Scatter(
            x=list(times),
            y=[group.label] * len(times),
            mode="text",
            text=[_at_risk(group.rows, t, has_removed, k) for t in times],
            textfont={"color": group.colour, "size": 11},
            name=f"{group.label} at risk",
            legendgroup=group.label,
            showlegend=False,
            hoverinfo="skip",
            cliponaxis=False,  # the top row's numbers sit on the panel's edge
        ),
        row=2,
        col=1,
    )


def _axes(fig: go.Figure, x_title: str, y_title: str, labels: list[str], times: list) -> None:
    style(fig, x_title=None, y_title=None, bottom=60, height=520)
    fig.update_xaxes(title_text=plot(x_title), showticklabels=True, row=1, col=1)
    fig.update_yaxes(title_text=plot(y_title), tickformat=".0%", range=[0, 1.02], row=1, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=2, col=1)
    fig.update_yaxes(
        title_text="At risk",
        type="category",
        categoryorder="array",
        categoryarray=labels[::-1],
        showgrid=False,
        zeroline=False,
        row=2,
        col=1,
    )
    if times:
        fig.update_xaxes(tickmode="array", tickvals=list(times), row=1, col=1)
