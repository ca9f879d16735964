"""The derived per-client tables (courses, dose_events, scored, client_outcomes, and the views' tables that carry
the cohort's columns), rebuilt after each import inside the import's transaction, so that views only filter and
aggregate small tables."""

from __future__ import annotations

import dataclasses
import json

import duckdb

from dashboard.queries import sql
from dashboard.settings import Settings, load

# Built in this order; each file is one statement that reads the tables before it.
STEPS = {
    "derive_dose_events": ("course_gap_days", "induction_days"),
    "derive_courses": ("lookback_days", "integration_min_sessions"),
    "derive_macros": (),
    "derive_scored": (),
    "derive_client_outcomes": (
        "rapid_day",
        "rapid_window_days",
        "primary_day",
        "primary_window_days",
        "induction_days",
        "early_pct",
        "relapse_gap_min",
        "relapse_gap_max",
    ),
    "derive_cohort_outcomes": (),
    # per-client tables for the views, each with the cohort's columns copied in (filtered without a join)
    "derive_timepoint_scores": ("timepoints",),
    "derive_dose_improvement": (),
    "derive_trajectory_bins": ("bin_widths", "max_day"),
    "derive_maintenance_weeks": (),
    "derive_cohort_macro": (),
}


def rebuild(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> None:
    """Rebuild every derived table from the stored tables (call inside the caller's transaction)."""
    settings = settings or load()
    params = settings.derive_params()
    for name, needs in STEPS.items():
        con.execute(sql(name), {k: params[k] for k in needs} or None)
    con.execute("delete from derived_info")
    con.execute(
        "insert into derived_info values (now()::timestamp, $s)", {"s": json.dumps(dataclasses.asdict(settings))}
    )
