"""The derived per-client tables (courses, dose_events, scored, client_outcomes, and the views' tables that carry
the cohort's columns), rebuilt after each import inside the import's transaction, so that views only filter and
aggregate small tables.

The derived tables record what they were built from (derived_info.settings_json): the settings their builds bind
and a digest of the build SQL. `is_current` compares that with the settings in force and this code; the app and
the command line call `ensure_current` before answering, so a figure is never read from tables built under other
settings (a week-8 timepoint added, a different course gap) or by another version of the builds."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import duckdb

from dashboard import cohort
from dashboard.queries import files, run_script, sql
from dashboard.settings import Settings, load


def steps() -> list[str]:
    """The derived-table builds, in the order they run: queries/derive/NN_name.sql by file name. Each reads the
    stored tables and the derived tables before it."""
    return [f"derive/{p.stem}" for p in files("derive")]


def fingerprint(settings: Settings) -> dict:
    """What the derived tables depend on: the settings the builds bind, and the builds' SQL (with the cohort's
    generated parts). Two equal fingerprints build identical tables from the same stored rows."""
    fragments = cohort.sql_fragments()
    digest = hashlib.sha256()
    for name in steps():
        digest.update(sql(name).encode())
    digest.update(json.dumps(fragments, sort_keys=True).encode())
    return {"params": json.loads(json.dumps(settings.derive_params())), "sql": digest.hexdigest()}


def built_with(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The fingerprint recorded by the last rebuild (None if none is, or it predates fingerprints)."""
    try:
        row = con.execute("select settings_json from derived_info").fetchone()
    except duckdb.CatalogException:
        return None
    if row is None:
        return None
    recorded = json.loads(row[0])
    return recorded.get("fingerprint") if isinstance(recorded, dict) else None


def is_current(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> bool:
    """Whether the derived tables were built under these settings by these builds."""
    return built_with(con) == fingerprint(settings or load())


def differences(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> list[str]:
    """The settings (or 'the build queries') that differ between the derived tables and those in force."""
    then, now = built_with(con), fingerprint(settings or load())
    if then is None:
        return ["no record of how they were built"]
    changed = sorted(k for k in now["params"] if then.get("params", {}).get(k) != now["params"][k])
    return changed + (["the build queries"] if then.get("sql") != now["sql"] else [])


def rebuild(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> None:
    """Rebuild every derived table from the stored tables (call inside the caller's transaction)."""
    settings = settings or load()
    params = settings.derive_params()
    fragments = cohort.sql_fragments()
    for name in steps():
        run_script(con, name, fragments=fragments, **params)
    con.execute("delete from derived_info")
    record = {"settings": settings.as_json(), "fingerprint": fingerprint(settings)}
    con.execute("insert into derived_info values (now()::timestamp, $s)", {"s": json.dumps(record)})


def ensure_current(
    con: duckdb.DuckDBPyConnection, settings: Settings | None = None, notify: Callable[[str], None] | None = None
) -> bool:
    """Rebuild the derived tables, in one transaction, when they were built under other settings (or by other
    builds) than these; `notify` gets a one-line progress message first. Returns whether it rebuilt. The
    connection must be able to write."""
    settings = settings or load()
    if is_current(con, settings):
        return False
    changed = differences(con, settings)
    if notify:
        notify(f"Rebuilding the derived tables for the settings in force (changed: {', '.join(changed)})…")
    con.execute("begin transaction")
    try:
        rebuild(con, settings)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return True
