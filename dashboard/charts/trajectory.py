"""Mean score over time since the first dose, one line per group with its 95% CI as a band."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.common import Group, intervals, is_empty, per_group, require, shown_mask, unique
from dashboard.charts.layout import no_data, style, suppression_note
from dashboard.charts.palette import rgba
from dashboard.charts.values import count, plain, whole
from dashboard.escape import plot
from dashboard.privacy import DEFAULT_MIN_CELL


def trajectory_with_ci(
    frame: pd.DataFrame, x_title: str, y_title: str, title: str | None = None, *, k: int = DEFAULT_MIN_CELL
) -> go.Figure:
    """Mean score by dose-anchored time, one line per group with its 95% CI as a translucent band.

    frame columns: group, x, mean, ci_low, ci_high, n_clients (+ optional suppressed).
    x is numeric (days/weeks since first dose; sorted) or categorical (kept in frame order). A row whose
    mean is missing or that is flagged suppressed is not drawn; the band covers rows that have both limits.
    Traces per group: the band (legendgroup = group, not in the legend), then the line.
    """
    if is_empty(frame):
        return no_data(x_title, y_title, title)
    require(frame, ["group", "x", "mean", "ci_low", "ci_high", "n_clients"], "trajectory_with_ci")
    shown = shown_mask(frame, ["mean"])
    numeric_x = pd.api.types.is_numeric_dtype(frame["x"])
    fig = go.Figure()
    for group in per_group(frame, shown, sort_by="x" if numeric_x else None):
        _add_group(fig, group, numeric_x, x_title)
    style(fig, x_title=x_title, y_title=y_title, title=title, bottom=70)
    if not numeric_x:
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=[plot(v) for v in unique(frame["x"])])
    suppression_note(fig, int((~shown).sum()), k, "point")
    return fig


def _add_group(fig: go.Figure, group: Group, numeric_x: bool, x_title: str) -> None:
    rows, colour = group.rows, group.colour
    xs = [(whole(v) if numeric_x else plot(plain(v))) for v in rows["x"]]
    means, lows, highs = intervals(rows, "mean")
    band = [(x, lo, hi) for x, lo, hi in zip(xs, lows, highs, strict=True) if lo is not None and hi is not None]
    if band:
        bx, blo, bhi = zip(*band, strict=True)
        fig.add_trace(
            go.Scatter(
                x=list(bx) + list(bx)[::-1],
                y=list(bhi) + list(blo)[::-1],
                fill="toself",
                fillcolor=rgba(colour, 0.15),
                line={"width": 0, "color": colour},
                mode="lines",
                name=f"{group.label} 95% CI",
                legendgroup=group.label,
                showlegend=False,
                hoverinfo="skip",
            )
        )
    hover = [
        f"<b>{group.label}</b><br>{plot(x_title)}: {x}<br>Mean: {m:.1f}<br>95% CI: "
        + ("–" if lo is None or hi is None else f"{lo:.1f} to {hi:.1f}")
        + f"<br>n = {count(n)}"
        for x, m, lo, hi, n in zip(xs, means, lows, highs, rows["n_clients"], strict=True)
    ]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=means,
            mode="lines+markers",
            name=group.label,
            legendgroup=group.label,
            line={"color": colour, "width": 2},
            marker={"color": colour, "size": 7},
            hovertext=hover,
            hoverinfo="text",
        )
    )
