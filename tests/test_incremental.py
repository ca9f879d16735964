"""Incremental derived tables: after each import only the clients it names are recomputed (derive.refresh), and
the result equals a full rebuild, over random clinics and random increments (new scores for existing clients, a
new course after a gap, new clients, replaced values)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import derive, store
from dashboard.ingest import import_file

START = datetime(2024, 1, 1, 9, 0)
MODALITIES = ["iv", "im", "troche", "spravato"]


def _normal(value):
    if isinstance(value, float):
        return "nan" if math.isnan(value) else round(value, 9)
    if isinstance(value, list | tuple):
        return tuple(_normal(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _normal(v)) for k, v in value.items()))
    return value


def derived_rows(con) -> dict[str, list]:
    """Every derived table's rows, order-free, floats to 9 places (the sums of a group may be added in another
    order)."""
    out = {}
    for t in derive.tables():
        rows = con.execute(f"select * from {t}").fetchall()
        out[t] = sorted((_normal(r) for r in rows), key=repr)
    return out


@st.composite
def clinic_files(draw):
    """A clinic as a list of files to import in order: the first few are its history, the rest increments."""
    n_clients = draw(st.integers(2, 6))
    files = []
    for step in range(draw(st.integers(2, 5))):
        sessions, scores, clients = [], [], []
        for _ in range(draw(st.integers(1, 4))):
            cid = f"C{draw(st.integers(0, n_clients + step))}"  # later steps bring new clients too
            course_start = START + timedelta(days=draw(st.sampled_from([0, 10, 100, 200, 400])))
            modality = draw(st.sampled_from(MODALITIES))
            for d in sorted(set(draw(st.lists(st.integers(0, 40), min_size=0, max_size=6)))):
                sessions.append(f"{cid},{(course_start + timedelta(days=d)).isoformat()},dosing,{modality}")
            if draw(st.booleans()):
                sessions.append(f"{cid},{(course_start + timedelta(days=2, hours=3)).isoformat()},integration,")
            for d in sorted(set(draw(st.lists(st.integers(-20, 200), min_size=0, max_size=6)))):
                when = course_start + timedelta(days=d, hours=draw(st.sampled_from([0, 5])))
                scores.append(f"{cid},{when.isoformat()},PHQ-9,{draw(st.integers(0, 27))}")
            if draw(st.booleans()):
                clients.append(f"{cid},{draw(st.sampled_from(['North', 'South']))},MDD,{draw(st.integers(0, 6))}")
        if clients:
            files.append(("clients.csv", "client_id,site,condition,prior_treatments", sorted(set(clients))))
        if sessions:
            files.append(("sessions.csv", "client_id,session_at,session_type,modality", sessions))
        if scores:
            files.append(("scores.csv", "client_id,assessed_at,instrument,score", scores))
    return files, draw(st.booleans())


def _apply(db: Path, folder: Path, files, replace: bool, after) -> None:
    con = store.connect(db, key=None)
    try:
        for i, (name, header, rows) in enumerate(files):
            path = folder / f"{i:02d}_{name}"
            path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
            import_file(con, path, replace=replace, after_import=after)
    finally:
        con.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(clinic=clinic_files())
def test_property_refreshing_after_each_import_equals_a_full_rebuild(tmp_path_factory, clinic):
    files, replace = clinic
    folder = tmp_path_factory.mktemp("incremental")
    incremental, full = folder / "incremental.duckdb", folder / "full.duckdb"
    _apply(incremental, folder, files, replace, derive.refresh)
    _apply(full, folder, files, replace, derive.rebuild)
    a, b = store.connect(incremental, read_only=True, key=None), store.connect(full, read_only=True, key=None)
    try:
        got, want = derived_rows(a), derived_rows(b)
        assert got.keys() == want.keys()
        for t in want:
            assert got[t] == want[t], t
    finally:
        a.close()
        b.close()


def test_refresh_recomputes_only_the_clients_the_import_names(tmp_path):
    """A client the import does not name keeps its derived rows untouched (row for row, the same values), one it
    names gets a new course."""
    db = tmp_path / "o.duckdb"
    history = [
        ("sessions.csv", "client_id,session_at,modality", ["A,2024-01-01T09:00,iv", "B,2024-01-01T09:00,iv"]),
        ("scores.csv", "client_id,assessed_at,instrument,score", ["A,2023-12-31,PHQ-9,20", "B,2023-12-31,PHQ-9,18"]),
    ]
    _apply(db, tmp_path, history, False, derive.refresh)
    later = [("more.csv", "client_id,session_at,modality", ["A,2024-09-01T09:00,im"])]  # 244 days on: course 2
    _apply(db, tmp_path, later, False, derive.refresh)
    con = store.connect(db, read_only=True, key=None)
    try:
        assert con.execute("select client_id, course_no, modality from courses order by all").fetchall() == [
            ("A", 1, "IV infusion"),
            ("A", 2, "IM injection"),
            ("B", 1, "IV infusion"),
        ]
    finally:
        con.close()


def test_refresh_rebuilds_everything_when_the_settings_changed(tmp_path, monkeypatch):
    db = tmp_path / "o.duckdb"
    rows = ["A,2024-01-01T09:00,iv", "A,2024-03-01T09:00,iv"]  # 60 days apart
    _apply(db, tmp_path, [("s.csv", "client_id,session_at,modality", rows)], False, derive.refresh)
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text("[settings]\ncourse_gap_days = 30\n")
    monkeypatch.setenv("OUTCOMES_SETTINGS", str(settings_file))
    _apply(db, tmp_path, [("t.csv", "client_id,session_at,modality", ["B,2024-01-01T09:00,iv"])], False, derive.refresh)
    con = store.connect(db, read_only=True, key=None)
    try:
        # A was not in the import, but under a 30-day gap its second dose starts a course of its own
        assert con.execute("select client_id, course_no from courses order by all").fetchall() == [
            ("A", 1),
            ("A", 2),
            ("B", 1),
        ]
        assert derive.is_current(con)
    finally:
        con.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(clinic=clinic_files())
def test_property_one_refresh_after_several_files_equals_a_full_rebuild(tmp_path_factory, clinic):
    # a file store's command refreshes once, after its last file, for every client its files named
    from dashboard.ingest import import_files

    files, replace = clinic
    folder = tmp_path_factory.mktemp("once")
    paths = []
    for i, (name, header, rows) in enumerate(files):
        path = folder / f"{i:02d}_{name}"
        path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
        paths.append(path)
    half = len(paths) // 2
    once, full = folder / "once.duckdb", folder / "full.duckdb"
    calls = []

    def refresh(con):
        calls.append(con.execute("select count(*) from temp._touched").fetchone()[0])
        derive.refresh(con)

    con = store.connect(once, key=None)
    try:  # a history in one command, then the rest in another: two refreshes
        import_files(con, paths[:half], replace=replace, after_import=refresh, derive_once=True)
        import_files(con, paths[half:], replace=replace, after_import=refresh, derive_once=True)
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where temporary").fetchall()}
        assert not tables & {"_touched", "_touched_run"}
    finally:
        con.close()
    assert len(calls) <= 2
    _apply(full, folder, files, replace, derive.rebuild)
    a, b = store.connect(once, read_only=True, key=None), store.connect(full, read_only=True, key=None)
    try:
        got, want = derived_rows(a), derived_rows(b)
        for t in want:
            assert got[t] == want[t], t
    finally:
        a.close()
        b.close()
