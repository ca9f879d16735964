"""The case-conference report: every section, self-contained, nothing identifying, nothing suppressed shown,
and it opens in a real browser with its charts drawn."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import report, store
from dashboard.cohort import Cohort

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def built(demo_db):
    con = store.connect(demo_db, read_only=True)  # as the app opens it: an AppTest in this process may hold it
    try:
        clients = [r[0] for r in con.execute("select client_id from clients").fetchall()]
        return report.build(con, Cohort("PHQ-9")), clients
    finally:
        con.close()


def test_report_has_every_section(built):
    rep, _ = built
    for section in report.SECTIONS:
        assert f">{section}</h2>" in rep.html, section


def test_report_loads_nothing_from_outside(built):
    rep, _ = built
    # plotly.js (inline, the first script) carries URLs in its source text (map tiles it would use for a map,
    # its logo link); the real browser test below shows nothing is fetched. The rest of the file refers to none.
    head, _, rest = rep.html.partition("</script>")
    assert "<script type='text/javascript'>" in head and "<script src" not in rep.html
    assert not re.search(r"https?://", rest)
    assert not re.search(r"@import|<link ", rest)


def test_report_holds_no_client_id_and_no_exact_date(built):
    rep, clients = built
    text = re.sub(r"<script.*?</script>", "", rep.html, flags=re.S)  # the report's own text and figure data
    figures = re.findall(r"Plotly\.newPlot\((.*?)\)\s*};", rep.html, flags=re.S)
    visible = text + "".join(figures)
    assert not [c for c in clients if c in visible]
    assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", visible)
    assert re.search(r"Data as of \d{4}-\d{2} ", visible)


def test_report_shows_no_suppressed_count(demo_db):
    """With k = 60 many cells are small: none of their counts may appear in the tables."""
    from dashboard.settings import Settings

    con = store.connect(demo_db, read_only=True)  # as the app opens it: an AppTest in this process may hold it
    try:
        rep = report.build(con, Cohort("PHQ-9", settings=Settings(min_cell=60)))
    finally:
        con.close()
    cells = re.findall(r"<td>([^<]*)</td>", rep.html)
    counts = [int(c.replace(",", "")) for c in cells if re.fullmatch(r"\d[\d,]*", c)]
    assert counts and not [n for n in counts if 0 < n < 60]
    assert "suppressed" in rep.html


def test_report_command_writes_the_file_quickly(demo_db, tmp_path):
    out = tmp_path / "report.html"
    db = tmp_path / "copy.duckdb"  # another process (this one) may hold the demo database open
    shutil.copy(demo_db, db)
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", "report", "--db", str(db), "--out", str(out), "--modality", "IV infusion"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Cohort comparison" in out.read_text(encoding="utf-8")
    assert "Modality: IV infusion" in out.read_text(encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, "-m", "dashboard", "report", "--db", str(db), "--out", str(out), "--instrument", "NOPE"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert bad.returncode == 2 and "unknown instrument" in bad.stderr
