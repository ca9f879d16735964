"""Column mappings (issue 16, part 3) from the command line: a file with arbitrary column names imports through --map
and --map-value, saved under a name (--save-mapping) for next week's export (--mapping NAME); a wrong mapping is a
clear message naming the column; a mapping cannot carry an identifying column in."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dashboard import cli
from dashboard.ingest import mapping

HEADER = "PatientCode,Visit Date,Visit Kind,Route,Dose\n"
MAP = ["client_id=PatientCode,session_at=Visit Date,session_type=Visit Kind", "modality=Route,dose_mg=Dose"]
VALUES = [
    "modality:Ketamine IV 0.5mg/kg=IV infusion",
    "modality:Ketamine IM=IM injection",
    "session_type:Ketamine treatment=dosing",
    "session_type:KAP Integration=integration",
]


def export(folder: Path, name: str, rows: list[str]) -> Path:
    path = folder / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


WEEK1 = [
    "X1,2025-03-03T09:30,Ketamine treatment,Ketamine IV 0.5mg/kg,35",
    "X1,2025-03-06T09:30,KAP Integration,,",
    "X2,2025-03-04T10:00,Ketamine treatment,Ketamine IM,50",
]
WEEK2 = ["X1,2025-03-10T09:30,Ketamine treatment,Ketamine IV 0.5mg/kg,36", "X2,2025-03-11T10:00,KAP Integration,,"]


def sessions(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select client_id, session_at::varchar, session_type, modality, dose_mg from sessions order by all"
        ).fetchall()
    finally:
        con.close()


def args(*extra: str) -> list[str]:
    out = []
    for m in MAP:
        out += ["--map", m]
    for v in VALUES:
        out += ["--map-value", v]
    return out + list(extra)


def test_a_file_with_its_own_column_names_imports_through_a_saved_mapping(tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    week1 = export(tmp_path, "week1.csv", WEEK1)
    assert cli.main(["import", str(week1), "--db", str(db)]) == 1  # unmapped: refused, naming what is missing
    assert "needs the column(s) client_id" in capsys.readouterr().out
    assert cli.main(["import", str(week1), "--db", str(db), *args("--save-mapping", "EHR weekly")]) == 0
    assert "3 rows read: 3 imported" in capsys.readouterr().out
    week2 = export(tmp_path, "week2.csv", WEEK2)
    assert cli.main(["import", str(week2), "--db", str(db), "--mapping", "EHR weekly"]) == 0
    assert sessions(db) == [
        ("X1", "2025-03-03 09:30:00", "dosing", "IV infusion", 35.0),
        ("X1", "2025-03-06 09:30:00", "integration", None, None),
        ("X1", "2025-03-10 09:30:00", "dosing", "IV infusion", 36.0),
        ("X2", "2025-03-04 10:00:00", "dosing", "IM injection", 50.0),
        ("X2", "2025-03-11 10:00:00", "integration", None, None),
    ]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--map", "client_id=Patient Code"], "column 'Patient Code', which the file does not have"),
        (["--map", "client=PatientCode"], "target 'client' (for column 'PatientCode') is not a field"),
        (["--map", "client_id=PatientCode,clinician_id=PatientCode"], "column 'PatientCode' is mapped to"),
        (["--map-value", "modality:Ketamine IV=Intravenous"], "is not one of IV infusion"),
        (["--map", "client_id"], "write field=column"),
        (["--mapping", "nothing saved"], "no saved mapping named 'nothing saved'"),
        (["--save-mapping", "x"], "saves the --map and --map-value given; none was"),
    ],
)
def test_a_wrong_mapping_is_a_clear_message_naming_the_column(tmp_path, capsys, extra, message):
    db = tmp_path / "store.duckdb"
    week1 = export(tmp_path, "week1.csv", WEEK1)
    code = cli.main(["import", str(week1), "--db", str(db), *extra])
    captured = capsys.readouterr()
    assert code in (1, 2)
    assert message in captured.out + captured.err
    if db.exists():
        assert sessions(db) == []


def test_a_mapping_cannot_bring_in_an_identifying_column(tmp_path, capsys):
    path = tmp_path / "named.csv"
    path.write_text("Patient Name,Visit Date\nJane Roe,2025-03-03\n")
    db = tmp_path / "store.duckdb"
    assert cli.main(["import", str(path), "--db", str(db), "--map", "client_id=Patient Name"]) == 1
    assert "column 'Patient Name' carries direct identifiers" in capsys.readouterr().out
    assert b"Jane Roe" not in db.read_bytes()


def test_a_column_named_as_the_field_a_mapping_fills_is_left_out(tmp_path, capsys):
    path = tmp_path / "both.csv"
    path.write_text("client_id,Code,date,type\nOLD1,N1,2025-03-03,assessment\n")
    db = tmp_path / "store.duckdb"
    assert cli.main(["import", str(path), "--db", str(db), "--kind", "sessions", "--map", "client_id=Code"]) == 0
    assert [r[0] for r in sessions(db)] == ["N1"]


def test_parse_and_round_trip():
    m = mapping.parse(["client_id=A, session_at = B "], ["modality:x = y=IV infusion"])
    assert m.columns == {"client_id": "A", "session_at": "B"}
    assert m.values == {"modality": {"x = y": "IV infusion"}}
    assert mapping.ColumnMap.from_json(m.to_json()) == m
