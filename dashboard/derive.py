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
import re
from collections.abc import Callable

import duckdb

from dashboard import cohort
from dashboard.queries import files, run_script, sql
from dashboard.settings import Settings, load
from dashboard.store import ALIAS


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
    return (_record(con) or {}).get("fingerprint")


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
    record = {"settings": settings.as_json(), "fingerprint": fingerprint(settings), "instruments": _instruments(con)}
    con.execute("insert into derived_info values (now()::timestamp, $s)", {"s": json.dumps(record)})


CREATES = re.compile(r"^create or replace table (\w+) as", re.M | re.I)


def tables() -> list[str]:
    """The derived tables, in the order the builds make them."""
    return [t for name in steps() for t in CREATES.findall(sql(name))]


def refresh(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> None:
    """After an import: recompute the derived rows of the clients in temp table _touched(client_id) only (every
    derived row belongs to one client, and depends only on that client's stored rows). The builds run unchanged
    over temp tables holding the stored tables' rows of those clients, into temp tables of the derived tables'
    names; each derived table then has those clients' rows replaced. Falls back to a full rebuild when the derived
    tables were built under other settings or builds, or the instruments changed. Call inside the caller's
    transaction; the result equals a full rebuild (tests/test_incremental.py)."""
    settings = settings or load()
    record = _record(con)
    if (
        record is None
        or record.get("fingerprint") != fingerprint(settings)
        or record.get("instruments") != _instruments(con)
    ):
        rebuild(con, settings)
        return
    n_touched, n_clients = con.execute(
        "select (select count(*) from temp._touched), (select count(distinct client_id) from sessions)"
    ).fetchone()
    if n_touched > REFRESH_SHARE * max(n_clients, 1):
        rebuild(con, settings)  # most clients named (a first or a full export): one full build is cheaper
        return
    params = settings.derive_params()
    fragments = cohort.sql_fragments()
    touched = "(select client_id from temp._touched)"
    derived = tables()
    try:
        for t in STORED_PER_CLIENT:
            # tables, not views: the builds' joins are planned on the real (small) sizes. A table's name cannot be
            # a bound parameter where one is created or changed; every name here is one of this module's own
            # (STORED_PER_CLIENT, or a CREATE of the build files: tables()), never input.
            con.execute(
                f"create or replace temp table {t} as select * from query_table($stored) where client_id in {touched}",
                {"stored": f"{ALIAS}.main.{t}"},
            )
        for name in steps():
            text = CREATES.sub(lambda m: f"create or replace temp table {m.group(1)} as", sql(name))
            if CREATES.search(sql(name)):
                run_script(con, name, text=text, fragments=fragments, **params)
        for t in derived:
            con.execute(f"delete from {ALIAS}.main.{t} where client_id in {touched}")
            con.execute(f"insert into {ALIAS}.main.{t} by name select * from temp.{t}")
    finally:
        for t in (*derived, *STORED_PER_CLIENT):
            con.execute(f"drop table if exists temp.{t}")


REFRESH_SHARE = 0.25  # above this share of the clients named by an import, refresh rebuilds in full
STORED_PER_CLIENT = ("clients", "sessions", "scores")  # the stored tables the builds read, by client


def note_instruments(con: duckdb.DuckDBPyConnection) -> None:
    """Record the instruments in force without a rebuild, after a change no stored score is affected by (an
    instrument defined before any of its scores is imported): the derived rows do not depend on it yet."""
    record = _record(con)
    if record is None:
        return
    record["instruments"] = _instruments(con)
    con.execute("update derived_info set settings_json = $s", {"s": json.dumps(record)})


def _record(con) -> dict | None:
    try:
        row = con.execute("select settings_json from derived_info").fetchone()
    except duckdb.CatalogException:
        return None
    recorded = json.loads(row[0]) if row else None
    return recorded if isinstance(recorded, dict) else None


def _instruments(con) -> str:
    """A digest of the instrument definitions (the builds read their ranges, bands and thresholds)."""
    rows = con.execute("select * from instruments order by all").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


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
