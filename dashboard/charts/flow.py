"""The denominator flow (started → has baseline → … → included) as horizontal bars."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.common import is_empty, require, shown_mask
from dashboard.charts.layout import NOTE_FONT, no_data, style, suppression_note
from dashboard.charts.palette import colour_for
from dashboard.charts.values import count, num, pct, whole
from dashboard.escape import plot
from dashboard.privacy import DEFAULT_MIN_CELL


def flow_chart(
    frame: pd.DataFrame, *, x_title: str = "Clients", y_title: str = "Stage", k: int = DEFAULT_MIN_CELL
) -> go.Figure:
    """The denominator flow (started → has baseline → … → included) as horizontal bars, first stage on top.

    frame columns: stage, n (in order; n None/NaN or optional suppressed True = suppressed: no bar, the word
    "suppressed" in its place). Bar text: n and its percent of the first stage (when that is shown).
    """
    if is_empty(frame):
        return no_data(x_title, y_title)
    require(frame, ["stage", "n"], "flow_chart")
    stages = [plot(s) for s in frame["stage"]]
    shown = shown_mask(frame, ["n"])
    first = num(frame["n"].iloc[0]) if bool(shown.iloc[0]) else None
    xs, texts, hover = [], [], []
    for stage, n, ok in zip(stages, frame["n"], shown, strict=True):
        if not ok:
            xs.append(None)
            texts.append("")
            hover.append("")
            continue
        value = num(n)
        share = f" ({pct(value / first)})" if first else ""
        xs.append(whole(n))
        texts.append(f"{count(n)}{share}")
        hover.append(
            f"<b>{stage}</b><br>n = {count(n)}" + (f"<br>{pct(value / first, 1)} of {stages[0]}" if first else "")
        )
    fig = go.Figure(
        go.Bar(
            x=xs,
            y=stages,
            orientation="h",
            marker={"color": colour_for("all", ["all"])},
            text=texts,
            textposition="auto",
            hovertext=hover,
            hoverinfo="text",
            name="Clients",
            showlegend=False,
            cliponaxis=False,
        )
    )
    for stage, ok in zip(stages, shown, strict=True):
        if not ok:
            fig.add_annotation(
                x=0,
                y=stage,
                xref="x",
                yref="y",
                text="suppressed",
                showarrow=False,
                xanchor="left",
                font=NOTE_FONT,
                name="suppressed_stage",
            )
    style(fig, x_title=x_title, y_title=y_title, bottom=70, showlegend=False)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=stages, autorange="reversed")
    fig.update_xaxes(rangemode="tozero")
    suppression_note(fig, int((~shown).sum()), k, "stage")
    return fig
