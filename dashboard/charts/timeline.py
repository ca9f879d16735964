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
SAFETY_COLOUR = "#b3261e"
EXPECTED_COLOUR = "#7a5c00"
# How a hover says when something happened, for the chart's "How is this calculated?"
WHEN_RULE = (
    "Hovers give the time since the client's first dose in whole days and hours: Day 2 + 22 h is 2 days and "
    "22 hours after it (Day 0 is its first 24 hours); earlier times say how long before it they were."
)


def client_timeline(
    scores: pd.DataFrame,
    sessions: pd.DataFrame,
    bands: Sequence[tuple[float, str]],
    y_title: str,
    y_range: tuple[float, float],
    safety_item: int | None = None,
    expected: pd.DataFrame | None = None,
    expected_name: str = "Expected",
) -> go.Figure:
    """One client's scores over days since first dose, with severity bands and their sessions.

    scores columns: day, score; optional: minutes_since_first_dose (for the hover; else from day), course_no,
    doses_before, last_dose_modality, last_dose_mg (the dose before the score), session_type (of the session it
    was taken at) and safety_answer (the answer to item `safety_item`; scores with it above 0 get a cross).
    sessions columns: day, session_type, modality, is_maintenance; optional: minutes_since_first_dose, dose_mg,
    course_no, dose_no. session_type is one of dosing / integration / preparation / assessment (the last two
    are not drawn). expected (optional) columns: day, expected: the expected upper bound, a dashed line.
    bands: (max, label) in rising order, a score <= max being in that band; shaded between the previous
    band's max and this one (at half-points when all maxima are whole numbers), labelled at the right.
    Dosing sessions are ticks along the bottom coloured by modality (maintenance doses hollow diamonds);
    integration sessions are open circles just above them. `day` must be a number, never a date. Each hover
    says when (whole days and hours since the first dose, see WHEN_RULE), the dose (modality, mg) and the session.
    Traces: the score line (when there are scores), then one per (dose kind, modality), then integration, then
    the expected line and the safety crosses when there are any.
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
    rows = pd.DataFrame(columns=["day", "score"])
    if not is_empty(scores):
        rows = scores.loc[shown_mask(scores, ["day", "score"])].sort_values("day", kind="stable")
        fig.add_trace(_score_trace(rows, y_title, safety_item))
    if not is_empty(sessions):
        _add_sessions(fig, sessions, y_min, y_max - y_min)
    if expected is not None and not is_empty(expected):
        _add_expected(fig, expected, expected_name)
    if safety_item is not None and len(rows) and "safety_answer" in rows.columns:
        _add_safety_crosses(fig, rows, y_title, safety_item)
    style(fig, x_title=X_TITLE, y_title=y_title, right=130 if bands else 20)
    fig.update_xaxes(type="linear")
    fig.update_yaxes(range=[y_min, y_max])
    return fig


def since_first_dose(minutes: int) -> str:
    """Elapsed time as the hovers say it (WHEN_RULE): 'Day 2 + 22 h', or '2 d 19 h before the first dose'."""
    if minutes >= 0:
        return f"Day {minutes // 1440} + {minutes % 1440 // 60} h"
    days, hours = divmod(-minutes // 60, 24)
    if days:
        return f"{days} d {hours} h before the first dose"
    return f"{hours} h before the first dose" if hours else f"{-minutes} min before the first dose"


def _when(rows: pd.DataFrame) -> list[str]:
    """Each row's time since the first dose, from its whole minutes (else its day, to the nearest minute)."""
    minutes = rows["minutes_since_first_dose"] if "minutes_since_first_dose" in rows.columns else None
    out = []
    for i, day in enumerate(rows["day"]):
        m = None if minutes is None else num(minutes.iloc[i])
        out.append(since_first_dose(int(m) if m is not None else round(num(day) * 1440)))
    return out


def _value(row: pd.Series, column: str):
    """A row's value in an optional column; None where the column is absent or the value missing."""
    value = row.get(column)
    return None if is_missing(value) else value


def _dose_text(modality, mg) -> str:
    """'IV infusion, 35 mg' (or 'dose not recorded')."""
    amount = "dose not recorded" if num(mg) is None else f"{num(mg):g} mg"
    return amount if modality is None else f"{plot(modality)}, {amount}"


def _course(row: pd.Series) -> str:
    course = num(_value(row, "course_no"))
    return f" of course {int(course)}" if course is not None and course > 1 else ""


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


def _score_hovers(rows: pd.DataFrame, y_title: str, safety_item: int | None) -> list[str]:
    """When, the score, the safety item's answer, the dose before it and the session it was taken at."""
    texts = []
    for when, (_, row) in zip(_when(rows), rows.iterrows(), strict=True):
        lines = [when, f"{plot(y_title)}: {num(row['score']):g}"]
        answer = num(_value(row, "safety_answer"))
        if safety_item is not None and answer is not None:
            lines.append(f"Item {safety_item}: {answer:g}")
        if "doses_before" in rows.columns:
            doses = num(_value(row, "doses_before")) or 0
            if doses:
                dose = _dose_text(_value(row, "last_dose_modality"), _value(row, "last_dose_mg"))
                lines.append(f"Taken after dose {int(doses)}{_course(row)}: {dose}")
            else:
                lines.append(f"No dose yet{_course(row)}")
        if "session_type" in rows.columns:
            session = _value(row, "session_type")
            lines.append(f"Session: {plot(session)}" if session is not None else "No session recorded at this time")
        texts.append("<br>".join(lines))
    return texts


def _score_trace(rows: pd.DataFrame, y_title: str, safety_item: int | None) -> go.Scatter:
    return go.Scatter(
        x=[whole(v) for v in rows["day"]],
        y=[num(v) for v in rows["score"]],
        mode="lines+markers",
        name=plot(y_title),
        line={"color": "#333333", "width": 2},
        marker={"color": "#333333", "size": 7},
        hovertext=_score_hovers(rows, y_title, safety_item),
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
                    hovertext=[
                        f"{when}<br>{label}{_dose_no(row)}{_course(row)}: "
                        f"{_dose_text(group.name, _value(row, 'dose_mg'))}<br>Session: dosing"
                        for when, (_, row) in zip(_when(group.rows), group.rows.iterrows(), strict=True)
                    ],
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
                hovertext=[f"{when}<br>Session: integration" for when in _when(integration)],
                hoverinfo="text",
                cliponaxis=False,
            )
        )


def _dose_no(row: pd.Series) -> str:
    n = num(_value(row, "dose_no"))
    return f" {int(n)}" if n is not None else ""


def _add_expected(fig: go.Figure, expected: pd.DataFrame, name: str) -> None:
    """The expected upper bound, a dashed line."""
    rows = expected.loc[shown_mask(expected, ["day", "expected"])].sort_values("day", kind="stable")
    if rows.empty:
        return
    fig.add_trace(
        go.Scatter(
            x=[whole(v) for v in rows["day"]],
            y=[num(v) for v in rows["expected"]],
            mode="lines",
            name=plot(name),
            line={"dash": "dash", "color": EXPECTED_COLOUR, "width": 1.5},
            hovertext=[
                f"{when}<br>Expected ≤ {num(v):.1f}" for when, v in zip(_when(rows), rows["expected"], strict=True)
            ],
            hoverinfo="text",
        )
    )


def _add_safety_crosses(fig: go.Figure, rows: pd.DataFrame, y_title: str, safety_item: int) -> None:
    """A cross on each score whose safety item is above 0, with the score's own hover."""
    above = rows[[(num(v) or 0) > 0 for v in rows["safety_answer"]]]
    if above.empty:
        return
    fig.add_trace(
        go.Scatter(
            x=[whole(v) for v in above["day"]],
            y=[num(v) for v in above["score"]],
            mode="markers",
            name=f"Item {safety_item} (safety item) above 0",
            marker={"symbol": "x", "size": 11, "color": SAFETY_COLOUR},
            hovertext=_score_hovers(above, y_title, safety_item),
            hoverinfo="text",
        )
    )
