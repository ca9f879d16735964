"""Settings never drift from the data: a database built under the defaults, read under other settings (course
gap, baseline lookback, an added week-8 timepoint, the response threshold), gives exactly the figures of a
database built under those settings, from the engine, the command line and the app."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import derive, settings, store
from dashboard.demo import build_demo
from tests import figures

PROJECT = Path(__file__).resolve().parent.parent
OTHER = """[settings]
course_gap_days = 45
baseline_lookback_days = 14
response_pct = 40.0
timepoints = [[1, 1], [7, 3], [28, 7], [56, 7], [84, 14], [182, 28]]
"""


@pytest.fixture(scope="module")
def other_settings(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("settings") / "settings.toml"
    path.write_text(OTHER, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built_under_other(tmp_path_factory, other_settings) -> Path:
    """The demo built while the other settings are in force."""
    path = tmp_path_factory.mktemp("other") / "demo.duckdb"
    before = os.environ.get(settings.ENV_VAR)
    os.environ[settings.ENV_VAR] = str(other_settings)
    try:
        build_demo(path)
    finally:
        if before is None:
            del os.environ[settings.ENV_VAR]
        else:
            os.environ[settings.ENV_VAR] = before
    return path


@pytest.fixture
def defaults_copy(demo_db, tmp_path) -> Path:
    path = tmp_path / "defaults.duckdb"
    shutil.copy(demo_db, path)
    return path


def test_the_settings_differ_where_it_matters(demo_db, other_settings):
    con = store.connect(demo_db, read_only=True)
    try:
        assert derive.is_current(con, settings.Settings())
        changed = derive.differences(con, settings.load(other_settings))
    finally:
        con.close()
    assert {"course_gap_days", "lookback_days", "response_pct", "timepoints"} <= set(changed)


def test_engine_reads_defaults_built_tables_as_if_built_under_the_settings(
    defaults_copy, built_under_other, other_settings, monkeypatch
):
    monkeypatch.setenv(settings.ENV_VAR, str(other_settings))
    con = store.connect(defaults_copy)
    try:
        assert not derive.is_current(con)
        assert derive.ensure_current(con, notify=lambda m: None)
        assert derive.is_current(con) and not derive.ensure_current(con)  # once
        rebuilt = figures.collect(con)
    finally:
        con.close()
    con = store.connect(built_under_other, read_only=True)
    try:
        expected = figures.collect(con)
    finally:
        con.close()
    assert len(expected) > 300
    assert figures.differences(rebuilt, expected) == []
    # and they are not the defaults' figures: the settings changed them
    con = store.connect(built_under_other, read_only=True)
    try:
        monkeypatch.delenv(settings.ENV_VAR)
        assert figures.differences(figures.collect(con), expected)
    finally:
        con.close()


def _outcomes(db: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "dashboard",
            "outcomes",
            "--instrument",
            "PHQ-9",
            "--at-days",
            "56:7",
            "--db",
            str(db),
            "--format",
            "json",
            "--min-cell",
            "0",
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_command_line_rebuilds_before_answering(defaults_copy, built_under_other, other_settings):
    env = {**os.environ, settings.ENV_VAR: str(other_settings)}
    done = _outcomes(defaults_copy, env)
    assert done.returncode == 0, done.stderr
    assert "Rebuilding the derived tables for the settings in force" in done.stderr
    assert "timepoints" in done.stderr
    rows = json.loads(done.stdout)
    week8 = [r for r in rows if r["timepoint"] == "day_56"]
    assert week8 and all(r["n_evaluable"] > 0 for r in week8)  # the defect: 0 for every group
    assert done.stdout == _outcomes(built_under_other, env).stdout
    again = _outcomes(defaults_copy, env)  # rebuilt once: no second rebuild
    assert "Rebuilding" not in again.stderr and again.stdout == done.stdout


def test_app_rebuilds_before_answering(defaults_copy, other_settings, monkeypatch):
    monkeypatch.setenv(settings.ENV_VAR, str(other_settings))
    monkeypatch.setenv(store.ENV_VAR, str(defaults_copy))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(PROJECT / "streamlit_app.py"), default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # every threshold in force is shown under "How is this calculated?"
    shown = " ".join(c.value for c in at.caption)
    assert "response ≥ 40% reduction (`response_pct`)" in shown and "56 ± 7" in shown
    assert "new course after 45 days" in shown
    st.cache_resource.clear()  # let go of the app's connection
    con = store.connect(defaults_copy, read_only=True)
    try:
        assert derive.is_current(con)
    finally:
        con.close()
