"""Guard: every SQL file in queries/ is run by a test, and runs on an empty database and on the demo."""

from __future__ import annotations

import pytest

from dashboard import derive, queries, store
from dashboard.outcomes import Filters

# One set of parameters serves every query: the loader binds only the ones a query uses.
SHARED = {
    **Filters().params(),
    "group_by": "modality",
    "instrument": "PHQ-9",
    "target_day": 28,
    "window_days": 7,
    "min_induction_doses": 4,
    "bin_days": 7,
    "max_day": 182,
    "max_dose": 6,
    "improvement_pct": 20,
    "limit": 5,
    "import_id": 1,
    "clinician": "CL01",
    "client_id": None,
    "standard": True,
    "standard_targets": [{"target_day": 28.0, "window_days": 7.0}],
    "custom_targets": [{"target_day": 30.0, "window_days": 5.0}],
    "include_last": True,
}
# run by store.connect and derive.rebuild in every test
BUILT_BY_CODE = {
    "schema",
    "derive_dose_events",
    "derive_courses",
    "derive_macros",
    "derive_scored",
    "derive_client_outcomes",
    "derive_timepoint_scores",
    "derive_cohort_outcomes",
    "derive_trajectory_bins",
    "derive_cohort_macro",
    "derive_dose_improvement",
    "derive_maintenance_weeks",
    "migrate_002",
    "migrate_003",
}
QUERIES = {
    "table_counts",
    "import_log_recent",
    "import_rejects_for",
    "instrument_coverage_by_site",
    "filter_options",
    "outcomes_by_group",
    "flow_by_group",
    "time_to_response",
    "time_to_relapse",
    "trajectory_by_bin",
    "improvement_by_dose",
    "band_transitions",
    "maintenance_doses_by_week",
    "doses_to_response",
    "suicidal_ideation_summary",
    "client_list",
    "client_scores",
    "client_sessions",
    "client_outcome_rows",
    "needs_attention",
    "data_quality",
}
MAY_BE_EMPTY_ON_DEMO = {"import_rejects_for"}  # the demo imports cleanly


def test_every_sql_file_has_a_test():
    files = {p.stem for p in queries.QUERY_DIR.glob("*.sql")}
    known = QUERIES | BUILT_BY_CODE
    assert files == known, f"untested: {sorted(files - known)}; stale: {sorted(known - files)}"


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_query_runs_on_empty_and_demo(name, tmp_path, demo_db):
    empty = store.connect(tmp_path / "empty.duckdb")
    try:
        assert queries.run(empty, name, **SHARED) is not None
    finally:
        empty.close()
    con = store.connect(demo_db)  # the same configuration as the app under test in this process
    try:
        # a client of CL01 with PHQ-9 scores, for the client-level queries
        client = con.execute(
            "select client_id from courses where clinician_id = 'CL01' order by client_id limit 1"
        ).fetchone()[0]
        result = queries.run(con, name, **(SHARED | {"client_id": client}))
    finally:
        con.close()
    if name not in MAY_BE_EMPTY_ON_DEMO:
        assert len(result) > 0


def test_derived_build_steps_are_the_derive_files():
    assert set(derive.STEPS) == {n for n in BUILT_BY_CODE if n.startswith("derive_")}
    assert {n for n in BUILT_BY_CODE if n.startswith("migrate_")} == {
        f"migrate_{v:03d}" for v in range(2, store.SCHEMA_VERSION + 1)
    }
