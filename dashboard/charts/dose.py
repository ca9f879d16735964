"""Dose-anchored charts: early improvement after each dosing session (with Wilson error bars) and
maintenance doses per week."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.common import error_bars, intervals, is_empty, per_group, require, shown_mask
from dashboard.charts.layout import NOTE_FONT, no_data, percent_axis, style, suppression_note
from dashboard.charts.palette import colour_for
from dashboard.charts.values import count, num, rate_hover, whole
from dashboard.privacy import DEFAULT_MIN_CELL


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
    if is_empty(frame):
        return no_data(x_title, y_title)
    require(frame, ["group", "dose_no", "rate", "ci_low", "ci_high", "numerator", "denominator"], "improvement_by_dose")
    shown = shown_mask(frame, ["dose_no", "rate"])
    fig = go.Figure()
    for group in per_group(frame, shown, sort_by="dose_no"):
        rows = group.rows
        doses = [whole(v) for v in rows["dose_no"]]
        rates, lows, highs = intervals(rows, "rate")
        hover = [
            f"<b>{group.label}</b><br>After dose {d}: {rate_hover(n, den, r, lo, hi)}"
            for d, n, den, r, lo, hi in zip(
                doses, rows["numerator"], rows["denominator"], rates, lows, highs, strict=True
            )
        ]
        doses, rates, lows, highs, hover = _break_at_gaps(doses, rates, lows, highs, hover)
        fig.add_trace(
            go.Scatter(
                x=doses,
                y=rates,
                mode="lines+markers",
                connectgaps=False,
                name=group.label,
                legendgroup=group.label,
                offsetgroup=group.label,
                line={"color": group.colour, "width": 2},
                marker={"color": group.colour, "size": 8},
                error_y=error_bars(rates, lows, highs, group.colour, width=3),
                hovertext=hover,
                hoverinfo="text",
                cliponaxis=False,
            )
        )
    style(fig, x_title=x_title, y_title=y_title, bottom=70, scattermode="group", scattergap=0.6)
    fig.update_xaxes(dtick=1, tick0=1)
    percent_axis(fig)
    suppression_note(fig, int((~shown).sum()), k, "point")
    return fig


def _break_at_gaps(doses: list, *columns: list) -> tuple[list, ...]:
    """A gap (None) after each dose whose next shown dose is not the next one (a dose suppressed or without
    clients between them), so the line is broken there instead of joining across it."""
    out: list[list] = [[] for _ in range(len(columns) + 1)]
    for i, dose in enumerate(doses):
        if i and dose is not None and doses[i - 1] is not None and dose > doses[i - 1] + 1:
            out[0].append(doses[i - 1] + 1)
            for column in out[1:]:
                column.append(None)
        out[0].append(dose)
        for column, values in zip(out[1:], columns, strict=True):
            column.append(values[i])
    return tuple(out)


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
    if is_empty(frame):
        return no_data(x_title, y_title)
    require(frame, ["week", "n_doses"], "maintenance_bars")
    shown = shown_mask(frame, ["week", "n_doses"])
    rows = frame.loc[shown].sort_values("week", kind="stable")
    weeks = [whole(v) for v in rows["week"]]
    counts = [whole(v) for v in rows["n_doses"]]
    fig = go.Figure(
        go.Bar(
            x=weeks,
            y=counts,
            marker={"color": colour_for("all", ["all"])},
            name="Maintenance doses",
            showlegend=False,
            hovertext=[f"Week {w}<br>n = {count(c)} maintenance doses" for w, c in zip(weeks, counts, strict=True)],
            hoverinfo="text",
        )
    )
    # A hidden week is marked, so a gap is not read as a week without doses.
    for week in frame.loc[~shown, "week"]:
        if num(week) is not None:
            fig.add_annotation(
                x=whole(week),
                y=0,
                xref="x",
                yref="y",
                text="suppressed",
                textangle=-90,
                yanchor="bottom",
                showarrow=False,
                font=NOTE_FONT,
                name="suppressed_week",
            )
    style(fig, x_title=x_title, y_title=y_title, bottom=70, showlegend=False, bargap=0.15)
    fig.update_xaxes(type="linear", dtick=1 if len(weeks) <= 26 else None)
    fig.update_yaxes(rangemode="tozero")
    suppression_note(fig, int((~shown).sum()), k, "week")
    return fig
