"""A multi-site store on DuckLake with a PostgreSQL catalog (a real server, tests/conftest.py): the same queries and
figures as a single-file store, two imports from two processes at once with readers alongside, and a clear
message when PostgreSQL is down."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dashboard import store
from dashboard.demo_data import generate

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def halves(tmp_path_factory) -> dict[str, list[Path]]:
    """A synthetic clinic of 240 clients split in two exports (different clients), Parquet files."""
    folder = tmp_path_factory.mktemp("halves")
    frames = generate(n_clients=240, seed=11)
    first = set(sorted(frames["clients"].client_id)[:120])
    out: dict[str, list[Path]] = {"a": [], "b": []}
    for part in out:
        for kind in ("clients", "sessions", "scores"):
            frame = frames[kind]
            chosen = frame.client_id.isin(first) if part == "a" else ~frame.client_id.isin(first)
            path = folder / f"{part}_{kind}.parquet"
            frame[chosen].to_parquet(path, index=False)
            out[part].append(path)
    return out


def run(*args, data_path: Path | None = None, timeout=600, extra=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (store.KEY_VAR, store.DATA_PATH_VAR)} | (extra or {})
    if data_path is not None:
        env[store.DATA_PATH_VAR] = str(data_path)
    command = [sys.executable, "-m", "dashboard", *args]
    return subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=timeout)


FIGURES = [
    ["outcomes", "--instrument", "PHQ-9", "--by", by, "--format", "json"]
    for by in ("none", "modality", "site", "clinician", "integration")
] + [["outcomes", "--instrument", "GAD-7", "--by", "modality", "--at-days", "14:7,56:14"]]


def figures(db: str, data_path: Path | None = None) -> list[str]:
    out = []
    for args in FIGURES:
        done = run(*args, "--db", db, data_path=data_path)
        assert done.returncode == 0, done.stderr
        out.append(done.stdout)
    return out


@pytest.fixture(scope="module")
def file_figures(halves, tmp_path_factory) -> list[str]:
    db = tmp_path_factory.mktemp("file") / "single.duckdb"
    done = run("import", *map(str, halves["a"] + halves["b"]), "--db", str(db))
    assert done.returncode == 0, done.stderr
    return figures(str(db))


def test_two_imports_at_once_with_readers_alongside_give_the_single_file_figures(
    postgres, halves, file_figures, tmp_path
):
    lake, data_path = f"ducklake:postgres:{postgres()}", tmp_path / "lake-data"
    first = run("import", str(halves["a"][0]), "--db", lake, data_path=data_path)  # the store's schema, once
    assert first.returncode == 0, first.stderr
    env = {k: v for k, v in os.environ.items() if k != store.KEY_VAR} | {store.DATA_PATH_VAR: str(data_path)}
    cli = [sys.executable, "-m", "dashboard", "import"]
    writers = [
        subprocess.Popen(
            [*cli, *map(str, files), "--db", lake], cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for files in (halves["a"][1:], halves["b"])
    ]
    read_errors: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            done = run("outcomes", "--instrument", "PHQ-9", "--db", lake, data_path=data_path)
            if done.returncode != 0:
                read_errors.append(done.stderr)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        results = [(w.wait(timeout=600), w.stdout.read().decode(), w.stderr.read().decode()) for w in writers]
    finally:
        stop.set()
        reader.join()
    for code, out, err in results:
        assert code == 0, (out, err)
        assert "rejected" in out and "Traceback" not in err
    assert read_errors == []
    assert figures(lake, data_path) == file_figures
    # the data are Parquet files under OUTCOMES_DATA_PATH; the catalog is in PostgreSQL
    assert list(data_path.rglob("*.parquet"))


def test_a_lake_store_reads_and_rebuilds_like_a_file(postgres, halves, tmp_path):
    lake, data_path = f"ducklake:postgres:{postgres()}", tmp_path / "lake-data"
    assert run("import", *map(str, halves["a"]), "--db", lake, data_path=data_path).returncode == 0
    again = run("import", *map(str, halves["a"]), "--db", lake, data_path=data_path)
    assert again.returncode == 0 and "0 imported" in again.stdout  # the same export twice changes nothing
    settings = tmp_path / "settings.toml"
    settings.write_text("[settings]\ncourse_gap_days = 30\n")
    other = run(
        "outcomes",
        "--instrument",
        "PHQ-9",
        "--db",
        lake,
        data_path=data_path,
        extra={"OUTCOMES_SETTINGS": str(settings)},
    )
    assert other.returncode == 0, other.stderr
    assert "Rebuilding the derived tables for the settings in force (changed: course_gap_days)" in other.stderr
    report = run("report", "--out", str(tmp_path / "r.html"), "--db", lake, data_path=data_path)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_a_postgresql_that_is_down_is_a_clear_message(postgres, halves, tmp_path):
    lake, data_path = f"ducklake:postgres:{postgres()}", tmp_path / "lake-data"
    assert run("import", str(halves["a"][0]), "--db", lake, data_path=data_path).returncode == 0
    postgres.stop()
    try:
        for args in (["outcomes", "--instrument", "PHQ-9"], ["import", str(halves["a"][1])]):
            done = run(*args, "--db", lake, data_path=data_path, timeout=120)
            assert done.returncode == 2, (done.stdout, done.stderr)
            assert "PostgreSQL catalog running and reachable" in done.stderr and "Traceback" not in done.stderr
    finally:
        postgres.start()


def test_a_lake_store_needs_a_data_path(postgres):
    done = run("outcomes", "--instrument", "PHQ-9", "--db", f"ducklake:postgres:{postgres()}")
    assert done.returncode == 2 and "OUTCOMES_DATA_PATH" in done.stderr and "Traceback" not in done.stderr
