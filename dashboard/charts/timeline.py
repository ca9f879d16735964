"""One client's course: scores over days since the first dose on shaded severity bands, with their dosing
sessions (by modality; maintenance doses hollow) and integration sessions marked along the bottom."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.common import is_empty, per_group, require, shown_mask, unique
from dashboard.charts.layout import NOTE_FONT, no_data, style
from dashboard.charts.values import is_missing, num, whole
from dashboard.escape import plot

X_TITLE = "Days since first dose"
# (legend label, is a maintenance dose, marker symbol)
DOSE_KINDS = (("Dose", False, "line-ns"), ("Maintenance dose", True, "diamond-tall-open"))


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
    scores = scores if scores is not None else pd.DataFrame(columns=["day", "score"])
    sessions = sessions if sessions is not None else pd.DataFrame(columns=["day", "session_type"])
    for name, part in (("scores", scores), ("sessions", sessions)):
        _refuse_dates(name, part)
    if is_empty(scores) and is_empty(sessions):
        return no_data(X_TITLE, y_title)
    if not is_empty(scores):
        require(scores, ["day", "score"], "client_timeline scores")
    if not is_empty(sessions):
        require(sessions, ["day", "session_type", "modality", "is_maintenance"], "client_timeline sessions")
    y_min, y_max = (float(v) for v in y_range)
    fig = go.Figure()
    _shade_bands(fig, bands, y_min, y_max)
    if not is_empty(scores):
        fig.add_trace(_score_trace(scores, y_title))
    if not is_empty(sessions):
        _add_sessions(fig, sessions, y_min, y_max - y_min)
    style(fig, x_title=X_TITLE, y_title=y_title, right=130 if bands else 20)
    fig.update_xaxes(type="linear")
    fig.update_yaxes(range=[y_min, y_max])
    return fig


def _refuse_dates(name: str, part: pd.DataFrame) -> None:
    if (
        len(part)
        and "day" in part.columns
        and any(not is_missing(v) and (hasattr(v, "year") or num(v) is None) for v in part["day"])
    ):
        raise TypeError(f"client_timeline: {name}.day must be days since first dose (a number), not a date")


def _shade_bands(fig: go.Figure, bands: Sequence[tuple[float, str]], y_min: float, y_max: float) -> None:
    """Alternate shading of each severity band within the y range, its label to the right of the plot."""
    whole_maxima = all(float(m).is_integer() for m, _ in bands)
    lower = y_min
    for i, (top, label) in enumerate(bands):
        upper = min(float(top) + (0.5 if whole_maxima else 0.0), y_max)
        if upper > lower:
            fill = "rgba(0,114,178,0.07)" if i % 2 == 0 else "rgba(120,120,120,0.08)"
            fig.add_hrect(y0=lower, y1=upper, fillcolor=fill, line_width=0, layer="below")
            fig.add_annotation(
                text=plot(label),
                xref="paper",
                yref="y",
                x=1.005,
                y=(lower + upper) / 2,
                xanchor="left",
                yanchor="middle",
                showarrow=False,
                font=NOTE_FONT,
                name="band_label",
            )
        lower = max(lower, upper)


def _score_trace(scores: pd.DataFrame, y_title: str) -> go.Scatter:
    rows = scores.loc[shown_mask(scores, ["day", "score"])].sort_values("day", kind="stable")
    days = [whole(v) for v in rows["day"]]
    values = [num(v) for v in rows["score"]]
    return go.Scatter(
        x=days,
        y=values,
        mode="lines+markers",
        name=plot(y_title),
        line={"color": "#333333", "width": 2},
        marker={"color": "#333333", "size": 7},
        hovertext=[f"Day {d}<br>{plot(y_title)}: {v:g}" for d, v in zip(days, values, strict=True)],
        hoverinfo="text",
    )


def _add_sessions(fig: go.Figure, sessions: pd.DataFrame, y_min: float, span: float) -> None:
    """Dosing sessions per (dose kind, modality) in the modality's colour, then integration sessions."""
    kind = sessions["session_type"].astype("object").map(lambda v: str(v).strip().casefold())
    day_ok = shown_mask(sessions, ["day"])
    dosing = sessions.loc[(kind == "dosing") & day_ok]
    doses = dosing.assign(
        modality=[None if is_missing(m) else str(m) for m in dosing["modality"]],
        is_maintenance=[not is_missing(v) and bool(v) for v in dosing["is_maintenance"]],
    )
    modalities = unique(doses["modality"])
    for label, is_maint, symbol in DOSE_KINDS:
        for group in per_group(doses, doses["is_maintenance"] == is_maint, column="modality", names=modalities):
            days = [whole(v) for v in group.rows["day"]]
            fig.add_trace(
                go.Scatter(
                    x=days,
                    y=[y_min + 0.03 * span] * len(days),
                    mode="markers",
                    name=f"{label}: {group.label}",
                    marker={
                        "symbol": symbol,
                        "size": 16 if symbol == "line-ns" else 11,
                        "color": group.colour,
                        "line": {"color": group.colour, "width": 2.5 if symbol == "line-ns" else 1.5},
                    },
                    hovertext=[f"Day {d}<br>{label}: {group.label}" for d in days],
                    hoverinfo="text",
                    cliponaxis=False,
                )
            )
    integration = sessions.loc[(kind == "integration") & day_ok]
    if not integration.empty:
        days = [whole(v) for v in integration["day"]]
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
