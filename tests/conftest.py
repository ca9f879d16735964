"""Shared fixtures: a fresh outcomes database per test and a helper that writes small input files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import store


@pytest.fixture
def con(tmp_path):
    """A new, empty outcomes database (schema and built-in instruments in place) in the test's tmp_path."""
    connection = store.connect(tmp_path / "outcomes.duckdb")
    yield connection
    connection.close()


@pytest.fixture
def write_file(tmp_path):
    """write_file(name, content) -> Path: text is written as UTF-8 exactly as given, bytes as they are."""

    def write(name: str, content: str | bytes):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return path

    return write


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    """A demo database (600 synthetic clients) built once per test run through the normal import path."""
    from dashboard.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    result = build_demo(path)
    assert all(r.ok for r in result["reports"])
    return path


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL server (Debian's postgresql package) on a free local port, in a temporary data folder,
    for the session: yields a function that creates a new empty database and returns its libpq connection string.
    Run as the postgres user when the tests run as root (PostgreSQL refuses to run as root). Without the package
    the tests that use it are skipped, except in CI (the variable CI is set), where that is a failure."""
    import glob
    import os
    import shutil
    import socket
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        message = "the DuckLake tests need PostgreSQL: apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this fails instead of skipping)")
        pytest.skip(message)
    bin_dir = os.path.dirname(initdb)
    # not under pytest's folder for root (mode 0700, which the postgres user cannot enter)
    folder = Path(tempfile.mkdtemp(prefix="outcomes-postgres-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True, capture_output=True
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run(
        [*as_user, f"{bin_dir}/pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    counter = iter(range(10_000))
    psql = f"{bin_dir}/psql" if os.path.exists(f"{bin_dir}/psql") else shutil.which("psql")

    def new_database() -> str:
        name = f"lake{next(counter)}"
        subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-qc", f"create database {name}"],
            check=True,
            capture_output=True,
        )
        return f"dbname={name} host=127.0.0.1 port={port} user=postgres"

    new_database.port = port
    new_database.stop = lambda: subprocess.run(
        [*as_user, f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True
    )
    new_database.start = lambda: subprocess.run(
        [*as_user, f"{bin_dir}/pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        capture_output=True,
    )
    time.sleep(0.1)
    try:
        yield new_database
    finally:
        new_database.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium under Playwright, one for the whole run. Playwright's Sync API allows one instance per
    thread while it is open, so every browser test shares this one (a second `sync_playwright()` in the same
    thread fails with "using Playwright Sync API inside the asyncio loop"). Without chromium or Playwright the
    tests that use it are skipped, except in CI (the variable CI is set), where that is a failure."""
    import os
    import shutil

    # importing test_browser skips (fails in CI) when chromium or Playwright is missing
    chromium_args = pytest.importorskip("test_browser").CHROMIUM_ARGS
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        message = "the browser tests need Debian's chromium on PATH: apt-get install chromium"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True, args=chromium_args)
        yield launched
        launched.close()


@pytest.fixture
def clinic_db(tmp_path, monkeypatch):
    """An empty clinic store as the app's database (OUTCOMES_DB)."""
    path = tmp_path / "clinic.duckdb"
    store.connect(path).close()
    monkeypatch.setenv(store.ENV_VAR, str(path))
    return path


@pytest.fixture
def app_page(monkeypatch):
    """Open a page of the app under AppTest on a database (OUTCOMES_DB), with Streamlit's caches cleared (they
    outlive an AppTest) and optional link parameters; the page must run without an exception."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    app = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")

    def open_page(page: str, db=None, query: dict | None = None):
        if db is not None:
            monkeypatch.setenv(store.ENV_VAR, str(db))
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(app, default_timeout=180)
        at.run()
        at.switch_page(f"dashboard/views/{page}.py")
        for key, value in (query or {}).items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, [e.stack_trace for e in at.exception]
        return at

    return open_page


@pytest.fixture
def data_page(app_page):
    """Open the app's Data page (on the database OUTCOMES_DB names)."""
    return lambda: app_page("data")
