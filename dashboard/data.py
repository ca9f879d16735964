"""The app's data access: the one cached DuckDB connection, a cursor per query, cached query results.

The only module that knows about st.cache_*; views call these functions and never open connections."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from dashboard import queries, store


def database_path() -> tuple[Path, bool]:
    """The database the app shows, and whether the demo had to be chosen because there is no real one.

    $OUTCOMES_DB wins; else data/outcomes.duckdb when it exists; else the demo database (built on first use)."""
    if os.environ.get(store.ENV_VAR):
        return Path(os.environ[store.ENV_VAR]), False
    if store.DEFAULT_DB.exists():
        return store.DEFAULT_DB, False
    return store.DEMO_DB, True


@st.cache_resource(show_spinner=False)
def _root(path: str) -> duckdb.DuckDBPyConnection:
    path_obj = Path(path)
    if path_obj == store.DEMO_DB and not path_obj.exists():
        from dashboard.demo import build_demo

        with st.spinner("First start: building the demo database (synthetic clients)…"):
            build_demo(path_obj)
    return store.connect(path_obj)


def showing_fallback_demo() -> bool:
    """True when the app shows the demo only because there is no database of the clinic's own yet."""
    path, fallback = database_path()
    return fallback and path == store.DEMO_DB


def switch_database() -> None:
    """The clinic's own database now exists: drop the cached demo connection so the next run opens it."""
    _root.clear()


def connection() -> duckdb.DuckDBPyConnection:
    """A fresh cursor on the cached root connection (one per query, safe across Streamlit's threads).
    A database that cannot be opened stops the page with the reason and what to do, not a traceback."""
    path, _ = database_path()
    try:
        return _root(str(path)).cursor()
    except store.StoreError as exc:
        st.error(f"**The database cannot be opened.** {exc}", icon=":material/error:")
        st.stop()


@st.cache_data(show_spinner=False, max_entries=512)
def query(name: str, **params) -> pd.DataFrame:
    """A named query's result, cached on the query name and its parameters until the next import."""
    con = connection()
    try:
        return queries.run(con, name, **params)
    finally:
        con.close()


@st.cache_data(show_spinner=False)
def dataset_info() -> dict:
    con = connection()
    try:
        return {"kind": store.dataset_kind(con), "path": str(database_path()[0])}
    finally:
        con.close()


ENGINE = {
    "outcomes_table",
    "flow_table",
    "kaplan_meier_table",
    "trajectory",
    "improvement_by_dose",
    "band_transitions",
    "maintenance_by_week",
    "doses_to_response",
    "suicidal_ideation",
    "funnel",
}


@st.cache_data(show_spinner=False, max_entries=512)
def engine(function: str, **kwargs):
    """A cached call of one of the outcome engine's functions (dashboard.outcomes), keyed on its arguments."""
    from dashboard import outcomes

    if function not in ENGINE:
        raise KeyError(f"not an engine function: {function}")
    con = connection()
    try:
        return getattr(outcomes, function)(con, **kwargs)
    finally:
        con.close()


@st.cache_data(show_spinner=False)
def instrument(name: str):
    """The registry entry of one instrument."""
    from dashboard import instruments

    con = connection()
    try:
        return instruments.load(con).get(name)
    finally:
        con.close()


@st.cache_data(show_spinner="Preparing the report…", max_entries=8)
def report_html(instrument: str, filters) -> str:
    """The case-conference report for an instrument and cohort."""
    from dashboard import report

    con = connection()
    try:
        return report.build(con, instrument, filters).html
    finally:
        con.close()


def after_import() -> None:
    """Forget cached results: the data changed."""
    query.clear()
    dataset_info.clear()
    engine.clear()
    instrument.clear()
    report_html.clear()
