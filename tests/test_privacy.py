"""Small-cell suppression: primary, complementary, and rates that would give a hidden count back."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard import privacy

COUNTS = ["n_a", "n_b"]
DEPENDENTS = {"rate": ["n_b", "n_a"]}


def _table(rows):
    frame = pd.DataFrame(rows, columns=["part", "group", "n_a", "n_b"])
    frame["rate"] = frame.n_b / frame.n_a.where(frame.n_a > 0)
    return frame


def test_count_labels():
    assert privacy.count_label(0) == "0"
    assert privacy.count_label(10) == "<11"
    assert privacy.count_label(11) == "11"
    assert privacy.count_label(3, k=0) == "3"
    assert privacy.count_label(1234) == "1,234"


def test_single_small_cell_gets_a_complement():
    t = _table([("x", "g1", 50, 5), ("x", "g2", 40, 30), ("x", "g3", 60, 20)])
    shown, mask = privacy.suppress_groups(t, COUNTS, DEPENDENTS, k=11, partition="part")
    # g1's 5 is small; the smallest other cell of n_b (g3's 20) is hidden with it
    assert mask.n_b.tolist() == [True, False, True]
    assert shown.rate.isna().tolist() == [True, False, True]
    assert shown.n_a.tolist() == [50, 40, 60]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=6), min_size=1, max_size=3
    ),
    st.integers(0, 15),
)
def test_no_suppressed_count_can_be_recomputed(parts, k):
    rows = [(f"p{i}", f"g{j}", a, min(a, b)) for i, groups in enumerate(parts) for j, (a, b) in enumerate(groups)]
    t = _table(rows)
    shown, mask = privacy.suppress_groups(t, COUNTS, DEPENDENTS, k=k, partition="part")
    for _, part in shown.groupby("part"):
        m = mask.loc[part.index]
        for col in COUNTS:
            # no small count is shown
            assert not any(privacy.is_small(v, k) for v in part[col] if v is not None)
            # the column total is public, so one hidden cell alone could be recomputed from it
            if len(part) > 1:
                assert m[col].sum() != 1
        # a rate whose numerator or denominator is hidden is hidden (rate x denominator would give it back)
        assert (m.rate | ~(m.n_a | m.n_b)).all()
