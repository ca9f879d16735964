"""Column mappings on the Data page (issue 16, part 3) under the real Streamlit runtime: a file with its own column
names imports through a mapping made on the page and saved under a name, next week's file through the saved
mapping in one choice, and a mapping saved from the command line (with values) is offered the same way."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard import cli
from tests.test_mapping import sessions

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
HEADER = "PatientCode,Visit Date,Visit Kind,Route,Dose\n"
WEEK1 = (
    HEADER + "X1,2025-03-03T09:30,dosing,IV,35\nX2,2025-03-04T10:00,dosing,IM,50\nX1,2025-03-06T09:30,integration,,\n"
)
WEEK2 = HEADER + "X1,2025-03-10T09:30,dosing,IV,36\n"
CHOSEN = {"client_id": "PatientCode", "session_at": "Visit Date", "session_type": "Visit Kind", "modality": "Route"}


rows = sessions  # the stored sessions, as tests/test_mapping.py reads them


def _import(at: AppTest) -> AppTest:
    [button] = [b for b in at.button if b.label == "Import"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_mapping_made_on_the_page_is_used_and_saved(clinic_db, data_page):
    at = data_page()
    at.file_uploader[0].set_value(("week1.csv", WEEK1.encode(), "text/csv")).run()
    at.selectbox(key="mapping_choice").set_value("New mapping…").run()
    at.selectbox(key="mapping_kind").set_value("sessions").run()
    assert "Choose the column for client_id" in " ".join(w.value for w in at.warning)
    assert not [b for b in at.button if b.label == "Import"]  # not until the required columns are chosen
    for field, column in CHOSEN.items():
        at.selectbox(key=f"map_sessions_{field}").set_value(column).run()
    assert at.selectbox(key="map_sessions_dose_mg").value == "Dose"  # guessed from its name
    preview = [d.value for d in at.dataframe if "client_id" in d.value.columns][-1]
    assert list(preview.columns[:3]) == ["client_id", "session_at", "session_type"] and preview.client_id[0] == "X1"
    at.text_input(key="mapping_name").input("EHR weekly").run()
    _import(at)
    assert any("3 imported, 0 rejected" in s.value for s in at.success), [
        x.value for x in [*at.error, *at.warning, *at.success, *at.info]
    ]
    assert rows(clinic_db) == [
        ("X1", "2025-03-03 09:30:00", "dosing", "IV infusion", 35.0),
        ("X1", "2025-03-06 09:30:00", "integration", None, None),
        ("X2", "2025-03-04 10:00:00", "dosing", "IM injection", 50.0),
    ]
    # next week: the saved mapping, one choice
    at = data_page()
    at.file_uploader[0].set_value(("week2.csv", WEEK2.encode(), "text/csv")).run()
    assert "EHR weekly" in at.selectbox(key="mapping_choice").options
    at.selectbox(key="mapping_choice").set_value("EHR weekly").run()
    assert "client_id ← PatientCode" in " ".join(c.value for c in at.caption)
    _import(at)
    assert ("X1", "2025-03-10 09:30:00", "dosing", "IV infusion", 36.0) in rows(clinic_db)


def test_a_mapping_saved_from_the_command_line_is_offered_with_its_values(clinic_db, data_page, tmp_path, capsys):
    first = tmp_path / "first.csv"
    first.write_text(HEADER + "Y1,2025-04-01T09:00,Ketamine treatment,Ketamine IV 0.5mg/kg,40\n")
    args = ["import", str(first), "--db", str(clinic_db), "--save-mapping", "From the CLI"]
    args += ["--map", ",".join(f"{f}={c}" for f, c in CHOSEN.items()) + ",dose_mg=Dose"]
    args += [
        "--map-value",
        "modality:Ketamine IV 0.5mg/kg=IV infusion",
        "--map-value",
        "session_type:Ketamine treatment=dosing",
    ]
    assert cli.main(args) == 0, capsys.readouterr()
    at = data_page()
    week = HEADER + "Y1,2025-04-08T09:00,Ketamine treatment,Ketamine IV 0.5mg/kg,41\n"
    at.file_uploader[0].set_value(("ehr.csv", week.encode(), "text/csv")).run()
    at.selectbox(key="mapping_choice").set_value("From the CLI").run()
    _import(at)
    assert rows(clinic_db) == [
        ("Y1", "2025-04-01 09:00:00", "dosing", "IV infusion", 40.0),
        ("Y1", "2025-04-08 09:00:00", "dosing", "IV infusion", 41.0),
    ]


def test_ids_pseudonymised_from_the_page(clinic_db, data_page, monkeypatch):
    from dashboard.ingest import fhir

    monkeypatch.setenv(fhir.KEY_VAR, "clinic pseudonym secret 0123456789")
    at = data_page()
    at.file_uploader[0].set_value(("ehr.csv", WEEK1.encode(), "text/csv")).run()
    at.selectbox(key="mapping_choice").set_value("New mapping…").run()
    at.selectbox(key="mapping_kind").set_value("sessions").run()
    for field, column in CHOSEN.items():
        at.selectbox(key=f"map_sessions_{field}").set_value(column).run()
    at.checkbox(key="pseudonymise").check().run()
    _import(at)
    assert any("3 imported, 0 rejected" in s.value for s in at.success), [x.value for x in [*at.error, *at.warning]]
    ids = {r[0] for r in rows(clinic_db)}
    assert ids == {fhir.pseudonym("clinic pseudonym secret 0123456789", f"Patient/{x}") for x in ("X1", "X2")}
    assert b"X1," not in clinic_db.read_bytes()
