"""Every view under the real Streamlit runtime (AppTest): on the demo data and on an empty database, with
sidebar filters, deep links and bad link parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import store

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
VIEWS = [
    "overview",
    "rapid_onset",
    "long_term",
    "compare",
    "clinicians_sites",
    "attrition",
    "client_timeline",
    "my_cohort",
    "data",
]


@pytest.fixture
def app(monkeypatch):
    """An AppTest on a given database, with Streamlit's caches cleared so it reads that database afresh."""

    def make(db: Path, query: dict | None = None) -> AppTest:
        monkeypatch.setenv(store.ENV_VAR, str(db))
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(APP, default_timeout=120)
        for key, value in (query or {}).items():
            at.query_params[key] = value
        return at

    return make


@pytest.fixture
def empty_db(tmp_path):
    path = tmp_path / "empty.duckdb"
    store.connect(path).close()
    return path


def _open(at: AppTest, view: str) -> AppTest:
    at.run()
    if view != "overview":
        at.switch_page(f"dashboard/views/{view}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}: {[m.label for m in at.metric]}"
    return values[0]


def test_every_view_is_registered():
    files = {p.stem for p in (Path(APP).parent / "dashboard" / "views").glob("*.py")} - {"__init__", "common"}
    assert files == set(VIEWS)
    text = Path(APP).read_text()
    assert all(f'view("{v}"' in text for v in VIEWS)


@pytest.mark.parametrize("view", VIEWS)
def test_view_runs_on_demo_data(app, demo_db, view):
    at = _open(app(demo_db), view)
    assert len(at.get("plotly_chart")) + len(at.dataframe) > 0, "no chart or table"
    assert any("Demo data" in i.value for i in at.info), "demo notice missing"


@pytest.mark.parametrize("view", VIEWS)
def test_view_runs_on_empty_database(app, empty_db, view):
    at = _open(app(empty_db), view)
    text = " ".join(str(e.value) for e in [*at.info, *at.markdown, *at.caption])
    assert "No outcome data yet" in text or view == "data", text[:300]


def test_changing_a_filter_changes_the_figures(app, demo_db):
    at = _open(app(demo_db), "overview")
    before = _metric(at, "Clients started")
    at.multiselect(key="f_modality").set_value(["IV infusion"]).run()
    assert not at.exception
    after = _metric(at, "Clients started")
    assert before != after and int(after.replace(",", "")) < int(before.replace(",", ""))
    assert at.query_params.get("modality") == "IV infusion"


def test_deep_link_opens_the_filtered_view(app, demo_db):
    plain = _metric(_open(app(demo_db), "overview"), "Clients started")
    at = _open(app(demo_db, {"modality": "IV infusion", "integration": "yes"}), "overview")
    assert at.multiselect(key="f_modality").value == ["IV infusion"]
    assert at.selectbox(key="f_integration").value == "With integration therapy"
    assert _metric(at, "Clients started") != plain
    assert not at.warning


@pytest.mark.parametrize(
    "query",
    [
        {"modality": "Nope"},
        {"instrument": "'; drop table scores; --"},
        {"min_baseline": "ten"},
        {"rates": "x"},
        {"integration": "maybe"},
        {"from": "1999-01", "to": "1998-01"},
        {"bogus": "1"},
    ],
)
def test_bad_link_parameters_are_ignored_with_a_notice(app, demo_db, query):
    at = _open(app(demo_db, query), "overview")
    assert any("Ignored" in w.value for w in at.warning), [w.value for w in at.warning]
    assert _metric(at, "Clients started")


def test_overview_without_a_cohort_shows_only_the_note(app, demo_db):
    """The flow chart is drawn before the tiles are computed; when nobody has a baseline this high it is taken
    away again, and the page shows the note alone, as it did before the reordering."""
    at = _open(app(demo_db, {"min_baseline": "500"}), "overview")
    assert any("No clients match" in i.value for i in at.info)
    assert not at.get("plotly_chart") and not at.metric


def test_trajectory_chart_has_a_line_per_group(app, demo_db):
    at = _open(app(demo_db), "long_term")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {t.get("name") for t in spec["data"] if t.get("showlegend", True) and t.get("name")}
    assert {"IV infusion", "IM injection", "Sublingual / troche", "Intranasal esketamine"} <= names


def test_presentation_mode_from_a_link(app, demo_db):
    at = _open(app(demo_db, {"present": "1", "modality": "IV infusion"}), "overview")
    assert any(b.label == "Exit presentation mode" for b in at.button)
    subtitle = " ".join(m.value for m in at.markdown)
    assert "modality: IV infusion" in subtitle and "PHQ-9" in subtitle
    assert not at.get("download_button"), "downloads are hidden on the conference screen"
    at.switch_page("dashboard/views/client_timeline.py").run()  # client-level views are hidden, and say so
    assert not at.exception and "timeline_client" not in [s.key for s in at.selectbox]
    assert any("not shown in presentation mode" in i.value for i in at.info)
    at = _open(app(demo_db, {"present": "1", "clients": "1"}), "client_timeline")
    assert at.selectbox(key="timeline_client").value


def test_presentation_mode_exits(app, demo_db):
    at = _open(app(demo_db, {"present": "1"}), "overview")
    next(b for b in at.button if b.label == "Exit presentation mode").click().run()
    assert "present" not in at.query_params
    at.run()
    assert any(t.label == "Presentation mode" for t in at.toggle)


def test_presentation_switch_in_the_sidebar(app, demo_db):
    at = _open(app(demo_db), "overview")
    next(t for t in at.toggle if t.label == "Presentation mode").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params.get("present") == "1"
    next(b for b in at.button if b.label == "Exit presentation mode").click().run()
    assert not at.exception and "present" not in at.query_params
    at.run()
    assert not at.exception and not next(t for t in at.toggle if t.label == "Presentation mode").value


def _tile_counts(at: AppTest) -> list[tuple[int, int]]:
    import re

    found = [re.match(r"([\d,]+) of ([\d,]+) ·", c.value) for c in at.caption]
    return [(int(m[1].replace(",", "")), int(m[2].replace(",", ""))) for m in found if m]


def test_counts_on_screen_are_rounded_unless_an_editor_asks_for_exact_ones(app, demo_db):
    at = _open(app(demo_db), "overview")
    rounded = _tile_counts(at)
    assert rounded and all(n % 5 == 0 and d % 5 == 0 for n, d in rounded), rounded
    assert any("Counts are rounded to the nearest 5 and counts under 11 hidden" in c.value for c in at.caption)
    # local use (no sign-in): whoever reaches localhost is an editor, and may show exact counts, labelled
    at.toggle(key="f_exact").set_value(True).run()
    assert not at.exception
    assert any("Exact counts" in w.value and "inside the clinic only" in w.value for w in at.warning)
    exact = _tile_counts(at)
    assert exact and any(n % 5 or d % 5 for n, d in exact), exact
    at.switch_page("dashboard/views/long_term.py").run()
    assert not at.exception
    assert not at.get("download_button") or all(b.label == "Download report" for b in at.get("download_button"))
    assert any("Downloads are off while exact counts are shown" in c.value for c in at.caption)


def test_presentation_mode_never_shows_exact_counts(app, demo_db):
    at = _open(app(demo_db, {"present": "1"}), "overview")
    assert not [t for t in at.toggle if t.key == "f_exact"]
    assert all(n % 5 == 0 and d % 5 == 0 for n, d in _tile_counts(at))
