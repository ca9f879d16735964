"""Refactors leave every figure unchanged: the engine's tables, the CLI's output and the report's text on the demo
and on the hand-worked fixture equal the figures recorded before the cohort redesign (tests/figures.py)."""

from __future__ import annotations

from tests import figures


def test_every_figure_is_unchanged(demo_db):
    now = figures.everything(demo_db)
    before = figures.recorded()
    diff = figures.differences(now, before)
    assert len(now) == len(before) > 900
    assert not diff, f"{len(diff)} figures changed, e.g. {diff[:5]}"
