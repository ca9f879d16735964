"""Tests for dashboard.cli `import`: exit codes (0 all stored, 1 something rejected, 2 usage error), the printed
account of each file, --kind, --instruments, --replace and the --rejects CSV."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import cli, store

PROJECT = Path(__file__).resolve().parent.parent
SCORES_HEADER = "client_id,assessed_at,instrument,score"


@pytest.fixture(autouse=True)
def _no_default_database(tmp_path, monkeypatch):
    """A test that forgets --db writes to tmp_path, never to the project's data/outcomes.duckdb."""
    monkeypatch.setenv("OUTCOMES_DB", str(tmp_path / "env-default.duckdb"))


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "cli.duckdb"


def lines(*rows: str) -> str:
    return "".join(f"{r}\n" for r in rows)


def run(*args) -> int:
    """cli.main with string arguments; argparse's SystemExit becomes the exit code."""
    try:
        return cli.main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code


def stored(db: Path, sql: str) -> list[tuple]:
    con = store.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_row_imported_exits_0(db, write_file, capsys):
    path = write_file("clients.csv", lines("client_id,site", "C1,North", "C2,South"))
    assert run("import", path, "--db", db) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "clients.csv: imported as clients — 2 rows read: 2 imported, 0 rejected, 0 unchanged duplicates"
    )
    assert stored(db, "select client_id, site from clients order by client_id") == [("C1", "North"), ("C2", "South")]


def test_reimporting_unchanged_files_exits_0(db, write_file, capsys):
    path = write_file("clients.csv", lines("client_id,site", "C1,North", "C2,South"))
    assert run("import", path, "--db", db) == 0
    assert run("import", path, "--db", db) == 0
    out = capsys.readouterr().out
    assert "clients.csv: unchanged as clients — 2 rows read: 0 imported, 0 rejected, 2 unchanged duplicates" in out
    assert stored(db, "select count(*) from import_log") == [(2,)]


def test_a_rejected_row_exits_1_and_prints_line_column_reason(db, write_file, capsys):
    path = write_file("scores.csv", lines(SCORES_HEADER, "A1,2025-03-01,PHQ-9,12", "A1,2025-03-08,PHQ-9,28"))
    assert run("import", path, "--db", db) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "scores.csv: partly imported as scores — 2 rows read: 1 imported, 1 rejected, 0 unchanged duplicates"
    )
    assert out[1] == "    line 3, column score: score 28 outside the PHQ-9 range 0–27"
    assert stored(db, "select score from scores") == [(12.0,)]


def test_more_than_ten_rejects_are_summarised(db, write_file, capsys):
    bad = [f"A1,2025-03-{day:02},PHQ-9,99" for day in range(1, 13)]  # 12 rejected rows
    assert run("import", write_file("scores.csv", lines(SCORES_HEADER, *bad)), "--db", db) == 1
    out = capsys.readouterr().out.splitlines()
    assert sum(1 for line in out if line.startswith("    line ")) == 10
    assert out[-1] == "    … and 2 more (use --rejects PATH)"


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("empty.csv", "", "empty.csv: unreadable — 0 rows read"),
        ("ids.csv", lines("client_id,email", "C1,"), "ids.csv: refused — 1 rows read: 0 imported, 1 rejected"),
        ("vals.csv", lines("client_id,notes", "C1,555-123-4567"), "vals.csv: refused as clients"),
    ],
)
def test_an_unreadable_or_refused_file_exits_1(db, write_file, capsys, name, content, expected):
    good = write_file("good.csv", lines("client_id,site", "C1,North"))
    assert run("import", good, write_file(name, content), "--db", db) == 1
    out = capsys.readouterr().out
    assert expected in out
    assert stored(db, "select client_id from clients") == [("C1",)]  # the good file is still imported


def test_a_missing_file_exits_2_before_importing_anything(db, write_file, tmp_path, capsys):
    good = write_file("good.csv", lines("client_id,site", "C1,North"))
    missing = tmp_path / "nope.csv"
    assert run("import", good, missing, "--db", db) == 2
    assert capsys.readouterr().err == f"error: no such file: {missing}\n"
    assert stored(db, "select count(*) from clients") == [(0,)]


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "the following arguments are required: command"),
        (["import"], "the following arguments are required: FILE"),
        (["import", "x.csv", "--kind", "patients"], "argument --kind: invalid choice: 'patients'"),
        (["import", "x.csv", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["export"], "invalid choice: 'export'"),
    ],
)
def test_bad_arguments_exit_2(capsys, args, message):
    assert run(*args) == 2
    assert message in capsys.readouterr().err


def test_a_bad_instrument_file_exits_2_and_imports_nothing(db, write_file, capsys):
    toml = write_file("bad.toml", '[instruments."X"]\nmin = 0\n')
    scores = write_file("scores.csv", lines(SCORES_HEADER, "A1,2025-03-01,PHQ-9,12"))
    assert run("import", scores, "--db", db, "--instruments", toml) == 2
    assert capsys.readouterr().err == "error: bad.toml: instrument 'X': 'max' is required\n"
    assert stored(db, "select count(*) from scores") == [(0,)]
    assert stored(db, "select count(*) from import_log") == [(0,)]


def test_a_toml_syntax_error_exits_2(db, write_file, capsys):
    toml = write_file("broken.toml", "[instruments.\n")
    scores = write_file("scores.csv", lines(SCORES_HEADER, "A1,2025-03-01,PHQ-9,12"))
    assert run("import", scores, "--db", db, "--instruments", toml) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {toml}: not a valid TOML file (")
    assert err.count("\n") == 1


def test_instruments_defined_once_are_known_to_later_imports(db, write_file):
    toml = write_file("mine.toml", lines('[instruments."CES-D"]', "min = 0", "max = 60", 'aliases = ["cesd"]'))
    first = write_file("a.csv", lines(SCORES_HEADER, "Z1,2025-05-10,CES-D,31"))
    later = write_file("b.csv", lines(SCORES_HEADER, "Z1,2025-06-09,cesd,14"))
    assert run("import", later, "--db", db) == 1  # unknown before the definition
    assert run("import", first, "--db", db, "--instruments", toml) == 0
    assert run("import", later, "--db", db) == 0  # no --instruments this time
    assert stored(db, "select score from scores order by assessed_at") == [(31.0,), (14.0,)]


def test_rejects_csv_lists_every_rejected_row_and_neutralises_formulas(db, write_file, tmp_path, capsys):
    scores = write_file(
        "scores.csv",
        lines(SCORES_HEADER, "A1,2025-03-01,PHQ-9,12", "A1,2025-03-08,=SUM(A1:A9),5", "A1,2030-13-01,PHQ-9,5"),
    )
    sessions = write_file("sessions.csv", lines("client_id,session_at,modality", "A1,2025-03-02T09:00,"))
    out_path = tmp_path / "rejects.csv"
    assert run("import", scores, sessions, "--db", db, "--rejects", out_path) == 1
    assert f"wrote 3 rejected rows to {out_path}" in capsys.readouterr().out
    with out_path.open(newline="", encoding="utf-8") as f:
        got = list(csv.reader(f))
    assert got[0] == ["file", "line", "column", "reason", "value"]
    assert [r[:3] for r in got[1:]] == [
        ["scores.csv", "3", "instrument"],
        ["scores.csv", "4", "assessed_at"],
        ["sessions.csv", "2", "modality"],
    ]
    assert got[1][3].startswith("unknown instrument; known: ")
    assert got[1][4] == "'=•••(••:••)"  # its shape, quoted: a spreadsheet must not run it
    assert got[2][3:] == ["unparseable date; use ISO 8601, e.g. 2024-03-01 or 2024-03-01T14:30", "2030-••-••"]
    assert got[3][3:] == ["dosing session without a modality", ""]


def test_rejects_csv_is_written_with_only_a_header_when_nothing_is_rejected(db, write_file, tmp_path):
    out_path = tmp_path / "rejects.csv"
    assert run("import", write_file("c.csv", lines("client_id", "C1")), "--db", db, "--rejects", out_path) == 0
    assert out_path.read_text(encoding="utf-8").splitlines() == ["file,line,column,reason,value"]


def test_kind_option_overrides_detection(db, write_file):
    path = write_file("clients.csv", lines("client_id,site,modality", "P1,North,iv"))
    assert run("import", path, "--db", db) == 1  # looks like sessions without session_at
    assert run("import", path, "--db", db, "--kind", "clients") == 0
    assert stored(db, "select client_id, site from clients") == [("P1", "North")]


def test_replace_option_overwrites_a_conflict(db, write_file, capsys):
    run("import", write_file("a.csv", lines("client_id,site", "K1,North")), "--db", db)
    changed = write_file("b.csv", lines("client_id,site", "K1,East"))
    assert run("import", changed, "--db", db) == 1
    assert "conflicts with the stored value: stored site North, in file site East" in capsys.readouterr().out
    assert run("import", changed, "--db", db, "--replace") == 0
    assert "1 imported (1 replacing stored values)" in capsys.readouterr().out
    assert stored(db, "select site from clients") == [("East",)]


def test_database_defaults_to_the_environment_variable(tmp_path, write_file, monkeypatch):
    target = tmp_path / "from-env.duckdb"
    monkeypatch.setenv("OUTCOMES_DB", str(target))
    assert run("import", write_file("c.csv", lines("client_id", "C1"))) == 0
    assert stored(target, "select client_id from clients") == [("C1",)]


def test_a_file_that_is_not_a_database_exits_2(write_file, capsys):
    not_db = write_file("notes.duckdb", "these are notes, not a database\n" * 100)
    assert run("import", write_file("c.csv", lines("client_id", "C1")), "--db", not_db) == 2
    assert "cannot be opened as an outcomes database" in capsys.readouterr().err


def test_python_dash_m_dashboard_import(tmp_path, write_file):
    db = tmp_path / "sub.duckdb"
    good = write_file("clients.csv", lines("client_id,site", "C1,North"))
    bad = write_file("scores.csv", lines(SCORES_HEADER, "C1,2025-03-01,PHQ-9,28"))
    env = {**os.environ, "OUTCOMES_DB": str(tmp_path / "unused.duckdb")}
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", "import", str(good), str(bad), "--db", str(db)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "clients.csv: imported as clients — 1 rows read: 1 imported" in done.stdout
    assert "line 2, column score: score 28 outside the PHQ-9 range 0–27" in done.stdout
    assert not (tmp_path / "unused.duckdb").exists()


def _import_on_a_terminal(tmp_path, files) -> str:
    """The import command's output as a terminal shows it (stderr and stdout on one pseudo-terminal)."""
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DB_KEY"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "import", *map(str, files), "--db", str(tmp_path / "t.duckdb")],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=PROJECT,
        env=env,
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=300)
    os.close(leader)
    return out.decode()


def test_import_shows_each_file_and_stage_on_a_terminal_and_nothing_when_piped(tmp_path):
    files = [PROJECT / "data/examples/clients.csv", PROJECT / "data/examples/sessions.csv"]
    shown = _import_on_a_terminal(tmp_path, files)
    for n, name in ((1, "clients.csv"), (2, "sessions.csv")):
        for stage in ("reading", "checking", "storing"):
            assert f"[{n}/2] {name}: {stage}…" in shown, shown
    # a file store's derived tables are refreshed once, after the last file, for the clients of both
    assert "[2/2] sessions.csv: updating the derived tables…" in shown, shown
    assert "[1/2] clients.csv: updating the derived tables…" not in shown, shown
    assert "saving the store" in shown
    piped = subprocess.run(
        [sys.executable, "-m", "dashboard", "import", *map(str, files), "--db", str(tmp_path / "p.duckdb")],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=300,
    )
    assert piped.returncode == 0
    assert "…" not in piped.stderr and "[1/2]" not in piped.stderr + piped.stdout


def _outcomes(capsys, db, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = run("outcomes", "--db", db, *args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_outcomes_take_the_instrument_and_modality_by_alias(demo_db, capsys):
    rc, by_alias, _ = _outcomes(capsys, demo_db, "--instrument", "phq9", "--modality", "iv", "--min-cell", "0")
    assert rc == 0
    rc, by_name, _ = _outcomes(capsys, demo_db, "--instrument", "PHQ-9", "--modality", "IV infusion", "--min-cell", "0")
    assert rc == 0 and by_alias == by_name
    assert {line.split(",")[0] for line in by_name.splitlines()[1:]} == {"IV infusion"}


@pytest.mark.parametrize("flag, value", [("--modality", "hyperbaric"), ("--site", "Atlantis"), ("--condition", "x")])
def test_outcomes_refuse_a_value_not_in_the_database(demo_db, capsys, flag, value):
    rc, out, err = _outcomes(capsys, demo_db, "--instrument", "PHQ-9", flag, value)
    assert rc == 2 and out == ""
    assert f"{flag} '{value}': not in this database; it has: " in err and "Traceback" not in err


def test_outcomes_count_a_timepoint_asked_for_twice_once(demo_db, capsys):
    _, once, _ = _outcomes(capsys, demo_db, "--instrument", "PHQ-9", "--at-days", "28:7")
    _, twice, _ = _outcomes(capsys, demo_db, "--instrument", "PHQ-9", "--at-days", "28:7,28:7")
    assert once == twice
    _, both, _ = _outcomes(capsys, demo_db, "--instrument", "PHQ-9", "--at-days", "28:7,28:3", "--by", "none")
    assert [line.split(",")[1] for line in both.splitlines()[1:]] == ["day_28±3", "day_28±7", "last"]


def test_clinician_vs_rest_needs_one_clinician_and_splits_the_practice(demo_db, capsys):
    rc, _, err = _outcomes(capsys, demo_db, "--instrument", "PHQ-9", "--by", "clinician_vs_rest")
    assert rc == 2 and "give one --clinician" in err
    common = ("--instrument", "PHQ-9", "--at-days", "28", "--min-cell", "0", "--format", "json")
    rc, out, _ = _outcomes(capsys, demo_db, *common, "--by", "clinician_vs_rest", "--clinician", "CL01")
    rows = {(r["group"], r["timepoint"]): r["n_started"] for r in json.loads(out)}
    _, everyone, _ = _outcomes(capsys, demo_db, *common, "--by", "none")
    _, alone, _ = _outcomes(capsys, demo_db, *common, "--by", "none", "--clinician", "CL01")
    assert rows[("this clinician", "day_28")] == json.loads(alone)[0]["n_started"]
    assert (
        rows[("this clinician", "day_28")] + rows[("rest of the practice", "day_28")]
        == json.loads(everyone)[0]["n_started"]
    )


def test_outcomes_round_counts_to_5_and_hide_under_k_unless_exact(demo_db, capsys):
    common = ("--instrument", "PHQ-9", "--at-days", "28,84", "--format", "json")
    _, out, _ = _outcomes(capsys, demo_db, *common)
    _, exact_out, err = _outcomes(capsys, demo_db, *common, "--exact", "--min-cell", "0")
    assert "exact counts, for use inside the clinic only" in err
    counts = ["n_started", "n_evaluable", "n_responders", "n_remission_eligible", "n_remitters"]
    shown = {(r["group"], r["timepoint"]): [r[c] for c in counts] for r in json.loads(out)}
    exact = {(r["group"], r["timepoint"]): [r[c] for c in counts] for r in json.loads(exact_out)}
    # the demo's IV clients at week 4, exactly and as they may leave the clinic (each to the nearest 5)
    assert exact[("IV infusion", "day_28")] == [238, 165, 87, 159, 40]
    assert shown[("IV infusion", "day_28")] == [240, 165, 85, 160, 40]
    # intranasal's 10 remitters at week 12 are hidden, and so is the remission rate built on them
    assert exact[("Intranasal esketamine", "day_84")][4] == 10
    row = next(r for r in json.loads(out) if r["group"] == "Intranasal esketamine" and r["timepoint"] == "day_84")
    assert row["n_remitters"] is None and row["remission_rate"] is None and row["suppressed"] is True
    # rates come from the exact counts, shown to whole percents: 87 / 165 = 0.5273 -> 0.53
    iv = next(r for r in json.loads(out) if r["group"] == "IV infusion" and r["timepoint"] == "day_28")
    assert iv["response_rate"] == 0.53
    assert all(v is None or v % 5 == 0 for values in shown.values() for v in values)


def test_attrition_command_prints_each_table(demo_db, capsys):
    common = ("attrition", "--db", demo_db, "--instrument", "phq9", "--format", "json")
    capsys.readouterr()
    assert run(*common, "--by", "none") == 0
    weeks = json.loads(capsys.readouterr().out)
    assert [r["week"] for r in weeks] == [1, 2, 3, 4, 8, 12]
    # shares fall (or stay) week by week; counts still at risk are rounded to 5
    dosing = [r["still_dosing"] for r in weeks]
    assert dosing == sorted(dosing, reverse=True) and all(0 <= d <= 1 for d in dosing)
    assert all(r["n_still_dosing"] % 5 == 0 and r["n_still_assessed"] % 5 == 0 for r in weeks)
    assert run(*common, "--table", "reconciliation") == 0
    recon = json.loads(capsys.readouterr().out)
    assert [r["stage"] for r in recon][:4] == [
        "First dose",
        "A baseline score",
        "Started (baseline above 0)",
        "Evaluable at week 4",
    ]
    # each stage is within the one it is drawn from
    n = [r["n_clients"] for r in recon]
    assert n[0] >= n[1] >= n[2] >= n[3] and n[1] >= n[4] >= n[5] >= n[6] and n[6] <= n[3]
    assert run(*common, "--table", "stopping-dose", "--by", "none") == 0
    stops = json.loads(capsys.readouterr().out)
    ended = [r for r in stops if r["n_doses"] is not None]
    assert sum(r["share"] for r in ended if r["share"] is not None) == pytest.approx(1, abs=0.06)
    assert run("attrition", "--db", demo_db, "--instrument", "nope") == 2
    assert "unknown instrument" in capsys.readouterr().err


def test_one_rejected_row_is_said_in_the_singular(db, write_file, tmp_path, capsys):
    out_path = tmp_path / "rejects.csv"
    bad = write_file("s.csv", lines(SCORES_HEADER, "C1,2025-01-01,PHQ-9,5", "C2,2025-01-01,PHQ-9,abc"))
    assert run("import", bad, "--db", db, "--rejects", out_path) == 1
    assert f"wrote 1 rejected row to {out_path}" in capsys.readouterr().out
