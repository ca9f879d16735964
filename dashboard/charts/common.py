"""What the charts share about their input frames: required columns, which rows may be drawn, the groups
(one helper, `per_group`, for their order, colour, rows and which have nothing to draw) and the interval
columns (one helper, `error_bars`, for Wilson CI error bars)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from dashboard.charts.palette import colour_for
from dashboard.charts.values import is_missing, num
from dashboard.escape import plot


def is_empty(frame) -> bool:
    return frame is None or len(frame) == 0


def require(frame: pd.DataFrame, columns: Sequence[str], chart: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns))
        raise ValueError(f"{chart}: frame lacks column(s) {', '.join(missing)}; it has {have}")


def shown_mask(frame: pd.DataFrame, value_columns: Sequence[str]) -> pd.Series:
    """True for rows that may be drawn: every value column present and `suppressed` not True."""
    ok = pd.Series(True, index=frame.index)
    for col in value_columns:
        ok &= pd.Series([num(v) is not None for v in frame[col]], index=frame.index)
    if "suppressed" in frame.columns:
        ok &= pd.Series([not (not is_missing(v) and bool(v)) for v in frame["suppressed"]], index=frame.index)
    return ok


def unique(values: Iterable) -> list:
    """Distinct values in order of first appearance, missing values left out."""
    seen: dict = {}
    for v in values:
        if not is_missing(v):
            seen.setdefault(v, None)
    return list(seen)


# ------------------------------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class Group:
    """One group to draw: its value in the group column, its colour and its shown rows."""

    name: object
    colour: str
    rows: pd.DataFrame = field(repr=False)

    @property
    def label(self) -> str:
        """The trace name, legend group and hover title: the same string on every trace of the group, escaped for
        plotly (a group named <b>x</b> is shown as those characters)."""
        return plot(self.name)


@dataclass(frozen=True)
class Groups:
    """The groups of one chart. Iterating gives the drawn ones (in `names` order)."""

    names: list  # every group, in order of first appearance, hidden ones too: the basis of the colours
    drawn: list[Group]  # the groups with at least one row to draw
    empty: list  # the names of the groups with nothing to draw (no rows, or every row suppressed)

    def __iter__(self):
        return iter(self.drawn)


def per_group(
    frame: pd.DataFrame,
    shown: pd.Series | None = None,
    *,
    column: str = "group",
    sort_by: str | None = None,
    names: Sequence | None = None,
) -> Groups:
    """Split `frame` into its groups for drawing, the one way every chart does it.

    Groups are the distinct values of `column` in order of first appearance (missing left out), or `names`
    when given (then rows of other groups are ignored). Each group's colour is `colour_for(name, names)`
    over all the names, suppressed groups included, so colours do not shift when a group drops out. A group's
    rows are those where `shown` (a boolean mask on frame, e.g. from `shown_mask`; default all rows) is
    True, stably sorted by `sort_by` when given. A group without any such row is not drawn: it is named in
    `empty` instead.
    """
    names = unique(frame[column]) if names is None else list(names)
    visible = frame if shown is None else frame.loc[shown]
    drawn, empty = [], []
    for name in names:
        rows = visible.loc[visible[column] == name]
        if rows.empty:
            empty.append(name)
            continue
        if sort_by is not None:
            rows = rows.sort_values(sort_by, kind="stable")
        drawn.append(Group(name, colour_for(name, names), rows))
    return Groups(names, drawn, empty)


# ---------------------------------------------------------------------------------------------- intervals


def intervals(
    rows: pd.DataFrame, value: str, low: str = "ci_low", high: str = "ci_high"
) -> tuple[list[float | None], list[float | None], list[float | None]]:
    """The value column and its CI limits as plain lists (None for a gap)."""
    return [num(v) for v in rows[value]], [num(v) for v in rows[low]], [num(v) for v in rows[high]]


def error_bars(
    values: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    colour: str,
    *,
    width: float = 4,
    thickness: float = 1.5,
) -> dict:
    """A plotly `error_y` for asymmetric 95% intervals (Wilson, for rates) given as limits, not distances.

    array = high − value and arrayminus = value − low, floored at 0 (a limit on the wrong side of its value
    draws no bar rather than a reversed one); None where the limit or the value is missing (no bar).
    """
    plus = [None if v is None or h is None else max(h - v, 0.0) for v, h in zip(values, highs, strict=True)]
    minus = [None if v is None or lo is None else max(v - lo, 0.0) for v, lo in zip(values, lows, strict=True)]
    return {
        "type": "data",
        "symmetric": False,
        "array": plus,
        "arrayminus": minus,
        "color": colour,
        "thickness": thickness,
        "width": width,
    }
