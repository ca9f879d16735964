"""Smoke test: the benchmark runs end to end at a few hundred clients and reports every figure (no timing is
asserted: speed is shown by `python -m dashboard bench`, never by a test that could flake)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest

from dashboard import bench, browser_timing
from dashboard.outcomes import Cohort, Filters

ROOT = Path(__file__).resolve().parent.parent


def test_bench_command_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "dashboard", "bench", "--clients", "300", "--no-cold-start", "--no-browser"]
    done = subprocess.run(
        [*command, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["import"]["imported"] == figures["import"]["score_rows"] > 0
    assert (
        len(figures["import"]["importer_seconds_each"])
        == len(figures["import"]["bare_duckdb_file_seconds_each"])
        == figures["import"]["runs"]
        == bench.IMPORT_RUNS
    )
    assert set(figures["views"]) == set(bench.VIEW_CALLS)
    models = figures["models"]
    assert set(models["fits"]) == set(bench.MODEL_FITS)  # fitted, or not with the reason
    assert all((m["seconds"] is None) != (m["note"] is None) for m in models["fits"].values())
    assert models["note"] is None, models["note"]  # 300 clients are enough for every model
    assert len(models["uses"]) == 5 and all(u["runs"] == 20 and u["median_ms"] > 0 for u in models["uses"].values())
    processes = figures["processes"]
    assert len(processes["full_import_seconds_each"]) == len(processes["weekly_into_store_seconds_each"]) == 3
    assert processes["weekly_rows"] == 2 * 3  # 1% of 300 clients: a session and a score each
    assert processes["ratio_full_import_to_bare"] > 0 and processes["ratio_weekly_store_to_empty"] > 0
    assert all(v["runs"] == 20 and v["median_ms"] > 0 for v in figures["views"].values())
    assert figures["pandas_baseline"]["ratio_pandas_to_ours"] > 0 and figures["peak_rss_mb"] > 0
    for label in (
        "import: ratio importer / bare",
        "bare DuckDB, into a file",
        "bare DuckDB, in memory",
        "derived tables rebuild",
        "full import, whole process",
        "weekly export, whole process",
        "view overview",
        "pandas baseline",
        "model fit: expected course",
        "with the fitted model: alert quality",
        "peak memory",
        "cold start",
        "skipped: --no-browser",
    ):
        assert label in done.stdout
    assert figures["browser"] == {"skipped": "--no-browser"}


@pytest.mark.browser
def test_bench_times_every_view_in_chromium(demo_db, tmp_path):
    """The bench's figures in a real browser, on the demo database: every view's (and every section's) filter
    changes and a deep link, each timed to the page settled with its charts drawn (3 changes each here, the bench
    makes 20; run apart from the command above, whose 140 changes at any size would take minutes; no timing is
    asserted). Without chromium or playwright the bench says why."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, copy)
    con = duckdb.connect(str(copy), read_only=True)
    try:
        options = bench._option_values(con)
    finally:
        con.close()
    reason = browser_timing.unavailable()
    if reason:
        figures = bench._browser(copy, options)
        assert figures == {"skipped": reason}
        assert bench._browser_rows(figures) == [("in Chromium", f"skipped: {reason}")]
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (the environment variable CI is set, so this fails instead of skipping)")
        pytest.skip(reason)
    figures = browser_timing.measure(copy, options, changes=3, links=1)
    pages = browser_timing.pages()
    assert list(figures["views"]) == [name for name, _ in pages]
    assert "long-term · Durability" in figures["views"] and "overview" in figures["views"]
    for view, t in figures["views"].items():
        assert t["runs"] == len(t["ms_each"]) == 3, view
        assert 0 < t["p50_ms"] <= t["p95_ms"], (view, t)
        assert set(t["split"]) == {"to_run_ms", "run_ms", "after_run_ms"}, (view, t)
    for view in browser_timing.VIEWS:  # every change redrew charts, not an empty page
        assert max(max(t["charts"]) for name, t in figures["views"].items() if name.split(" · ")[0] == view), view
    assert figures["views"]["long-term · Durability"]["charts"] == [2]  # its section's alone
    assert len({t["starting_cohort"] for t in figures["views"].values()}) == len(pages)
    link = figures["deep_link"]
    assert link["links"] == [f"/long-term?modality={quote(options['modality'][0], safe='')}"]
    assert link["median_ms"] > 0 and link["charts"][0] >= 1
    first = figures["first_visit"]
    assert first["links"] == [f"/?site={quote(options['site'][0], safe='')}"]
    assert first["median_ms"] > 0 and first["charts"] == [2]  # the overview's flow and trajectory
    rows = dict(bench._browser_rows(figures))
    assert "server running; target <= 3" in rows["in Chromium, the app's address opened"]
    assert "target p50 <= 1,000" in rows["in Chromium, filter change: long-term · Durability"]
    assert "target <= 3" in rows["in Chromium, deep link opened"]


@pytest.mark.browser
def test_bench_times_the_cold_start_of_the_app_and_of_a_one_chart_app(demo_db, tmp_path):
    """The cold start, and its floor (a Streamlit app of one title and one plotly chart, started and timed the same
    way), each drawn in Chromium and printed (no timing is asserted)."""
    reason = browser_timing.unavailable()
    if reason:
        pytest.skip(reason)
    copy = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, copy)
    figures = bench._cold_starts(copy, 1)
    assert figures["seconds"] > 0 and figures["floor_seconds"] > 0, figures
    assert (tmp_path / "floor_app.py").read_text() == bench.FLOOR_APP
    printed = bench._cold_start_rows(figures)
    assert printed[0][0] == "cold start" and "target <= 3" in printed[0][1]
    assert printed[1][0] == "cold start, a one-chart Streamlit app" and "median of" in printed[1][1]


def test_pandas_baseline_agrees_with_the_engine(demo_db, tmp_path):
    """The baseline computes the same thing, so the speed ratio compares like with like."""
    import shutil

    from dashboard import outcomes, store

    copy = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, copy)
    con = store.connect(copy)
    try:
        tables = bench._pandas_frames(con)
        plain = bench.pandas_outcomes(tables, Filters(), None)
        ours = outcomes.outcomes_table(con, Cohort("PHQ-9"), timepoints=[(28, 7)], include_last=False, min_cell=0)
    finally:
        con.close()
    # the plain version ignores second courses; the demo has few, so the figures agree closely
    assert abs(int(plain.n_started.iloc[0]) - int(ours.n_started.iloc[0])) <= 5
    assert abs(int(plain.n_responders.iloc[0]) - int(ours.n_responders.iloc[0])) <= 5
