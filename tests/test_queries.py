"""Guard: every SQL file in queries/ is run by a test, and runs on an empty database and on the demo."""

from __future__ import annotations

import shutil

import pytest

from dashboard import derive, queries, store
from dashboard.cohort import Cohort

# One set of parameters serves every query: the loader binds only the ones a query uses.
SHARED = {
    "cohort": Cohort("PHQ-9", by="modality").sql(),
    "response_pct": 50.0,
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
    "course_gap_days": 90,
    "folds": 5,
    "sample_clients": 1000,
    "coef": [
        {"fold": f, "modality": m, "intercept": 2.0, "baseline": 0.6, "t": -0.9, "t2": 0.05}
        for f in range(5)
        for m in ("IV infusion", "IM injection")
    ],
    "condition_terms": [{"fold": 0, "condition": "MDD", "effect": 0.5}],
    "clients": None,
    "only_off_track": False,
    "alert_dose": 4,
    "alert_day": 14.0,
    "visits": [{"target_day": 1.0, "window_days": 1.0, "bit": 0}, {"target_day": 28.0, "window_days": 7.0, "bit": 1}],
}
# the schema and its migrations, run by store.connect (the derived builds, queries/derive/, by derive.rebuild)
STORE = {"schema", *(f"migrate_{v:03d}" for v in range(2, store.SCHEMA_VERSION + 1))}
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
    "attrition_by_group",
    "stopping_dose",
    "column_mappings",
    "case_mix_patterns",
    "visit_patterns",
    "cohort_groups",
    "hours_instruments",
    "expected_training",
    "expected_scores",
    "expected_alerts",
}
MAY_BE_EMPTY_ON_DEMO = {"import_rejects_for", "column_mappings"}  # the demo imports cleanly, and maps nothing


def test_every_sql_file_has_a_test():
    views = {p.stem for p in queries.files("views")}
    assert views == QUERIES, f"untested: {sorted(views - QUERIES)}; stale: {sorted(QUERIES - views)}"
    assert {p.stem for p in queries.files("store")} == STORE
    every = {p.relative_to(queries.QUERY_DIR).as_posix() for p in queries.QUERY_DIR.rglob("*.sql")}
    roles = {f"{role}/{p.name}" for role in queries.ROLES for p in queries.files(role)}
    assert every == roles, f"SQL files outside the role folders: {sorted(every - roles)}"


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_query_runs_on_empty_and_demo(name, tmp_path, demo_db):
    empty = store.connect(tmp_path / "empty.duckdb")
    try:
        assert queries.run(empty, name, **SHARED) is not None
    finally:
        empty.close()
    # a copy: an app under test in this process may hold the demo open (read-only) for its own views
    copy = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, copy)
    con = store.connect(copy)
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


def test_derived_build_steps_are_the_derive_files_in_name_order():
    names = [p.name for p in queries.files("derive")]
    assert derive.steps() == [f"derive/{p.removesuffix('.sql')}" for p in names]
    assert all(n[:2].isdigit() and n[2] == "_" for n in names), names
    assert len({n[:2] for n in names}) == len(names), "two derive steps share a number"
