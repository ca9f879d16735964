"""Small-cell suppression for anything shown or exported (DOMAIN.md §5)."""

from __future__ import annotations

DEFAULT_MIN_CELL = 11  # CMS rule: counts 1..10 are not shown


def is_small(n, k: int = DEFAULT_MIN_CELL) -> bool:
    """True when a count must be hidden: 1 to k-1 (0 is shown; k = 0 disables suppression)."""
    return k > 0 and n is not None and 0 < n < k


def count_label(n, k: int = DEFAULT_MIN_CELL) -> str:
    """A count as it may be displayed: '1,234', or '<11' when suppressed."""
    if n is None:
        return "–"
    return f"<{k}" if is_small(n, k) else f"{int(n):,}"


def suppress_groups(
    frame, counts: list[str], dependents: dict[str, list[str]], k: int = DEFAULT_MIN_CELL, partition: str | None = None
):
    """Small-cell suppression with complementary suppression, for a table of groups.

    counts: count columns; within each partition (e.g. one timepoint) the groups of a column add up to a
    total that can be had elsewhere (the overall row, another query), so a column never has exactly one
    suppressed cell: the smallest other cell is suppressed with it.
    dependents: value column -> the counts it is built from (a rate is hidden when its numerator or
    denominator is, since it would give that count back).
    Returns (frame with suppressed values set to None, boolean mask frame of what was suppressed)."""
    import numpy as np
    import pandas as pd

    if k <= 0:
        return frame.copy(), pd.DataFrame(False, index=frame.index, columns=frame.columns)
    # whole columns at once (this runs on every filter change): one partition code per row, -1 for a row
    # whose partition is missing (it belongs to no partition, as in a groupby)
    part = np.zeros(len(frame), dtype=np.intp) if partition is None else pd.factorize(frame[partition])[0]
    hidden = {c: np.zeros(len(frame), dtype=bool) for c in frame.columns}
    for col in counts:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        small = (values > 0) & (values < k) & (part >= 0)
        hidden[col] |= small
        n_small = np.bincount(part[small], minlength=part.max(initial=-1) + 1)
        for p in np.flatnonzero(n_small == 1):
            rows = np.flatnonzero(part == p)
            if len(rows) < 2:
                continue
            rest = rows[~small[rows]]
            nonzero = rest[values[rest] > 0]
            pool = nonzero if len(nonzero) else rest
            known = pool[~np.isnan(values[pool])]
            # the smallest other cell, the first of equals (a stable sort; missing values sort last)
            hidden[col][known[np.argmin(values[known])] if len(known) else pool[0]] = True
    for col, sources in dependents.items():
        hidden[col] = hidden[col] | np.logical_or.reduce([hidden[s] for s in sources])
    mask = pd.DataFrame(hidden, index=frame.index, columns=frame.columns)
    out = pd.DataFrame(
        {c: np.where(hidden[c], None, frame[c].to_numpy(dtype=object)) for c in frame.columns},
        index=frame.index,
        columns=frame.columns,
        dtype=object,
    )
    return out, mask


ROUND_TO = 5  # NHS Digital's practice: every count that is shown is rounded to the nearest 5


def rounded_count(n, k: int = DEFAULT_MIN_CELL, base: int = ROUND_TO):
    """A count as it may leave the clinic: None (hidden) for 1..k-1, else rounded to the nearest multiple of
    `base` (halves up; 0 stays 0) but never below k: with k = 11, 11 and 12 show as 15, not as a 10 that would read
    as a small cell. k = 0 hides nothing but still rounds."""
    import math

    if n is None or (isinstance(n, float) and math.isnan(n)):
        return None
    if is_small(n, k):
        return None
    if n == 0:
        return 0
    return max(math.floor(n / base + 0.5) * base, math.ceil(k / base) * base)


def disclose(frame, counts: list[str], dependents: dict[str, list[str]], k: int = DEFAULT_MIN_CELL):
    """Disclosure control for everything meant to leave the clinic (DOMAIN.md §7): rounding survives subtraction
    between outputs, where complementary suppression protects one table only. Each count of 1..k-1 is hidden and
    every other count rounded to the nearest 5 (rounded_count); a value built on counts (`dependents`: value ->
    the counts it is built from, its denominator last) keeps the value computed from the unrounded counts, but is
    shown only where none of its counts is hidden and its rounded denominator is at least k.
    Returns (frame, mask of hidden cells) like suppress_groups."""
    import numpy as np
    import pandas as pd

    out = frame.copy().astype(object)
    hidden = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    for col in counts:
        shown = [rounded_count(v, k) for v in pd.to_numeric(frame[col], errors="coerce")]
        hidden[col] = [s is None and pd.notna(v) for s, v in zip(shown, frame[col], strict=True)]
        out[col] = pd.Series(shown, index=out.index, dtype=object)
    for col, sources in dependents.items():
        denominator = pd.to_numeric(out[sources[-1]], errors="coerce")
        passes = denominator.ge(k) if k > 0 else denominator.gt(0)
        gone = np.logical_or.reduce([hidden[s].to_numpy() for s in sources]) | ~passes.to_numpy()
        hidden[col] = gone & frame[col].notna().to_numpy()
        out[col] = pd.Series(np.where(gone, None, frame[col].to_numpy(dtype=object)), index=out.index, dtype=object)
    return out, hidden
