"""The app's data access: the one cached DuckDB connection, a cursor per query, cached query results.

The only module that knows about st.cache_*; views call these functions and never open connections."""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from dashboard import derive, outcomes, queries, store, writer
from dashboard.cohort import Cohort
from dashboard.settings import Settings, load

DEMO_CHOICE = "show_demo"  # session state: this session looks at the demo although the clinic has a database


def clinic_path():
    """The clinic's own store: $OUTCOMES_DB, else data/outcomes.duckdb (which may not exist yet)."""
    return store.resolve_path() if os.environ.get(store.ENV_VAR) else store.DEFAULT_DB


def has_clinic_database() -> bool:
    return bool(os.environ.get(store.ENV_VAR)) or store.DEFAULT_DB.exists()


def demo_chosen() -> bool:
    """Whether this session chose the demo (the sidebar's switch) while the clinic has a database."""
    try:
        return bool(st.session_state.get(DEMO_CHOICE))
    except Exception:  # no session (a bare import)
        return False


def database_path() -> tuple[Path, bool]:
    """The database the app shows, and whether the demo had to be chosen because there is no real one.

    $OUTCOMES_DB wins; else data/outcomes.duckdb when it exists; else the demo database (built on first use). A
    session may look at the demo instead (the sidebar's switch); imports never go into the demo (import_target)."""
    if not has_clinic_database():
        return store.DEMO_DB, True
    if demo_chosen():
        return store.DEMO_DB, False
    return clinic_path(), False


def import_target():
    """Where the Data page writes: always the clinic's own store (created by the first import), never the demo."""
    return clinic_path()


def showing_demo_instead() -> bool:
    """True when the page shows the demo, whether there is no clinic database yet or the session chose it."""
    path, fallback = database_path()
    return path == store.DEMO_DB and (fallback or demo_chosen())


def dataset_switch() -> None:
    """The sidebar's switch between the clinic's database and the demo, when the clinic has one (without one the
    demo is shown anyway). Per session: another user keeps what they look at."""
    if not has_clinic_database():
        return
    if not demo_chosen() and dataset_info()["kind"] == "demo":
        return  # the store in use is a demo already
    st.sidebar.toggle(
        "Show the demo data",
        value=demo_chosen(),
        key="demo_switch",
        on_change=lambda: st.session_state.update({DEMO_CHOICE: st.session_state.demo_switch}),
        help="Synthetic clients, for trying the app or showing it without real data. Imports still go into your "
        "clinic's database.",
    )


def show_clinic() -> None:
    """After an import or a definition on the Data page: show the clinic's store, which now exists."""
    st.session_state.pop(DEMO_CHOICE, None)
    st.session_state.pop("demo_switch", None)  # the sidebar's switch is drawn off on the next run
    switch_database()


@st.cache_resource(show_spinner=False)
def _root(path: str, inode: int | None) -> store.Connection:
    """The app's read-only connection on the store file now at `path` (`inode` tells a replaced file from the one
    it replaced). Writers work in a copy that replaces the file (dashboard/writer.py), so the app never holds the
    store for writing and a command-line import runs while it serves."""
    if store.is_lake(path):
        return writer.reading(path)
    path_obj = Path(path)
    if path_obj == store.DEMO_DB and not path_obj.exists():
        from dashboard.demo import build_demo

        with st.spinner("First start: building the demo database (synthetic clients)…"):
            build_demo(path_obj)
    return writer.reading(path_obj)


def _inode(path) -> int | None:
    """Which version of the store is there: a file's inode (a writer replaces the file), or a DuckLake store's
    latest snapshot."""
    if store.is_lake(path):
        con = _root(str(path), None).cursor()
        try:
            return con.execute(
                "select max(snapshot_id) from ducklake_snapshots($name)", {"name": store.ALIAS}
            ).fetchone()[0]
        finally:
            con.close()
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def switch_database() -> None:
    """The clinic's own database now exists: drop the cached demo connection so the next run opens it."""
    _root.clear()


def connection() -> store.Connection:
    """A fresh cursor on the cached root connection (one per query, safe across Streamlit's threads).
    A database that cannot be opened stops the page with the reason and what to do, not a traceback."""
    path, _ = database_path()
    try:
        version = None if store.is_lake(path) else _seen.get(str(path), _inode(path))
        return _root(str(path), version).cursor()
    except store.StoreError as exc:
        st.error(f"**The database cannot be opened.** {exc}", icon=":material/error:")
        st.stop()


@contextmanager
def reading() -> Iterator[store.Connection]:
    """A cursor for one read (see connection). DuckDB checks each block as it reads it from the file; the store was
    verified whole when it was opened (store.verify), but a block read again later (after the buffer pool let it
    go) may fail its check if the file was damaged since. Then the page stops with the reason, and the app forgets
    its connection and every cached result, so that no page answers from the file until it passes a full check
    again."""
    con = connection()
    try:
        yield con
    except duckdb.Error as exc:
        detail = store.damage(exc)
        if detail is None:
            raise
        path, _ = database_path()
        _root.clear()
        after_import()
        _current.pop(str(path), None)
        st.error(f"**The database cannot be opened.** {store.damaged(path, detail)}", icon=":material/error:")
        st.stop()
    finally:
        con.close()


_current_lock = threading.Lock()
_current: dict[str, str] = {}  # database path -> the fingerprint its derived tables were last found built with
_seen: dict[str, int | None] = {}  # database path -> the file (inode) the app's cached results come from


def follow_replacements() -> None:
    """At the start of every run: when the store file was replaced since the app last read it (an import from the
    command line, or by another session), forget the cached connection and results so this run reads the new one.
    Sessions in the middle of a query finish it on the snapshot they started with."""
    path, _ = database_path()
    now = _inode(path)
    with _current_lock:
        if str(path) in _seen and _seen[str(path)] != now:
            if not store.is_lake(path):  # a DuckLake connection reads the latest snapshot by itself
                _root.clear()
            after_import()
            _current.pop(str(path), None)
        _seen[str(path)] = now


def ensure_current() -> None:
    """Before a page reads anything: when the database's derived tables were built under other settings than
    those in force (or by other builds), rebuild them, saying so on the page, and forget cached results. Checked
    once per change of settings, not on every run."""
    follow_replacements()
    path, _ = database_path()
    settings = load()
    wanted = json.dumps(derive.fingerprint(settings), sort_keys=True)
    if _current.get(str(path)) == wanted:
        return
    with _current_lock:
        if _current.get(str(path)) == wanted:
            return
        with reading() as con:
            current = derive.is_current(con, settings)
            changed = "" if current else ", ".join(derive.differences(con, settings))
        if not current:
            note = f"Rebuilding the derived tables for the settings in force (changed: {changed})…"
            with st.spinner(note), writer.writing(path, wait=writer.WAIT_SECONDS) as con:
                derive.ensure_current(con, settings)
            _root.clear()
            after_import()
            _seen[str(path)] = _inode(path)
        _current[str(path)] = wanted


def _cached(**options):
    """st.cache_data keyed by the database the session shows as well as the arguments: two sessions may look at
    different databases (the clinic's and the demo), and a result of one is never shown for the other."""

    def wrap(function):
        def inner(database: str, *args, **kwargs):
            return function(*args, **kwargs)

        inner.__qualname__ = f"{function.__qualname__}[database]"  # Streamlit keys a cache by the function's name
        inner.__module__ = function.__module__
        cached = st.cache_data(**options)(inner)

        @functools.wraps(function)
        def outer(*args, **kwargs):
            return cached(str(database_path()[0]), *args, **kwargs)

        outer.clear = cached.clear
        return outer

    return wrap


def _query(name: str, **params) -> pd.DataFrame:
    with reading() as con:
        return queries.run(con, name, **params)


# --- the views' queries (queries/views/<name>.sql), cached until the next import ----------------------------------


@_cached(show_spinner=False)
def filter_options() -> pd.DataFrame:
    """queries/views/filter_options.sql: the values each sidebar filter can take (dimension, value)."""
    return _query("views/filter_options")


@_cached(show_spinner=False)
def table_counts() -> pd.DataFrame:
    """queries/views/table_counts.sql"""
    return _query("views/table_counts")


@_cached(show_spinner=False)
def import_log_recent(limit: int) -> pd.DataFrame:
    """queries/views/import_log_recent.sql"""
    return _query("views/import_log_recent", limit=limit)


@_cached(show_spinner=False)
def column_mappings() -> pd.DataFrame:
    """queries/views/column_mappings.sql"""
    return _query("views/column_mappings")


@_cached(show_spinner=False)
def import_rejects_for(import_id: int) -> pd.DataFrame:
    """queries/views/import_rejects_for.sql"""
    return _query("views/import_rejects_for", import_id=import_id)


@_cached(show_spinner=False)
def data_quality() -> pd.DataFrame:
    """queries/views/data_quality.sql"""
    return _query("views/data_quality")


@_cached(show_spinner=False)
def instrument_coverage_by_site() -> pd.DataFrame:
    """queries/views/instrument_coverage_by_site.sql"""
    return _query("views/instrument_coverage_by_site")


@_cached(show_spinner=False)
def hours_instruments() -> pd.DataFrame:
    """queries/views/hours_instruments.sql: instruments with scores in the first 24 hours, most clients first."""
    return _query("views/hours_instruments")


@_cached(show_spinner=False, max_entries=256)
def cohort_groups(cohort: Cohort) -> list[str]:
    """queries/views/cohort_groups.sql: the groups of the cohort's first courses, whatever the instrument."""
    with reading() as con:
        return [str(g) for g in queries.run(con, "views/cohort_groups", cohort=cohort.sql()).group]


@_cached(show_spinner=False, max_entries=64)
def client_list(clinician: str | None) -> pd.DataFrame:
    """queries/views/client_list.sql"""
    return _query("views/client_list", clinician=clinician)


@_cached(show_spinner=False, max_entries=64)
def client_scores(client_id: str, instrument: str | None) -> pd.DataFrame:
    """queries/views/client_scores.sql"""
    return _query("views/client_scores", client_id=client_id, instrument=instrument)


@_cached(show_spinner=False, max_entries=64)
def client_sessions(client_id: str) -> pd.DataFrame:
    """queries/views/client_sessions.sql"""
    return _query("views/client_sessions", client_id=client_id)


@_cached(show_spinner=False, max_entries=64)
def client_outcome_rows(client_id: str) -> pd.DataFrame:
    """queries/views/client_outcome_rows.sql"""
    return _query("views/client_outcome_rows", client_id=client_id)


@_cached(show_spinner=False, max_entries=64)
def needs_attention(clinician: str, instrument: str | None) -> pd.DataFrame:
    """queries/views/needs_attention.sql"""
    return _query("views/needs_attention", clinician=clinician, instrument=instrument)


# --- the outcome engine (dashboard.outcomes), cached on the cohort and the arguments ------------------------------


def _engine(function, cohort: Cohort, **kwargs):
    with reading() as con:
        return function(con, cohort, **kwargs)


@_cached(show_spinner="Fitting the case-mix model…", max_entries=32)
def case_mix_model(instrument: str | None, settings: Settings, target_day: float, window_days: float):
    """outcomes.case_mix_model: the case-mix model on the whole clinic, fitted once per import."""
    cohort = Cohort(instrument, settings=settings)
    return _engine(outcomes.case_mix_model, cohort, target_day=target_day, window_days=window_days)


@_cached(show_spinner=False, max_entries=128)
def adjusted(cohort: Cohort, target_day: float, window_days: float):
    """outcomes.adjusted: response per group, crude and adjusted for case mix; (table, model)."""
    model = case_mix_model(cohort.instrument, cohort.settings, target_day, window_days)
    return _engine(outcomes.adjusted, cohort, target_day=target_day, window_days=window_days, model=model)


@_cached(show_spinner="Fitting the mixed model…", max_entries=128)
def mmrm(cohort: Cohort, target_day: float) -> pd.DataFrame:
    """outcomes.mmrm: mean change from baseline as the trials estimate it, beside the completers' mean."""
    return _engine(outcomes.mmrm, cohort, target_day=target_day)


@_cached(show_spinner="Fitting the expected course…", max_entries=16)
def expected_model(instrument: str | None, settings: Settings):
    """expected.fit: the expected course's models for an instrument, fitted on the whole clinic once per import
    (whatever the filters: a filter change applies the same models in DuckDB)."""
    from dashboard import expected

    return _engine(expected.fit, Cohort(instrument, settings=settings))


def _with_model(function, cohort: Cohort, **kwargs):
    return _engine(function, cohort, model=expected_model(cohort.instrument, cohort.settings), **kwargs)


@_cached(show_spinner=False, max_entries=64)
def client_band(cohort: Cohort, client_id: str) -> pd.DataFrame:
    """expected.client_band: one client's scores with the expected upper bound from the other clients' history."""
    from dashboard import expected

    return _with_model(expected.client_band, cohort, client_id=client_id)


@_cached(show_spinner=False, max_entries=64)
def off_track(cohort: Cohort, clients: tuple[str, ...]) -> pd.DataFrame:
    """expected.off_track for some clients (a clinician's), the models fitted on the whole clinic."""
    from dashboard import expected

    return _with_model(expected.off_track, cohort, clients=list(clients))


@_cached(show_spinner=False, max_entries=64)
def alert_quality(cohort: Cohort) -> pd.DataFrame | None:
    """expected.alert_quality (None when there is too little history for the expected course)."""
    from dashboard import expected

    try:
        return _with_model(expected.alert_quality, cohort)
    except outcomes.OutcomeError:
        return None


@_cached(show_spinner=False, max_entries=512)
def outcomes_table(cohort: Cohort, timepoints: list | None = None, include_last: bool = True) -> pd.DataFrame:
    """outcomes.outcomes_table: response and remission per group and timepoint."""
    return _engine(outcomes.outcomes_table, cohort, timepoints=timepoints, include_last=include_last)


@_cached(show_spinner=False, max_entries=512)
def flow_table(cohort: Cohort, target_day: float | None = None, window_days: float | None = None) -> pd.DataFrame:
    """outcomes.flow_table: the flow from first dose to included."""
    return _engine(outcomes.flow_table, cohort, target_day=target_day, window_days=window_days)


@_cached(show_spinner=False, max_entries=512)
def kaplan_meier_table(cohort: Cohort, event: str) -> pd.DataFrame:
    """outcomes.kaplan_meier_table: time to response or relapse."""
    return _engine(outcomes.kaplan_meier_table, cohort, event=event)


@_cached(show_spinner=False, max_entries=512)
def trajectory(cohort: Cohort, bin_days: float, max_day: float, measure: str = "score") -> pd.DataFrame:
    """outcomes.trajectory: mean score (or % change) per time bin."""
    return _engine(outcomes.trajectory, cohort, bin_days=bin_days, max_day=max_day, measure=measure)


@_cached(show_spinner=False, max_entries=512)
def improvement_by_dose(cohort: Cohort, max_dose: int = 6) -> pd.DataFrame:
    """outcomes.improvement_by_dose: early improvement after each dose."""
    return _engine(outcomes.improvement_by_dose, cohort, max_dose=max_dose)


@_cached(show_spinner=False, max_entries=512)
def band_transitions(cohort: Cohort, target_day: float, window_days: float) -> pd.DataFrame:
    """outcomes.band_transitions: severity band at baseline and at a timepoint."""
    return _engine(outcomes.band_transitions, cohort, target_day=target_day, window_days=window_days)


@_cached(show_spinner=False, max_entries=512)
def maintenance_by_week(cohort: Cohort) -> pd.DataFrame:
    """outcomes.maintenance_by_week: maintenance doses per week."""
    return _engine(outcomes.maintenance_by_week, cohort)


@_cached(show_spinner=False, max_entries=512)
def doses_to_response(cohort: Cohort) -> pd.DataFrame:
    """outcomes.doses_to_response: dosing sessions before the first response."""
    return _engine(outcomes.doses_to_response, cohort)


@_cached(show_spinner=False, max_entries=512)
def suicidal_ideation(cohort: Cohort) -> pd.DataFrame:
    """outcomes.suicidal_ideation: item 9 at baseline, resolved and emerged."""
    return _engine(outcomes.suicidal_ideation, cohort)


@_cached(show_spinner=False, max_entries=512)
def funnel(cohort: Cohort, target_day: float, window_days: float):
    """outcomes.funnel: groups, limits and the overall rate for a funnel plot."""
    return _engine(outcomes.funnel, cohort, target_day=target_day, window_days=window_days)


@_cached(show_spinner=False, max_entries=512)
def attrition(cohort: Cohort) -> pd.DataFrame:
    """outcomes.attrition: still dosing and still assessed (Kaplan–Meier)."""
    return _engine(outcomes.attrition, cohort)


@_cached(show_spinner=False, max_entries=512)
def stopping_dose(cohort: Cohort) -> pd.DataFrame:
    """outcomes.stopping_dose: the dose after which clients stopped."""
    return _engine(outcomes.stopping_dose, cohort)


@_cached(show_spinner=False, max_entries=512)
def reconciliation(cohort: Cohort) -> pd.DataFrame:
    """outcomes.reconciliation: the client counts behind each figure at the primary timepoint."""
    return _engine(outcomes.reconciliation, cohort)


CACHED = [
    hours_instruments,
    cohort_groups,
    case_mix_model,
    adjusted,
    expected_model,
    alert_quality,
    client_band,
    off_track,
    mmrm,
    filter_options,
    table_counts,
    import_log_recent,
    column_mappings,
    import_rejects_for,
    data_quality,
    instrument_coverage_by_site,
    client_list,
    client_scores,
    client_sessions,
    client_outcome_rows,
    needs_attention,
    outcomes_table,
    flow_table,
    kaplan_meier_table,
    trajectory,
    improvement_by_dose,
    band_transitions,
    maintenance_by_week,
    doses_to_response,
    suicidal_ideation,
    funnel,
    attrition,
    stopping_dose,
    reconciliation,
]


@_cached(show_spinner=False)
def dataset_info() -> dict:
    with reading() as con:
        where = database_path()[0]
        shown = "a DuckLake store (PostgreSQL catalog)" if store.is_lake(where) else str(where)
        return {"kind": store.dataset_kind(con), "path": shown}


@_cached(show_spinner=False)
def instrument(name: str):
    """The registry entry of one instrument."""
    from dashboard import instruments

    with reading() as con:
        return instruments.load(con).get(name)


@_cached(show_spinner="Preparing the report…", max_entries=8)
def report_html(cohort: Cohort) -> str:
    """The case-conference report for a cohort."""
    from dashboard import report

    with reading() as con:
        return report.build(con, cohort).html


def after_import() -> None:
    """Forget cached results: the data changed."""
    for function in CACHED:
        function.clear()
    dataset_info.clear()
    instrument.clear()
    report_html.clear()
