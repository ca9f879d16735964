"""Shared layout: the compact white style, the 'No data for this selection' figure, notes under the plot
(suppression counts, reference definitions) and the 0–100% axis. Titles are escaped here (escape.plot); every
other text a chart takes from its frame is escaped where the chart puts it on the figure."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from dashboard.escape import plot

TEMPLATE = "outcomes_white"
# plotly_white's look for the traces and layout parts these charts use, and nothing else: plotly copies and checks
# a figure's whole template each time a figure is made or copied, which for plotly_white itself (every trace type,
# polar, geo, 3-D scenes) cost 6–16 ms a figure, most of a filter change's Python time on a page of six charts.
# `style` gives it to every chart; it is also made the default when this module is imported, so that a figure is
# cheap to make (Streamlit makes its own template the default when it is imported, which costs less than plotly's).
_WHITE = pio.templates["plotly_white"]
pio.templates[TEMPLATE] = go.layout.Template(
    layout={
        k: v
        for k, v in _WHITE.layout.to_plotly_json().items()
        if k not in ("polar", "ternary", "scene", "geo", "coloraxis", "colorscale")
    },
    data={"scatter": _WHITE.data.scatter, "bar": _WHITE.data.bar},
)
pio.templates.default = TEMPLATE

NO_DATA_TEXT = "No data for this selection"
NOTE_FONT = {"size": 11, "color": "#666666"}


def style(
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
        template=TEMPLATE,  # by name, whatever the default: importing Streamlit makes its own template the default
        title={"text": plot(title), "x": 0, "xanchor": "left"} if title else None,
        margin={"l": 60, "r": right, "t": 80 if title else 40, "b": bottom},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        hoverlabel={"align": "left"},
        **layout,
    )
    if x_title is not None:
        fig.update_layout(xaxis_title_text=plot(x_title))
    if y_title is not None:
        fig.update_layout(yaxis_title_text=plot(y_title))
    return fig


def no_data(x_title: str | None = None, y_title: str | None = None, title: str | None = None) -> go.Figure:
    """An empty figure with the centred note NO_DATA_TEXT and no axes."""
    fig = go.Figure()
    style(fig, x_title=x_title, y_title=y_title, title=title)
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


NOTE_NAMES = ("suppression_note", "reference_definition", "missing_groups")  # the notes stacked under a plot
NOTE_TOP, NOTE_STEP = -58, 17  # px below the plot area: the first note clears the x axis's title; then a line each
NOTE_CHARS = 44  # a note wraps at this many characters, so it fits a chart in half of a narrow page


def note_below(fig: go.Figure, text: str, *, name: str, left: bool = False) -> None:
    """A small grey note under the plot area and its x axis title, at its right edge (or its left edge when `left`),
    wrapped at NOTE_CHARS characters; each further note goes below the lines of those before it, whatever its side,
    and the bottom margin grows to hold them all."""
    import textwrap

    below = [a for a in fig.layout.annotations if a.name in NOTE_NAMES]
    yshift = NOTE_TOP - NOTE_STEP * sum(1 + (a.text or "").count("<br>") for a in below)
    lines = textwrap.wrap(text, NOTE_CHARS, break_long_words=False) or [text]
    fig.add_annotation(
        text="<br>".join(lines),
        xref="paper",
        yref="paper",
        x=0 if left else 1,
        y=0,
        xanchor="left" if left else "right",
        yanchor="top",
        yshift=yshift,
        showarrow=False,
        font=NOTE_FONT,
        name=name,
    )
    margin = fig.layout.margin.b if fig.layout.margin.b is not None else 50
    fig.update_layout(margin_b=max(margin, -yshift + NOTE_STEP * len(lines) + 6))


def suppression_note(fig: go.Figure, dropped: int, k: int, noun: str = "group") -> None:
    """A note under the plot, right-aligned, when anything was dropped: 'N groups suppressed (...)'."""
    if dropped <= 0:
        return
    plural = noun if dropped == 1 else f"{noun}s"
    # a cell may also be hidden as the complement of a small one, so the note does not say every one was small
    note_below(
        fig, f"{dropped} {plural} suppressed (counts under {k}, or hidden alongside one)", name="suppression_note"
    )


def percent_axis(fig: go.Figure, **kwargs) -> None:
    fig.update_yaxes(tickformat=".0%", range=[0, 1], **kwargs)
