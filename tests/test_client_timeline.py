"""The Client timeline page under AppTest, on a hand-built client whose hover texts and outcome headers are known:
each dose, session and score says when (whole days and hours since the first dose), which dose (mg, modality), at
which session, and for PHQ-9 the item 9 answer."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from dashboard import derive, store
from dashboard.ingest import import_files

# One client, first dose Monday 2025-01-06 09:00. (time, type, modality, mg)
SESSIONS = [
    ("2025-01-06T09:00", "dosing", "IV infusion", 35),  # day 0 + 0 h
    ("2025-01-08T10:30", "dosing", "IV infusion", 40),  # day 2 + 1 h 30 min
    ("2025-01-08T15:00", "integration", None, None),  # day 2 + 6 h
    ("2025-01-09T07:05", "assessment", None, None),  # day 2 + 22 h 5 min
]
# (time, score, item 9): the baseline 1 h 30 min before the first dose, then one at the assessment session
SCORES = [("2025-01-06T07:30", 18, 1), ("2025-01-09T07:05", 12, 2)]


def _items(score: int, item9: int) -> list[int]:
    rest, items = score - item9, []
    for _ in range(8):
        items.append(min(3, rest))
        rest -= items[-1]
    return [*items, item9]


@pytest.fixture
def one_client(clinic_db, tmp_path):
    sessions = pd.DataFrame(
        [
            {"client_id": "C1", "session_at": at, "session_type": kind, "modality": mod, "dose_mg": mg}
            for at, kind, mod, mg in SESSIONS
        ]
    )
    scores = pd.DataFrame(
        [
            {"client_id": "C1", "assessed_at": at, "instrument": "PHQ-9", "score": score}
            | {f"item_{i + 1}": v for i, v in enumerate(_items(score, item9))}
            for at, score, item9 in SCORES
        ]
    )
    sessions.to_csv(tmp_path / "sessions.csv", index=False)
    scores.to_csv(tmp_path / "scores.csv", index=False)
    con = store.connect(clinic_db)
    try:
        reports = import_files(con, [tmp_path / "sessions.csv", tmp_path / "scores.csv"], after_import=derive.rebuild)
    finally:
        con.close()
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    return clinic_db


def _hovers(at) -> dict[str, list[str]]:
    """Each trace's hover texts, by trace name."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return {t.get("name"): list(t.get("hovertext") or []) for t in spec["data"]}


def test_hovers_say_when_which_dose_which_session_and_item_9(one_client, app_page):
    at = app_page("client_timeline", one_client, {"client": "C1"})
    hovers = _hovers(at)
    doses = hovers["Dose: IV infusion"]
    assert len(doses) == 2
    assert "Day 0 + 0 h" in doses[0] and "35 mg" in doses[0]
    assert all(part in doses[1] for part in ("Day 2 + 1 h", "Dose 2", "IV infusion", "40 mg", "dosing")), doses[1]
    (integration,) = hovers["Integration session"]
    assert "Day 2 + 6 h" in integration and "integration" in integration
    baseline, follow_up = hovers["PHQ-9"]
    assert "1 h before the first dose" in baseline and "Item 9: 1" in baseline
    for part in ("Day 2 + 22 h", "PHQ-9: 12", "Item 9: 2", "after dose 2", "IV infusion", "40 mg", "assessment"):
        assert part in follow_up, (part, follow_up)
    every = [text for texts in hovers.values() for text in texts]
    assert not [t for t in every if re.search(r"[Dd]ay -?\d+\.\d", t)], "a fractional day in a hover"
    how = " ".join(m.value for e in at.expander if e.label == "How is this calculated?" for m in e.markdown)
    assert "Day 2 + 22 h" in how, "the hover's time form is explained"


def test_the_outcomes_table_has_human_headers(one_client, app_page):
    """The outcomes table was 18 raw columns wide and cut off at the right: one row per measure now, headed in words,
    with what each measure means under it and yes / no in words (no unexplained tick boxes)."""
    at = app_page("client_timeline", one_client, {"client": "C1"})
    table = at.dataframe[-1]
    config = json.loads(table.proto.columns)
    labels = {name: column.get("label") for name, column in config.items()}
    shown = table.value
    assert all(labels.get(c) for c in shown.columns), f"unlabelled: {[c for c in shown.columns if not labels.get(c)]}"
    assert labels["measure"] == "Measure" and config["measure"].get("help")
    assert len(shown.columns) <= 3  # the measure, and a column per instrument of the client
    by_measure = shown.set_index("measure")
    assert "Rapid response" in by_measure.index
    assert any("%" in m for m in by_measure.index)
    values = by_measure.stack()
    assert values.isin(["yes", "no"]).any() and not values.isin(["None", "nan"]).any()
    meanings = " ".join(e.markdown[0].value for e in at.expander if e.label == "What the measures mean")
    assert all(f"**{m}**" in meanings for m in by_measure.index), meanings[:300]


def test_the_link_names_the_client_shown(app_page, demo_db):
    """The timeline's address names the client on screen, so a link to it can be shared: the first client when the
    link named none, the one chosen after a change; an id the data does not hold is said to be ignored."""
    at = app_page("client_timeline", demo_db)
    first, second = at.selectbox(key="timeline_client").options[:2]
    assert at.query_params.get("client") == first
    at.selectbox(key="timeline_client").set_value(second).run()
    assert not at.exception
    assert at.query_params.get("client") == second
    at = app_page("client_timeline", demo_db, {"client": "NOBODY"})
    assert any("Ignored client NOBODY" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.query_params.get("client") == first
