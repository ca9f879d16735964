"""Cell values for plotly: missing-value tests, plain numbers (no numpy scalars, None for a gap) and the short
text forms used in hovers (percentages, counts, 'k / n (rate, 95% CI lo–hi)')."""

from __future__ import annotations

import math

import pandas as pd


def is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(math.isnan(value))
    except (TypeError, ValueError):
        return False


def num(value) -> float | None:
    """A plain float for plotly, or None for a gap."""
    if is_missing(value):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def plain(value):
    """Numpy scalars as plain Python values (ints stay ints), so the figure JSON holds plain lists."""
    if is_missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def whole(value) -> int | float | None:
    """A number as an int when it is whole (counts, days, weeks), else a float; None for a gap."""
    n = num(value)
    return int(n) if n is not None and n.is_integer() else n


def pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def count(value) -> str:
    n = num(value)
    return "–" if n is None else f"{round(n):,}"


def rate_hover(k, n, rate, lo, hi) -> str:
    """'k / n (rate, 95% CI lo–hi)'."""
    ci = "" if lo is None or hi is None else f", 95% CI {pct(lo)}–{pct(hi)}"
    return f"{count(k)} / {count(n)} ({pct(rate, 1)}{ci})"
