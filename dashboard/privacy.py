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


def suppress_groups(frame, counts: list[str], dependents: dict[str, list[str]], k: int = DEFAULT_MIN_CELL,
                    partition: str | None = None):
    """Small-cell suppression with complementary suppression, for a table of groups.

    counts: count columns; within each partition (e.g. one timepoint) the groups of a column add up to a
    total that can be had elsewhere (the overall row, another query), so a column never has exactly one
    suppressed cell: the smallest other cell is suppressed with it.
    dependents: value column -> the counts it is built from (a rate is hidden when its numerator or
    denominator is, since it would give that count back).
    Returns (frame with suppressed values set to None, boolean mask frame of what was suppressed)."""
    import pandas as pd

    out = frame.copy()
    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    if k <= 0:
        return out, mask
    parts = [frame.index] if partition is None else list(frame.groupby(partition, sort=False).groups.values())
    for idx in parts:
        for col in counts:
            values = frame.loc[idx, col]
            small = values.map(lambda n: is_small(n, k))
            mask.loc[idx, col] = small
            if small.sum() == 1 and len(idx) > 1:
                rest = values[~small]
                nonzero = rest[rest > 0]
                pick = (nonzero if len(nonzero) else rest).sort_values(kind="stable").index[0]
                mask.loc[pick, col] = True
    for col, sources in dependents.items():
        hidden = mask[sources].any(axis=1)
        mask[col] = mask[col] | hidden
    for col in mask.columns:
        out[col] = out[col].astype(object).where(~mask[col], None)
    return out, mask
