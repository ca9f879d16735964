"""Severity band at baseline → band at a follow-up timepoint, as a Sankey diagram."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.common import is_empty, require, shown_mask, unique
from dashboard.charts.layout import no_data, style, suppression_note
from dashboard.charts.palette import colour_for, rgba
from dashboard.charts.values import num
from dashboard.escape import plot
from dashboard.privacy import DEFAULT_MIN_CELL


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
    if is_empty(frame):
        return no_data()
    require(frame, ["from_band", "to_band", "n_clients"], "band_sankey")
    bands = unique(v for pair in zip(frame["from_band"], frame["to_band"], strict=True) for v in pair)
    band_names = [str(b) for b in bands]
    shown = shown_mask(frame, ["n_clients"])
    flows = [
        (str(a), str(b), num(n))
        for a, b, n in zip(
            frame.loc[shown, "from_band"], frame.loc[shown, "to_band"], frame.loc[shown, "n_clients"], strict=True
        )
    ]
    flows = [f for f in flows if f[2] and f[2] > 0]
    if not flows:
        fig = no_data()
        suppression_note(fig, int((~shown).sum()), k, "flow")
        return fig
    left = [b for b in band_names if any(f[0] == b for f in flows)]
    right = [b for b in band_names if any(f[1] == b for f in flows)]
    # node labels and the link hovers are plotly text: the band names and headings escaped
    src, dst = plot(from_label), plot(to_label)
    labels = [f"{src}: {plot(b)}" for b in left] + [f"{dst}: {plot(b)}" for b in right]
    index = {("L", b): i for i, b in enumerate(left)} | {("R", b): len(left) + i for i, b in enumerate(right)}
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": labels,
                "color": [colour_for(b, band_names) for b in left + right],
                "pad": 14,
                "thickness": 16,
                "x": [0.001] * len(left) + [0.999] * len(right),
                "y": _positions(left, flows, 0) + _positions(right, flows, 1),
                "hovertemplate": "%{label}<br>n = %{value:,}<extra></extra>",
            },
            link={
                "source": [index["L", a] for a, _, _ in flows],
                "target": [index["R", b] for _, b, _ in flows],
                "value": [int(n) if float(n).is_integer() else n for _, _, n in flows],
                "color": [rgba(colour_for(a, band_names), 0.35) for a, _, _ in flows],
                "customdata": [f"{src}: {plot(a)} → {dst}: {plot(b)}" for a, b, _ in flows],
                "hovertemplate": "%{customdata}<br>n = %{value:,}<extra></extra>",
            },
        )
    )
    style(fig, x_title=None, y_title=None, bottom=50)
    for x, anchor, text in ((0, "left", from_label), (1, "right", to_label)):
        fig.add_annotation(
            text=f"<b>{plot(text)}</b>",
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
    suppression_note(fig, int((~shown).sum()), k, "flow")
    return fig


def _positions(column: list[str], flows: list[tuple[str, str, float]], side: int) -> list[float]:
    """Centre of each node in band order; plotly would otherwise reorder nodes to shorten links."""
    totals = [sum(f[2] for f in flows if f[side] == b) for b in column]
    gap = 0.04
    scale = (1 - gap * (len(column) - 1)) / sum(totals)
    out, top = [], 0.0
    for total in totals:
        out.append(min(max(top + total * scale / 2, 0.001), 0.999))
        top += total * scale + gap
    return out
