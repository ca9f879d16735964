"""Guard: every SQL file in queries/ is run by a test, and runs on an empty database and on the demo."""

from __future__ import annotations

import pytest

from dashboard import derive, queries, store
from dashboard.outcomes import Filters

FILTERS = Filters().params()
COHORT = {"group_by": "modality", **{k: v for k, v in FILTERS.items() if k != "min_baseline"}}
PARAMS = {
    "schema": None,  # run by store.connect
    "derive_dose_events": None,  # run by derive.rebuild
    "derive_courses": None,
    "derive_macros": None,
    "derive_scored": None,
    "derive_client_outcomes": None,
    "table_counts": {},
    "import_log_recent": {"limit": 5},
    "import_rejects_for": {"import_id": 1},
    "instrument_coverage_by_site": {},
    "outcomes_by_group": {"instrument": "PHQ-9", "target_day": 28, "window_days": 7, "min_baseline": None,
                          **COHORT},
    "flow_by_group": {"instrument": "PHQ-9", "target_day": 28, "window_days": 7, "min_induction_doses": 4,
                      "min_baseline": None, **COHORT},
    "time_to_response": {"instrument": "PHQ-9", "min_baseline": None, **COHORT},
    "time_to_relapse": {"instrument": "PHQ-9", "min_baseline": None, **COHORT},
}


def test_every_sql_file_has_a_test():
    files = {p.stem for p in queries.QUERY_DIR.glob("*.sql")}
    assert files == set(PARAMS), f"untested: {sorted(files - set(PARAMS))}; stale: {sorted(set(PARAMS) - files)}"


@pytest.mark.parametrize("name", sorted(n for n, p in PARAMS.items() if p is not None))
def test_query_runs_on_empty_and_demo(name, tmp_path, demo_db):
    empty = store.connect(tmp_path / "empty.duckdb")
    try:
        assert queries.run(empty, name, **PARAMS[name]) is not None
    finally:
        empty.close()
    con = store.connect(demo_db, read_only=True)
    try:
        result = queries.run(con, name, **PARAMS[name])
    finally:
        con.close()
    if name != "import_rejects_for":  # the demo imports cleanly: no rejects
        assert len(result) > 0


def test_derived_build_steps_are_the_derive_files():
    assert set(derive.STEPS) == {n for n in PARAMS if n.startswith("derive_")}
