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
