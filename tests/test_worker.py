"""The Data page's import runs in a worker process (dashboard/ingest/run.py, dashboard/ingest/worker.py): it can be
stopped at any point before it saves (the page's session ends: a closed tab, Cancel, leaving the page, the server
stopping), the worker is then gone and the store is as it was; an import that runs to the end reports as the
command line does; and other work goes on meanwhile."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from dashboard import store
from dashboard.ingest.run import run_import

HEADER = "client_id,assessed_at,instrument,score\n"


class Stopped(Exception):
    """What Streamlit raises in a script whose session ended (StopException), as the page's wait sees it."""


def _workers(spec_dir: Path) -> list[int]:
    """The pids of worker processes started for this test's spec folder."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "dashboard.ingest.worker" in cmdline and str(spec_dir) in cmdline:
            found.append(int(pid))
    return found


def _scores(path: Path, clients: int, per_client: int, prefix: str = "C") -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for c in range(clients):
            for d in range(per_client):
                f.write(f"{prefix}{c:06d},2025-{1 + d % 12:02d}-{1 + d % 28:02d}T{9 + d % 8:02d}:00,PHQ-9,{d % 28}\n")
    return path


def _count(db: Path) -> int:
    con = store.connect(db, read_only=True)
    try:
        return con.execute("select count(*) from scores").fetchone()[0]
    finally:
        con.close()


def test_an_import_that_runs_to_the_end_reports_each_file(tmp_path):
    db = tmp_path / "store.duckdb"
    data = _scores(tmp_path / "scores.csv", 20, 3)
    folder = tmp_path / "work"
    folder.mkdir()
    stages = []
    result = run_import(folder, db, [{"path": str(data), "name": "scores.csv"}], False, lambda *s: stages.append(s))
    (report,) = result["reports"]
    assert (report.imported, report.rejected) == (60, 0)
    assert _count(db) == 60
    assert ("scores.csv", "read") in stages


def test_a_stopped_import_kills_its_worker_and_leaves_the_store_as_it_was(tmp_path):
    db = tmp_path / "store.duckdb"
    folder = tmp_path / "work"
    folder.mkdir()
    small = _scores(tmp_path / "first.csv", 10, 2)
    run_import(folder, db, [{"path": str(small), "name": "first.csv"}], False, lambda *s: None)
    before = db.read_bytes()
    big = _scores(tmp_path / "big.csv", 60_000, 25)  # 1.5 million rows: seconds of work
    folder2 = tmp_path / "work2"
    folder2.mkdir()
    polls = []

    def show(file, stage):
        polls.append((file, stage))
        if len(polls) == 3:  # the session ends while the worker reads
            raise Stopped

    with pytest.raises(Stopped):
        run_import(folder2, db, [{"path": str(big), "name": "big.csv"}], False, show)
    assert _workers(folder2) == []  # killed before run_import returned
    assert db.read_bytes() == before and _count(db) == 20
    assert not (folder2 / "result.pickle").exists()


def test_other_work_goes_on_while_an_import_runs(tmp_path):
    # the import is in another process: this process (the server) answers queries on the store meanwhile
    db = tmp_path / "store.duckdb"
    folder = tmp_path / "work"
    folder.mkdir()
    run_import(folder, db, [{"path": str(_scores(tmp_path / "a.csv", 10, 2)), "name": "a.csv"}], False, print)
    big = _scores(tmp_path / "big.csv", 40_000, 25, prefix="B")  # other clients than a.csv's
    folder2 = tmp_path / "work2"
    folder2.mkdir()
    done = {}
    thread = threading.Thread(
        target=lambda: done.update(
            run_import(folder2, db, [{"path": str(big), "name": "big.csv"}], False, lambda *s: None)
        )
    )
    thread.start()
    answered = 0
    while thread.is_alive() and answered < 200:
        if _workers(folder2):
            assert _count(db) in (20, 20 + 1_000_000)  # the old store or the new one, never half
            answered += 1
        time.sleep(0.02)
    thread.join(timeout=600)
    assert answered > 0, "the import ended before it could be watched"
    assert done["reports"][0].imported == 1_000_000 and _count(db) == 1_000_020
