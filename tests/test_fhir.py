"""FHIR R4 import (issue 16, parts 1 and 2): the same practice imported as CSV, as a FHIR Bundle and as Bulk Data
NDJSON gives identical outcomes; no EHR identifier reaches the database file; every resource is imported,
rejected with its reason and path, or ignored; bad FHIR is a clear message with nothing lost and memory bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dashboard import cli, store
from dashboard.ingest import fhir

KEY = "clinic pseudonym secret 0123456789"
PROJECT = Path(__file__).resolve().parent.parent
LOINC, SNOMED = "http://loinc.org", "http://snomed.info/sct"
PHQ9_ITEMS = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"]
ROUTES = {"IV infusion": "47625008", "IM injection": "78421000", "Sublingual / troche": "37839007"}
START = datetime(2025, 3, 3, 9, 30)


@pytest.fixture(autouse=True)
def pseudonym_key(monkeypatch):
    monkeypatch.setenv(fhir.KEY_VAR, KEY)


def practice(n: int = 36) -> dict:
    """A small practice: per client a PHQ-9 baseline with its items (item 9 above 0 for every fifth), four doses
    by a route, an integration session, PHQ-9 scores at 24 h, day 7 and day 28, a GAD-7 baseline and day 28."""
    clients = []
    for i in range(n):
        modality = list(ROUTES)[i % 3]
        first = START + timedelta(days=i, hours=i % 5)
        items = [2, 2, 2, 1, 2, 1, 2, 1, 1 if i % 5 == 0 else 0]
        doses = [(first + timedelta(days=3.5 * d), 35.0 + d + (i % 4)) for d in range(4)]
        drop = 0.1 + (i % 7) * 0.12
        base = sum(items)
        later = ((1, 0.8), (7, 1.0), (28, 1.3))
        scores = [(first + timedelta(days=t), max(0, round(base * (1 - drop * f)))) for t, f in later]
        clients.append(
            {
                "ehr_id": f"pat-{1000 + i}",
                "mrn": f"MRN{700000 + i}",
                "modality": modality,
                "first": first,
                "baseline_at": first - timedelta(days=2),
                "items": items,
                "doses": doses,
                "integration_at": first + timedelta(days=1, hours=3),
                "phq": scores,
                "gad": [(first - timedelta(days=2), 12), (first + timedelta(days=28), 6 + i % 5)],
                "clinician": f"Practitioner/dr-{i % 4}",
            }
        )
    return {"clients": clients}


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def resources(data: dict, by_urn: bool = False) -> list[tuple[str | None, dict]]:
    """(fullUrl, resource) for every resource of the practice; with by_urn, subjects refer by fullUrl."""
    out = []
    for i, c in enumerate(data["clients"]):
        urn = f"urn:uuid:00000000-0000-4000-8000-{i:012d}"
        subject = {"reference": urn if by_urn else f"Patient/{c['ehr_id']}"}
        out.append(
            (
                urn,
                {
                    "resourceType": "Patient",
                    "id": c["ehr_id"],
                    "identifier": [{"system": "urn:mrn", "value": c["mrn"]}],
                    "name": [{"family": f"Family{i}", "given": ["Given"]}],
                    "birthDate": "1980-01-01",
                },
            )
        )
        comps = [
            {"code": {"coding": [{"system": LOINC, "code": code}]}, "valueInteger": v}
            for code, v in zip(PHQ9_ITEMS, c["items"], strict=True)
        ]
        obs = [(c["baseline_at"], sum(c["items"]), comps)] + [(t, s, None) for t, s in c["phq"]]
        for k, (t, s, components) in enumerate(obs):
            r = {
                "resourceType": "Observation",
                "id": f"phq-{i}-{k}",
                "status": "final",
                "category": [{"coding": [{"code": "survey"}]}],
                "code": {"coding": [{"system": LOINC, "code": "44261-6"}]},
                "subject": subject,
                "effectiveDateTime": _iso(t),
                "valueQuantity": {"value": s, "unit": "{score}"},
            }
            if components:
                r["component"] = components
            out.append((None, r))
        for k, (t, s) in enumerate(c["gad"]):
            out.append(
                (
                    None,
                    {
                        "resourceType": "Observation",
                        "id": f"gad-{i}-{k}",
                        "status": "final",
                        "code": {"coding": [{"system": LOINC, "code": "70274-6"}]},
                        "subject": subject,
                        "effectiveDateTime": _iso(t),
                        "valueInteger": s,
                    },
                )
            )
        out.append(
            (
                None,
                {
                    "resourceType": "Observation",
                    "id": f"bp-{i}",
                    "status": "final",
                    "category": [{"coding": [{"code": "vital-signs"}]}],
                    "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                    "subject": subject,
                    "effectiveDateTime": _iso(c["first"]),
                    "valueQuantity": {"value": 128, "unit": "mm[Hg]"},
                },
            )
        )
        for k, (t, mg) in enumerate(c["doses"]):
            out.append(
                (
                    None,
                    {
                        "resourceType": "MedicationAdministration",
                        "id": f"dose-{i}-{k}",
                        "status": "completed",
                        "medicationCodeableConcept": {
                            "coding": [{"system": fhir.RXNORM, "code": "6130", "display": "ketamine"}]
                        },
                        "subject": subject,
                        "effectiveDateTime": _iso(t),
                        "performer": [{"actor": {"reference": c["clinician"]}}],
                        "dosage": {
                            "route": {"coding": [{"system": SNOMED, "code": ROUTES[c["modality"]]}]},
                            "dose": {"value": mg, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
                        },
                    },
                )
            )
        out.append(
            (
                None,
                {
                    "resourceType": "Procedure",
                    "id": f"kap-{i}",
                    "status": "completed",
                    "code": {"coding": [{"system": SNOMED, "code": "75516001"}]},
                    "subject": subject,
                    "performedDateTime": _iso(c["integration_at"]),
                },
            )
        )
    return out


def write_bundle(path: Path, data: dict) -> Path:
    entries = [({"fullUrl": u} if u else {}) | {"resource": r} for u, r in resources(data, by_urn=True)]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}, indent=1))
    return path


def write_ndjson(folder: Path, data: dict) -> list[Path]:
    """One file per resource type, as a Bulk Data $export writes them."""
    by_type: dict[str, list[dict]] = {}
    for _, r in resources(data):
        by_type.setdefault(r["resourceType"], []).append(r)
    paths = []
    for rtype, rows in by_type.items():
        path = folder / f"{rtype}.ndjson"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(path)
    return paths


def write_csv(folder: Path, data: dict) -> list[Path]:
    """The same practice as the contract's CSV files, ids pseudonymised by the clinic with the same key."""
    sessions = ["client_id,session_at,session_type,modality,dose_mg,clinician_id"]
    scores = ["client_id,assessed_at,instrument,score," + ",".join(f"item{n}" for n in range(1, 10))]
    for c in data["clients"]:
        cid = fhir.pseudonym(KEY, f"Patient/{c['ehr_id']}")
        doctor = fhir.pseudonym(KEY, c["clinician"], prefix="C")
        for t, mg in c["doses"]:
            sessions.append(f"{cid},{_iso(t)},dosing,{c['modality']},{mg:g},{doctor}")
        sessions.append(f"{cid},{_iso(c['integration_at'])},integration,,,")
        scores.append(f"{cid},{_iso(c['baseline_at'])},PHQ-9,{sum(c['items'])}," + ",".join(map(str, c["items"])))
        scores += [f"{cid},{_iso(t)},PHQ-9,{s}" + "," * 9 for t, s in c["phq"]]
        scores += [f"{cid},{_iso(t)},GAD-7,{s}" + "," * 9 for t, s in c["gad"]]
    (folder / "sessions.csv").write_text("\n".join(sessions) + "\n")
    (folder / "scores.csv").write_text("\n".join(scores) + "\n")
    return [folder / "sessions.csv", folder / "scores.csv"]


def outcomes(db: Path, capsys, instrument: str, by: str = "modality") -> str:
    capsys.readouterr()
    args = ["outcomes", "--instrument", instrument, "--by", by, "--exact", "--min-cell", "0", "--db", str(db)]
    assert cli.main(args) == 0
    return capsys.readouterr().out


def imported(db: Path, files: list[Path], capsys) -> str:
    capsys.readouterr()
    code = cli.main(["import", *map(str, files), "--db", str(db)])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_csv_bundle_and_ndjson_give_identical_outcomes(tmp_path, capsys):
    data = practice()
    folders = {name: tmp_path / name for name in ("csv", "bundle", "ndjson")}
    for f in folders.values():
        f.mkdir()
    files = {
        "csv": write_csv(folders["csv"], data),
        "bundle": [write_bundle(folders["bundle"] / "practice.json", data)],
        "ndjson": write_ndjson(folders["ndjson"], data),
    }
    reports = {name: imported(folders[name] / "store.duckdb", paths, capsys) for name, paths in files.items()}
    # every resource accounted for: 36 clients x (1 Patient + 4 PHQ-9 + 2 GAD-7 + 1 vital sign + 4 doses + 1 KAP)
    assert "468 resources read: 396 imported, 0 rejected, 0 unchanged duplicates, 72 ignored" in reports["bundle"]
    assert "36 Patient (about a person: never read or stored)" in reports["bundle"]
    assert "36 Observation (not a score (category vital-signs))" in reports["bundle"]
    for instrument in ("PHQ-9", "GAD-7"):
        for by in ("modality", "none"):
            figures = {name: outcomes(folders[name] / "store.duckdb", capsys, instrument, by) for name in files}
            assert figures["csv"] == figures["bundle"] == figures["ndjson"], (instrument, by)
            assert figures["csv"].count("\n") >= 2
    # the same rows, value for value
    tables = {}
    for name in files:
        con = duckdb.connect(str(folders[name] / "store.duckdb"), read_only=True)
        tables[name] = (
            con.execute(
                "select client_id, session_at, session_type, modality, dose_mg, clinician_id from sessions order by all"
            ).fetchall(),
            con.execute("select client_id, assessed_at, instrument, score, items from scores order by all").fetchall(),
        )
        con.close()
    assert tables["csv"] == tables["bundle"] == tables["ndjson"]
    assert sum(1 for r in tables["bundle"][1] if r[4] is not None and r[4][8] > 0) == 8  # item 9 kept


def test_no_ehr_identifier_reaches_the_database_file(tmp_path, capsys):
    data = practice(12)
    db = tmp_path / "store.duckdb"
    imported(db, [write_bundle(tmp_path / "practice.json", data)], capsys)
    raw = db.read_bytes()
    for c in data["clients"]:
        for secret in (c["ehr_id"], c["mrn"], c["clinician"].split("/")[1]):
            assert secret.encode() not in raw
    assert b"Family1" not in raw and b"1980-01-01" not in raw
    con = duckdb.connect(str(db), read_only=True)
    ids = {r[0] for r in con.execute("select distinct client_id from sessions").fetchall()}
    con.close()
    assert ids == {fhir.pseudonym(KEY, f"Patient/{c['ehr_id']}") for c in data["clients"]}
    assert all(i.startswith("F") and len(i) == 17 and not any(ch.isdigit() for ch in i) for i in ids)


def test_a_fhir_import_needs_a_pseudonym_key(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(fhir.KEY_VAR)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    monkeypatch.setenv("HOME", str(tmp_path))
    db = tmp_path / "store.duckdb"
    assert cli.main(["import", str(write_bundle(tmp_path / "p.json", practice(3))), "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "needs a pseudonym key" in out and fhir.KEY_VAR in out
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[import]\npseudonym_key = "short"\n')
    assert cli.main(["import", str(tmp_path / "p.json"), "--db", str(db)]) == 1
    assert "too short" in capsys.readouterr().out
    (tmp_path / ".streamlit" / "secrets.toml").write_text(f'[import]\npseudonym_key = "{KEY}"\n')
    assert cli.main(["import", str(tmp_path / "p.json"), "--db", str(db)]) == 0


def _one(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "bad.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _good_obs(**change) -> dict:
    r = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "44261-6"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-03-04T09:30:00Z",
        "valueQuantity": {"value": 14, "unit": "{score}"},
    }
    r.update(change)
    return {k: v for k, v in r.items() if v is not None}


def test_bad_resources_are_rejected_with_their_line_path_and_reason(tmp_path, capsys):
    rows = [
        _good_obs(),
        _good_obs(subject=None),
        _good_obs(code={"coding": [{"system": LOINC, "code": "99999-9"}]}),
        _good_obs(valueQuantity={"value": 14, "unit": "mg"}),
        _good_obs(valueQuantity={"value": 40, "unit": "{score}"}),  # over PHQ-9's 27: the contract's check
        _good_obs(effectiveDateTime="yesterday"),  # not an R4 dateTime
        _good_obs(identifier=[{"value": "MRN123"}]),
        {"resourceType": "Observation", "status": "final"},  # no code: invalid R4
    ]
    path = _one(tmp_path, rows)
    with path.open("a") as f:
        f.write("{not json\n")
        f.write('{"no": "resourceType"}\n')
    db = tmp_path / "store.duckdb"
    rejects = tmp_path / "rejects.csv"
    assert cli.main(["import", str(path), "--db", str(db), "--rejects", str(rejects)]) == 1
    out = capsys.readouterr().out
    assert "10 resources read: 1 imported, 9 rejected, 0 unchanged duplicates, 0 ignored" in out
    assert "line 2, column Observation.subject: missing subject" in out
    text = rejects.read_text()
    for needle in (
        "missing subject",
        "Observation.subject",
        "unknown LOINC code (99999-9)",
        "unit mismatch: 'mg'",
        "Observation.valueQuantity.unit",
        "Observation.identifier",
        "not valid JSON",
        "not a FHIR resource",
        "value[x]",  # the over-range score, told by the element it came from
        "Observation.effectiveDateTime",
    ):
        assert needle in text, needle
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select count(*) from scores").fetchone()[0] == 1
    lines = {r[0] for r in con.execute("select line from import_rejects").fetchall()}
    con.close()
    assert lines == set(range(2, 11))  # each reject at its own line of the file, none lost


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"resourceType": "Bundle", "entry": [', "not valid JSON"),
        (json.dumps(_good_obs(), indent=2), "must be a Bundle or NDJSON"),
    ],
)
def test_a_file_that_is_not_fhir_at_all_is_one_message(tmp_path, capsys, content, expected):
    path = tmp_path / "export.json"
    path.write_text(content)
    db = tmp_path / "store.duckdb"
    assert cli.main(["import", str(path), "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert expected in out and "export.json" in out
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select count(*) from scores").fetchone()[0] == 0
    con.close()


def test_a_1_gb_ndjson_is_read_in_bounded_memory(tmp_path):
    """A good line, a 1 GB line (sparse: no disk used) and a good line: the long line is rejected, the two others
    imported, and the process grows by far less than the file (read a piece at a time)."""
    path = tmp_path / "huge.ndjson"
    with path.open("wb") as f:
        f.write((json.dumps(_good_obs()) + "\n").encode())
        f.write(b"{")
        f.truncate(1024**3)
        f.seek(0, 2)
        f.write(b"\n" + (json.dumps(_good_obs(effectiveDateTime="2025-03-05T09:30:00Z")) + "\n").encode())
    script = textwrap.dedent(
        f"""
        import resource, sys
        from dashboard import cli
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        code = cli.main(["import", {str(path)!r}, "--db", {str(tmp_path / "s.duckdb")!r}])
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print("GREW", grew, "CODE", code)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, fhir.KEY_VAR: KEY},
    )
    assert "3 resources read: 2 imported, 1 rejected" in done.stdout, done.stdout + done.stderr
    grew = float(done.stdout.split("GREW ")[1].split()[0])
    assert grew < 200, f"grew {grew:.0f} MB reading a 1 GB file"


def test_the_pseudonym_is_keyed_and_stable():
    a = fhir.pseudonym(KEY, "Patient/123")
    assert a == fhir.pseudonym(KEY, "Patient/123")
    assert a != fhir.pseudonym(KEY + "x", "Patient/123") != fhir.pseudonym(KEY, "Patient/124")
    assert store is not None


def test_a_csv_with_the_ehr_ids_pseudonymised_on_import_matches_the_fhir_import(tmp_path, capsys):
    """The clinic marks the CSV's id columns (--pseudonymise): the same patient gets the same pseudonym as from
    FHIR, so a practice exported both ways gives the same rows; the EHR ids never reach the file."""
    data = practice(15)
    raw = tmp_path / "raw"
    raw.mkdir()
    files = write_csv(raw, data)
    for f in files:  # the EHR's own ids in the CSV, as an export has them
        text = f.read_text()
        for c in data["clients"]:
            text = text.replace(fhir.pseudonym(KEY, f"Patient/{c['ehr_id']}"), c["ehr_id"])
            text = text.replace(fhir.pseudonym(KEY, c["clinician"], prefix="C"), c["clinician"].split("/")[1])
        f.write_text(text)
    csv_db, fhir_db = tmp_path / "csv.duckdb", tmp_path / "fhir.duckdb"
    capsys.readouterr()
    args = ["--pseudonymise", "client_id", "--pseudonymise", "clinician_id"]
    assert cli.main(["import", *map(str, files), "--db", str(csv_db), *args]) == 0, capsys.readouterr().out
    imported(fhir_db, [write_bundle(tmp_path / "practice.json", data)], capsys)
    query = "select client_id, session_at, session_type, modality, dose_mg, clinician_id from sessions order by all"
    rows = {}
    for name, db in (("csv", csv_db), ("fhir", fhir_db)):
        con = duckdb.connect(str(db), read_only=True)
        rows[name] = (
            con.execute(query).fetchall(),
            con.execute("select * exclude (import_id) from scores order by all").fetchall(),
        )
        con.close()
        assert b"pat-10" not in db.read_bytes() and b"dr-1" not in db.read_bytes()
    assert rows["csv"] == rows["fhir"]


def test_a_pseudonymised_column_whose_name_is_hostile_sql_is_only_a_name(tmp_path, capsys):
    """The id column's name comes from the file: quotes, a semicolon and SQL in it are read as a name (quoted as an
    identifier), never as SQL, and its values are pseudonymised as any other's."""
    name = 'ehr key"; drop table sessions; --'
    header = '"' + name.replace('"', '""') + '",session_at,session_type,modality'
    path = tmp_path / "sessions.csv"
    path.write_text(header + "\npat-77,2025-03-03T09:00,dosing,IV\npat-78,2025-03-04T09:00,dosing,IV\n")
    db = tmp_path / "hostile.duckdb"
    args = ["--map", f"client_id={name}", "--pseudonymise", "client_id"]
    assert cli.main(["import", str(path), "--db", str(db), *args]) == 0, capsys.readouterr().out
    con = duckdb.connect(str(db), read_only=True)
    try:
        ids = [r[0] for r in con.execute("select client_id from sessions order by all").fetchall()]
    finally:
        con.close()
    assert sorted(ids) == sorted(fhir.pseudonym(KEY, f"Patient/{x}") for x in ("pat-77", "pat-78"))
    assert b"pat-77" not in db.read_bytes()


def test_pseudonymising_without_a_key_refuses_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(fhir.KEY_VAR)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "clients.csv"
    path.write_text("client_id,site\nEHR-77,North\n")
    db = tmp_path / "s.duckdb"
    assert cli.main(["import", str(path), "--db", str(db), "--pseudonymise", "client_id"]) == 1
    assert "needs a pseudonym key" in capsys.readouterr().out
    assert b"EHR-77" not in db.read_bytes()


LA = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}


def _qr(answers: list[int], total: int | None, linkid=lambda code: f"/{code}", **change) -> dict:
    items = [
        {"linkId": linkid(code), "answer": [{"valueCoding": {"system": LOINC, "code": LA[v]}}]}
        for code, v in zip(PHQ9_ITEMS, answers, strict=True)
    ]
    items[2]["answer"][0]["valueCoding"]["extension"] = [
        {"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": answers[2]}
    ]
    group = [{"linkId": "phq9", "item": items}]
    if total is not None:
        group.append({"linkId": "44261-6", "answer": [{"valueInteger": total}]})
    r = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": "http://loinc.org/q/44249-1",
        "subject": {"reference": "Patient/q1"},
        "authored": "2025-03-04T09:30:00Z",
        "item": group,
    }
    r.update(change)
    return r


def test_questionnaire_responses_give_scores_with_their_items(tmp_path, capsys):
    answers = [2, 1, 3, 0, 1, 2, 1, 0, 1]
    rows = [
        _qr(answers, 11),
        _qr(answers, None, authored="2025-03-11T09:30:00Z"),  # no total item: the items' sum, as in a CSV
        _qr(answers, 11, authored="2025-03-18T09:30:00Z", linkid=lambda code: code),
        _qr(answers, 11, status="in-progress"),
        {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "subject": {"reference": "Patient/q1"},
            "authored": "2025-03-04T09:30:00Z",
            "item": [{"linkId": "mood", "answer": [{"valueInteger": 3}]}],
        },
    ]
    bad = _qr(answers, 11, authored="2025-03-25T09:30:00Z")
    bad["item"][0]["item"][4]["answer"][0]["valueCoding"]["code"] = "LA9999-9"
    rows.append(bad)
    path = _one(tmp_path, rows)
    db = tmp_path / "qr.duckdb"
    rejects = tmp_path / "rejects.csv"
    assert cli.main(["import", str(path), "--db", str(db), "--rejects", str(rejects)]) == 1
    out = capsys.readouterr().out
    assert "6 resources read: 3 imported, 1 rejected, 0 unchanged duplicates, 2 ignored" in out, out
    assert "'LA9999-9' has no number" in rejects.read_text()
    assert "QuestionnaireResponse.item[0].item[4].answer[0].valueCoding" in rejects.read_text()
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute("select assessed_at::varchar, score, items from scores order by assessed_at").fetchall()
    con.close()
    assert got == [
        ("2025-03-04 09:30:00", 11.0, answers),
        ("2025-03-11 09:30:00", 11.0, answers),
        ("2025-03-18 09:30:00", 11.0, answers),
    ]


def test_doses_and_sessions_recorded_as_procedures_or_encounters(tmp_path, capsys, monkeypatch):
    """A clinic that records doses as a Procedure with a code of its own, and integration visits as Encounters,
    adds the codes to its copy of fhir.toml (OUTCOMES_FHIR_CODES)."""
    codes = tmp_path / "fhir.toml"
    codes.write_text(
        fhir.CODES_FILE.read_text()
        + '\n[[sessions]]\nsystem = "urn:clinic"\ncode = "KET-IV"\nsession_type = "dosing"\nmodality = "IV infusion"\n'
        + '\n[[sessions]]\nsystem = "urn:clinic"\ncode = "KAP-INT"\nsession_type = "integration"\n'
    )
    monkeypatch.setenv(fhir.CODES_VAR, str(codes))
    subject = {"reference": "Patient/p9"}

    def procedure(status: str, at: str) -> dict:
        code = {"coding": [{"system": "urn:clinic", "code": "KET-IV"}]}
        r = {"resourceType": "Procedure", "status": status, "subject": subject}
        return r | {"performedDateTime": at, "code": code}

    def encounter(code: str, at: str) -> dict:
        kind = [{"coding": [{"system": "urn:clinic", "code": code}]}]
        r = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}, "subject": subject}
        return r | {"period": {"start": at}, "type": kind}

    rows = [
        procedure("completed", "2025-03-03T09:00:00Z"),
        encounter("KAP-INT", "2025-03-04T10:00:00Z"),
        encounter("OTHER", "2025-03-05T10:00:00Z"),
        procedure("not-done", "2025-03-06T09:00:00Z"),
    ]
    db = tmp_path / "s.duckdb"
    capsys.readouterr()
    assert cli.main(["import", str(_one(tmp_path, rows)), "--db", str(db)]) == 0
    assert "4 resources read: 2 imported, 0 rejected, 0 unchanged duplicates, 2 ignored" in capsys.readouterr().out
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute("select session_at::varchar, session_type, modality from sessions order by 1").fetchall()
    con.close()
    assert got == [("2025-03-03 09:00:00", "dosing", "IV infusion"), ("2025-03-04 10:00:00", "integration", None)]


def test_a_fhir_bundle_imports_from_the_data_page(tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "clinic.duckdb"
    store.connect(db).close()
    monkeypatch.setenv(store.ENV_VAR, str(db))
    bundle = write_bundle(tmp_path / "export.json", practice(4))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(PROJECT / "streamlit_app.py"), default_timeout=180)
    at.run()
    at.switch_page("dashboard/views/data.py").run()
    at.file_uploader[0].set_value(("export.json", bundle.read_bytes(), "application/json")).run()
    [button] = [b for b in at.button if b.label == "Import"]
    button.click().run()
    assert not at.exception
    shown = " ".join(s.value for s in at.success).replace("\\", "").replace("\u2060", "")
    assert "imported as fhir" in shown and "52 resources read: 44 imported" in shown, shown
