"""Response / remission rates with Wilson 95% error bars, groups side by side at each label, and optional
published reference lines."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.common import error_bars, intervals, is_empty, per_group, require, shown_mask, unique
from dashboard.charts.layout import NOTE_FONT, no_data, note_below, percent_axis, style, suppression_note
from dashboard.charts.values import num, pct, rate_hover
from dashboard.escape import plot
from dashboard.privacy import DEFAULT_MIN_CELL


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
    references: optional list of {label, value, definition, n, at_label} (value a proportion): a dashed mark
    across the category `at_label` only (a published figure belongs at its own timepoint and denominator; one
    without an `at_label` among the chart's labels is not drawn), labelled beside it with the definition on
    hover, and each drawn reference's source, n and definition listed under the chart.
    """
    if is_empty(frame):
        return no_data(x_title, y_title)
    require(frame, ["group", "label", "rate", "ci_low", "ci_high", "numerator", "denominator"], "rates_with_ci")
    labels = [plot(v) for v in unique(frame["label"])]
    shown = shown_mask(frame, ["rate"])
    fig = go.Figure()
    for group in per_group(frame, shown):
        rows = group.rows
        rates, lows, highs = intervals(rows, "rate")
        hover = [
            f"<b>{group.label}</b><br>{plot(label)}: {rate_hover(n, d, r, lo, hi)}"
            for label, n, d, r, lo, hi in zip(
                rows["label"], rows["numerator"], rows["denominator"], rates, lows, highs, strict=True
            )
        ]
        fig.add_trace(
            go.Scatter(
                x=[plot(v) for v in rows["label"]],
                y=rates,
                mode="markers",
                name=group.label,
                legendgroup=group.label,
                offsetgroup=group.label,
                marker={"color": group.colour, "size": 10},
                error_y=error_bars(rates, lows, highs, group.colour, width=4),
                hovertext=hover,
                hoverinfo="text",
                cliponaxis=False,
            )
        )
    refs = [r for r in (references or []) if num(r.get("value")) is not None and plot(r.get("at_label")) in labels]
    style(fig, x_title=x_title, y_title=y_title, bottom=70 + 18 * len(refs), scattermode="group", scattergap=0.4)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)
    percent_axis(fig)
    _reference_marks(fig, refs, labels)
    suppression_note(fig, int((~shown).sum()), k, "group")
    return fig


def _rate_at_right_end(fig: go.Figure, label: str) -> float | None:
    """The rate drawn rightmost in a category: the last group's with a rate there (groups sit side by side in the
    order of their traces)."""
    for trace in reversed(fig.data):
        xs = list(trace.x if trace.x is not None else [])
        if label in xs:
            rate = num(list(trace.y)[xs.index(label)])
            if rate is not None:
                return rate
    return None


def _reference_marks(fig: go.Figure, refs: list[dict], labels: list[str]) -> None:
    """Each reference as a dashed mark across its own category, labelled at its right end on the side of the mark
    away from the rate drawn there (above it unless that rate is higher, and above any mark under 10%, which has no
    room below); then, under the chart, each one's source, value, n and definition."""
    for ref in refs:
        at = labels.index(plot(ref["at_label"]))
        label, definition = plot(ref.get("label", "")), plot(ref.get("definition", "") or "")
        value = num(ref["value"])
        beside = _rate_at_right_end(fig, labels[at])
        below = beside is not None and beside > value and value >= 0.1
        fig.add_shape(
            type="line",
            xref="x",
            yref="y",
            x0=at - 0.45,
            x1=at + 0.45,
            y0=value,
            y1=value,
            line={"dash": "dash", "color": "#777777", "width": 1.5},
            name="reference_mark",
        )
        fig.add_annotation(
            x=at + 0.45,
            y=value,
            xref="x",
            yref="y",
            text=label,
            hovertext=definition or label,
            font=NOTE_FONT,
            xanchor="right",
            yanchor="top" if below else "bottom",
            showarrow=False,
            name="reference_label",
        )
    for ref in refs:
        definition = plot(ref.get("definition", "") or "")
        n = plot(ref.get("n", "") or "")
        note_below(
            fig,
            f"Reference “{plot(ref.get('label', ''))}” at {plot(ref['at_label'])}: {pct(num(ref['value']), 1)}"
            + (f", n = {n}" if n else "")
            + (f"; {definition}" if definition else ""),
            name="reference_definition",
            left=True,
        )
