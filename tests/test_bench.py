"""Smoke test: the benchmark runs end to end at a few hundred clients and reports every figure (no timing is
asserted: speed is shown by `python -m dashboard bench`, never by a test that could flake)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dashboard import bench
from dashboard.outcomes import Cohort, Filters

ROOT = Path(__file__).resolve().parent.parent


def test_bench_command_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", "bench", "--clients", "300", "--no-cold-start", "--out", str(out)],
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
    ):
        assert label in done.stdout


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
