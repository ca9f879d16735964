"""The derived per-client tables (courses, dose_events, scored, client_outcomes, and the views' tables that carry
the cohort's columns), rebuilt after each import inside the import's transaction, so that views only filter and
aggregate small tables."""

from __future__ import annotations

import dataclasses
import json

import duckdb

from dashboard.queries import files, run_script
from dashboard.settings import Settings, load


def steps() -> list[str]:
    """The derived-table builds, in the order they run: queries/derive/NN_name.sql by file name. Each is one
    statement that reads the stored tables and the derived tables before it."""
    return [f"derive/{p.stem}" for p in files("derive")]


def rebuild(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> None:
    """Rebuild every derived table from the stored tables (call inside the caller's transaction)."""
    settings = settings or load()
    params = settings.derive_params()
    for name in steps():
        run_script(con, name, **params)
    con.execute("delete from derived_info")
    con.execute(
        "insert into derived_info values (now()::timestamp, $s)", {"s": json.dumps(dataclasses.asdict(settings))}
    )
