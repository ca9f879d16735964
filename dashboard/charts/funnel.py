"""Funnel plot (Spiegelhalter 2005): each clinician's or site's rate against its n, within control limits."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.common import is_empty, require, shown_mask
from dashboard.charts.layout import no_data, percent_axis, style, suppression_note
from dashboard.charts.palette import ALL_COLOUR
from dashboard.charts.values import count, num, pct, whole
from dashboard.escape import plot
from dashboard.privacy import DEFAULT_MIN_CELL

LIMIT_COLUMNS = ["n", "lower_0.95", "upper_0.95", "lower_0.998", "upper_0.998"]


def funnel_plot(
    points: pd.DataFrame,
    limits: pd.DataFrame,
    p0: float | None,
    metric: str = "Response rate",
    *,
    x_title: str = "Clients evaluable (n)",
    k: int = DEFAULT_MIN_CELL,
    ratio: bool = False,
) -> go.Figure:
    """Funnel plot (Spiegelhalter 2005): each group's rate against its n, within limits around the overall rate.

    points columns: group, n, rate (+ optional suppressed); rate a proportion 0–1.
    limits columns: n, lower_0.95, upper_0.95, lower_0.998, upper_0.998 (as from `stats.funnel_limits`).
    p0: the overall rate (a proportion). Traces: the groups (one markers+text trace, coloured per group,
    not in the legend), the overall rate, 95% limits (dashed, lower and upper), 99.8% limits (dotted).
    Groups are never ranked; hover says where a point falls against the limits at its n.
    With `ratio`, rate is an observed / expected ratio and n the expected count (a fraction): the line is 1, the
    axis plain numbers (limits as from `stats.ratio_funnel_limits`, with `expected` renamed n).
    """
    if is_empty(points):
        return no_data(x_title, metric)
    require(points, ["group", "n", "rate"], "funnel_plot")
    if not is_empty(limits):
        require(limits, LIMIT_COLUMNS, "funnel_plot limits")
    shown_rows = shown_mask(points, ["n", "rate"])
    shown = points.loc[shown_rows]
    fig = go.Figure()
    lim = pd.DataFrame(columns=LIMIT_COLUMNS) if is_empty(limits) else limits.sort_values("n", kind="stable")
    if not shown.empty:
        placed = positions(shown, lim)
        for band, (colour, symbol) in BANDS.items():
            part = placed[placed.band == band]
            if len(part):
                fig.add_trace(_points_trace(part, band, colour, symbol, metric, ratio))
    ns = [(num if ratio else whole)(v) for v in lim["n"]]
    p = num(p0)
    span = ns or [whole(v) for v in shown["n"]]
    if p is not None and span:
        fig.add_trace(
            go.Scatter(
                x=[min(span), max(span)],
                y=[p, p],
                mode="lines",
                line={"color": ALL_COLOUR, "width": 1.5},
                name="Expected (O/E = 1)" if ratio else f"Overall ({pct(p, 1)})",
                hoverinfo="skip",
            )
        )
    if ns:
        _add_limits(fig, ns, lim)
    style(fig, x_title=x_title, y_title=metric, bottom=70)
    fig.update_xaxes(rangemode="tozero")
    if not ratio:
        percent_axis(fig)
    suppression_note(fig, int((~shown_rows).sum()), k, "group")
    return fig


WITHIN, OUTSIDE_95, OUTSIDE_998 = "Within the 95% limits", "Outside the 95% limits", "Outside the 99.8% limits"
BANDS = {  # where a point falls: its colour and marker (not colour alone)
    WITHIN: ("#4C78A8", "circle"),
    OUTSIDE_95: ("#F58518", "diamond"),
    OUTSIDE_998: ("#C0392B", "x"),
}


def positions(points: pd.DataFrame, limits: pd.DataFrame) -> pd.DataFrame:
    """Where each shown group falls against the limits at its n: `position` in words ("above the 95% limit"…) and
    `band` (WITHIN, OUTSIDE_95, OUTSIDE_998; WITHIN where no limit is known at that n). Input order kept (groups
    are never ranked). Columns: those of points, position, band."""
    by_n = {num(row["n"]): row for _, row in limits.iterrows()} if not is_empty(limits) else {}
    where = [_funnel_position(num(rate), by_n.get(num(n))) for n, rate in zip(points["n"], points["rate"], strict=True)]
    band = [OUTSIDE_998 if "99.8" in w else OUTSIDE_95 if w.startswith(("above", "below")) else WITHIN for w in where]
    return points.assign(position=where, band=band)


def _points_trace(
    placed: pd.DataFrame, band: str, colour: str, symbol: str, metric: str, ratio: bool = False
) -> go.Scatter:
    """The groups of one band as a markers+text trace in the legend; only points outside the 95% limits are
    labelled (the rest say who they are on hover), so groups of the same size do not pile up their names."""
    hover = []
    for group, n, rate, where in zip(placed["group"], placed["n"], placed["rate"], placed["position"], strict=True):
        value = f"{num(rate):.2f}" if ratio and num(rate) is not None else pct(num(rate), 1)
        size = f"expected {num(n):.1f}" if ratio and num(n) is not None else f"n = {count(n)}"
        hover.append(f"<b>{plot(group)}</b><br>{plot(metric)}: {value}<br>{size}" + (f"<br>{where}" if where else ""))
    labelled = band != WITHIN
    return go.Scatter(
        x=[(num if ratio else whole)(v) for v in placed["n"]],
        y=[num(v) for v in placed["rate"]],
        mode="markers+text" if labelled else "markers",
        text=[plot(g) for g in placed["group"]] if labelled else None,
        textposition="top center",
        textfont={"size": 11},
        marker={"color": colour, "symbol": symbol, "size": 10, "line": {"width": 1, "color": "white"}},
        name=band,
        legendgroup="points",
        hovertext=hover,
        hoverinfo="text",
        cliponaxis=False,
    )


def _add_limits(fig: go.Figure, ns: list, lim: pd.DataFrame) -> None:
    """95% limits dashed, 99.8% limits dotted: lower then upper, one legend entry per level."""
    for level, dash, name in (("0.95", "dash", "95% limits"), ("0.998", "dot", "99.8% limits")):
        for side in ("lower", "upper"):
            fig.add_trace(
                go.Scatter(
                    x=ns,
                    y=[num(v) for v in lim[f"{side}_{level}"]],
                    mode="lines",
                    line={"color": "#888888", "width": 1, "dash": dash},
                    name=name,
                    legendgroup=name,
                    showlegend=side == "lower",
                    hoverinfo="skip",
                )
            )


def _funnel_position(rate: float | None, limit_row) -> str:
    if rate is None or limit_row is None:
        return ""
    lo95, hi95 = num(limit_row["lower_0.95"]), num(limit_row["upper_0.95"])
    lo998, hi998 = num(limit_row["lower_0.998"]), num(limit_row["upper_0.998"])
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
