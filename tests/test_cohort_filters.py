"""The client filters sex, age band and prior-treatment band, end to end: engine, suppression, URL and sidebar
(AppTest), command line and report, against a hand-worked fixture of 24 clients.

The fixture: every client has one IV dose on day 0, a PHQ-9 of 20 the day before and a PHQ-9 on day 28, which
is 8 (a responder) for the odd-numbered clients and 15 for the even-numbered ones.
- sex: C01-C14 F (14; responders C01, 03, 05, 07, 09, 11, 13 = 7), C15-C22 M (8; 15, 17, 19, 21 = 4),
  C23-C24 blank ('(not recorded)').
- prior_treatments: C01-C05 0, C06-C10 2, C11-C14 4 (band 3-4), C15-C18 7 (band 5+), C19-C22 1, C23-C24 blank.
- age_band: C01-C12 18-34, C13-C24 35-54."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import derive, report, store
from dashboard.cohort import FILTERS, Cohort, Filters
from dashboard.ingest import import_files
from dashboard.outcomes import outcomes_table

PROJECT = Path(__file__).resolve().parent.parent
APP = str(PROJECT / "streamlit_app.py")
T0 = datetime(2025, 1, 6, 9, 0)


def _sex(i: int) -> str:
    return "F" if i <= 14 else ("M" if i <= 22 else "")


def _prior(i: int) -> str:
    for last, value in ((5, "0"), (10, "2"), (14, "4"), (18, "7"), (22, "1")):
        if i <= last:
            return value
    return ""


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cohort_filters")
    ids = range(1, 25)
    clients = [
        {
            "client_id": f"C{i:02d}",
            "site": "North",
            "sex": _sex(i),
            "prior_treatments": _prior(i),
            "age_band": "18-34" if i <= 12 else "35-54",
        }
        for i in ids
    ]
    sessions = [
        {
            "client_id": f"C{i:02d}",
            "session_at": T0.isoformat(),
            "session_type": "dosing",
            "modality": "IV infusion",
            "clinician_id": "CL1",
        }
        for i in ids
    ]
    scores = []
    for i in ids:
        scores.append(
            {
                "client_id": f"C{i:02d}",
                "assessed_at": (T0 - timedelta(days=1)).isoformat(),
                "instrument": "PHQ-9",
                "score": 20,
            }
        )
        scores.append(
            {
                "client_id": f"C{i:02d}",
                "assessed_at": (T0 + timedelta(days=28)).isoformat(),
                "instrument": "PHQ-9",
                "score": 8 if i % 2 else 15,
            }
        )
    for name, rows in (("clients", clients), ("sessions", sessions), ("scores", scores)):
        pd.DataFrame(rows).to_csv(tmp / f"{name}.csv", index=False)
    path = tmp / "filters.duckdb"
    con = store.connect(path)
    try:
        reports = import_files(
            con, [tmp / f"{n}.csv" for n in ("clients", "sessions", "scores")], after_import=derive.rebuild
        )
        assert all(r.ok for r in reports), [r.summary() for r in reports]
    finally:
        con.close()
    return path


def _week4(con, filters, min_cell=0):
    table = outcomes_table(con, Cohort("PHQ-9", filters), timepoints=[(28, 7)], min_cell=min_cell)
    return table[table.timepoint == "day_28"].iloc[0]


@pytest.mark.parametrize(
    "filters, started, responders",
    [
        (Filters(sexes=("F",)), 14, 7),
        (Filters(sexes=("M",)), 8, 4),
        (Filters(sexes=("(not recorded)",)), 2, 1),  # C23 responds
        (Filters(prior_treatments_bands=("0",)), 5, 3),  # C01, C03, C05
        (Filters(prior_treatments_bands=("3-4", "5+")), 8, 4),  # C11-C18: 11, 13, 15, 17
        (Filters(prior_treatments_bands=("1",)), 4, 2),  # C19-C22: 19, 21
        (Filters(age_bands=("18-34",)), 12, 6),
        (Filters(age_bands=("35-54",), sexes=("F",)), 2, 1),  # C13, C14
        (Filters(sexes=("F",), prior_treatments_bands=("0", "2")), 10, 5),
        (Filters(sexes=()), None, None),  # nothing selected: nobody
    ],
)
def test_engine_filters(db, filters, started, responders):
    con = store.connect(db, read_only=True)
    try:
        if started is None:
            assert outcomes_table(con, Cohort("PHQ-9", filters), min_cell=0).empty
            return
        row = _week4(con, filters)
        assert (row.n_started, row.n_evaluable, row.n_responders) == (started, started, responders)
    finally:
        con.close()


def test_small_filtered_cells_are_suppressed(db):
    con = store.connect(db, read_only=True)
    try:
        row = _week4(con, Filters(sexes=("M",)), min_cell=11)  # 8 clients: under k = 11
        assert row.suppressed and pd.isna(row.n_started) and pd.isna(row.response_rate)
        row = _week4(con, Filters(sexes=("F",)), min_cell=11)  # 14 clients, 7 responders: under k
        assert pd.isna(row.n_responders) and row.n_started == 14
    finally:
        con.close()


def test_filters_are_declared_once():
    names = {f.name for f in FILTERS}
    assert {"sex", "age_band", "prior_treatments"} <= names
    assert Filters(sexes=("F",), prior_treatments_bands=("0",)).describe() == "sex: F; prior treatments: 0"


def _cli(*args, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *map(str, args), "--db", str(db)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_command_line_filters(db, tmp_path):
    done = _cli(
        "outcomes",
        "--instrument",
        "PHQ-9",
        "--by",
        "none",
        "--at-days",
        "28:7",
        "--min-cell",
        "0",
        "--exact",
        "--sex",
        "F",
        "--prior-treatments",
        "0",
        "2",
        db=db,
    )
    assert done.returncode == 0, done.stderr
    rows = pd.read_csv(io.StringIO(done.stdout))
    week4 = rows[rows.timepoint == "day_28"].iloc[0]
    assert (week4.n_started, week4.n_responders) == (10, 5)
    done = _cli(
        "outcomes",
        "--instrument",
        "PHQ-9",
        "--by",
        "none",
        "--age-band",
        "35-54",
        "--sex",
        "F",
        "--min-cell",
        "0",
        "--exact",
        "--at-days",
        "28:7",
        db=db,
    )
    assert pd.read_csv(io.StringIO(done.stdout)).query("timepoint == 'day_28'").n_started.item() == 2
    out = tmp_path / "report.html"
    done = _cli("report", "--out", out, "--sex", "M", "--prior-treatments", "5+", db=db)
    assert done.returncode == 0, done.stderr
    assert "Sex: M; prior treatments: 5+" in out.read_text(encoding="utf-8")


def test_report_describes_the_filters(db):
    con = store.connect(db, read_only=True)
    try:
        html = report.build(con, Cohort("PHQ-9", Filters(age_bands=("18-34",), sexes=("F",)))).html
    finally:
        con.close()
    assert "Age band: 18-34; sex: F" in html


@pytest.fixture
def app(monkeypatch, db):
    def make(query: dict) -> AppTest:
        monkeypatch.setenv(store.ENV_VAR, str(db))
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(APP, default_timeout=120)
        for key, value in query.items():
            at.query_params[key] = value
        return at

    return make


def _multiselect(at: AppTest, label: str):
    return next(w for w in at.sidebar.multiselect if w.label == label)


def test_link_and_sidebar(app):
    at = app({"sex": "F", "prior_treatments": ["0", "2"], "age_band": "18-34"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert _multiselect(at, "Sex").value == ["F"]
    assert _multiselect(at, "Prior treatments").value == ["0", "2"]
    assert _multiselect(at, "Age bands").value == ["18-34"]
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "age band: 18-34; sex: F; prior treatments: 0, 2" in text
    assert not at.warning  # nothing ignored
    # the sidebar writes back to the link: drop a sex
    _multiselect(at, "Sex").set_value(["F", "M"]).run()
    assert at.query_params["sex"] == ["F", "M"]


def test_bad_link_values_get_a_notice(app):
    at = app({"sex": ["F", "Q"], "prior_treatments": "12"})
    at.run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert "Ignored sex value(s) not in the data: Q." in warnings
    assert "Ignored prior_treatments value(s) not in the data: 12." in warnings
    assert _multiselect(at, "Sex").value == ["F"]
