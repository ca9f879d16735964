"""Resource limits on an import (#14 part 3): what a small hostile file may make the importer do. Each limit is
checked before the expensive step (a file's width before its body, an .xlsx's unpacked size before parsing, a
Parquet file's footer before its data), and what is over a per-row limit is a rejected row, not a stopped import.
The memory guard stops an import that outgrows import_memory_mb, leaving the store as it was."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dashboard import derive, queries, store
from dashboard.ingest import import_file, read
from dashboard.ingest.limits import MAX_CELL_CHARS, MAX_COLUMNS, MAX_LINE_BYTES, MEMORY_EXIT

PROJECT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
CLIENTS = "client_id,site,condition\n"


def reasons(report) -> dict[int, str]:
    return dict(zip(report.rejects["line"], report.rejects["reason"], strict=True))


# --- width: refused before the body is read ------------------------------------------------------------------


def test_a_million_columns_are_refused_by_their_count_before_the_body_is_read(con, write_file):
    # 2 MB of header (under the line limit); the body is not UTF-8, which would be the error if it were read
    header = ",".join(["client_id", *["x"] * 999_999])
    report = import_file(con, write_file("wide.csv", header.encode() + b"\n" + b"\xff\xfe" * 1000 + b"\n"))
    assert report.status in ("refused", "unreadable")
    assert f"1,000,000 columns; a file may have at most {MAX_COLUMNS:,}" in report.message
    assert "UTF-8" not in report.message


def test_one_column_over_the_limit_is_refused_and_the_limit_itself_is_read(con, write_file):
    over = ",".join(["client_id", *[f"x{i}" for i in range(MAX_COLUMNS)]])
    report = import_file(con, write_file("over.csv", over + "\n" + ",".join(["C1"] * (MAX_COLUMNS + 1)) + "\n"))
    assert report.status in ("refused", "unreadable") and f"{MAX_COLUMNS + 1:,} columns" in report.message
    at = ",".join(["client_id", *[f"x{i}" for i in range(MAX_COLUMNS - 1)]])
    report = import_file(con, write_file("at.csv", at + "\n" + ",".join(["C1"] * MAX_COLUMNS) + "\n"))
    assert report.status == "imported" and report.imported == 1, report.summary()


def test_a_first_line_over_4_mib_is_refused_unread(con, write_file):
    report = import_file(con, write_file("long.csv", "client_id," + "n" * (MAX_LINE_BYTES + 1) + "\nC1,x\n"))
    assert report.status in ("refused", "unreadable")
    assert "the first line (the column names) is longer than 4 MiB" in report.message


# --- per row: a long line or cell is a rejected row ----------------------------------------------------------


@pytest.mark.parametrize("quoted", [False, True], ids=["fast-path", "careful-reader"])
def test_a_line_over_4_mib_is_a_rejected_row_and_the_rest_import(con, write_file, quoted):
    q = '"' if quoted else ""
    long = f"{q}C2{q},{q}North{q},{q}{'m' * (MAX_LINE_BYTES + 10)}{q}\n"
    text = CLIENTS + f"{q}C1{q},North,MDD\n" + long + "C3,South,MDD\n"
    report = import_file(con, write_file("lines.csv", text))
    assert report.imported == 2 and report.rejected == 1, report.summary()
    assert "longer than 4 MiB" in reasons(report)[3] or "longer than 32,767" in reasons(report)[3]
    assert report.records_read == report.imported + report.rejected + report.unchanged_duplicates
    assert con.execute("select list(client_id order by client_id) from clients").fetchone()[0] == ["C1", "C3"]


@pytest.mark.parametrize("quoted", [False, True], ids=["fast-path", "careful-reader"])
def test_a_cell_over_32767_characters_is_a_rejected_row(con, write_file, quoted):
    q = '"' if quoted else ""
    text = CLIENTS + f"C1,North,{q}{'m' * (MAX_CELL_CHARS + 1)}{q}\nC2,North,{q}{'m' * 10}{q}\nC3,South,MDD\n"
    report = import_file(con, write_file("cells.csv", text))
    assert reasons(report) == {2: f"a cell is longer than {MAX_CELL_CHARS:,} characters"}, report.summary()
    # at the limit the cell is read (and then judged by the column's own rule: a label is at most 80)
    text = CLIENTS + f"C1,North,{q}{'m' * MAX_CELL_CHARS}{q}\n"
    report = import_file(con, write_file("at.csv", text))
    assert "longer than 32,767" not in " ".join(report.rejects["reason"]), report.summary()


def rewritten_sheet(path: Path, target: Path, change) -> Path:
    """A copy of an .xlsx whose first sheet's XML is change(xml): openpyxl itself writes only what Excel allows."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = change(data.decode()).encode()
            copy.writestr(info, data)
    return target


def test_a_cell_over_32767_characters_in_excel_and_parquet_is_a_rejected_row(con, tmp_path):
    # openpyxl cuts a cell to Excel's 32,767 characters when it is set, so the longer cell is written into the XML
    book = openpyxl.Workbook()
    for row in (["client_id", "site", "condition"], ["C1", "North", "m" * MAX_CELL_CHARS], ["C2", "South", "MDD"]):
        book.active.append(row)
    book.save(tmp_path / "made.xlsx")
    path = rewritten_sheet(
        tmp_path / "made.xlsx", tmp_path / "cells.xlsx", lambda xml: xml.replace("m" * MAX_CELL_CHARS, "m" * 40_000)
    )
    report = import_file(con, path)
    assert reasons(report) == {2: f"a cell is longer than {MAX_CELL_CHARS:,} characters"}, report.summary()
    assert report.imported == 1
    table = pa.table({"client_id": ["P1", "P2"], "site": ["North", "North"], "condition": ["m" * 40_000, "MDD"]})
    pq.write_table(table, tmp_path / "cells.parquet")
    report = import_file(con, tmp_path / "cells.parquet")
    assert reasons(report) == {1: f"a cell is longer than {MAX_CELL_CHARS:,} characters"}, report.summary()
    assert report.imported == 1


# --- Excel: the zip's stated sizes and the sheet's stated dimension are not trusted --------------------------


def test_an_xlsx_that_unpacks_to_over_512_mib_is_refused_before_it_is_parsed(con, tmp_path):
    path = tmp_path / "bomb.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["client_id", "site"])
    book.save(path)
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive,  # 513 MiB of zeros, ~0.5 MB
        archive.open("xl/media/padding.bin", "w", force_zip64=True) as part,
    ):
        zeros = b"\0" * MIB
        for _ in range(513):
            part.write(zeros)
    assert path.stat().st_size < 5 * MIB
    report = import_file(con, path)
    assert report.status in ("refused", "unreadable")
    assert "unpacks to" in report.message and "at most 512 MiB" in report.message and "CSV" in report.message


def test_an_xlsx_whose_dimension_claims_a_million_rows_and_columns_reads_only_its_cells(con, tmp_path):
    path = tmp_path / "dimension.xlsx"
    book = openpyxl.Workbook()
    for row in (["client_id", "site"], ["D1", "North"], ["D2", "South"]):
        book.active.append(row)
    book.save(path)

    def claim_everything(xml: str) -> str:
        assert re.search(r'<dimension ref="A1:B3"\s*/>', xml), xml[:500]
        return re.sub(r'<dimension ref="A1:B3"\s*/>', '<dimension ref="A1:XFD1048576"/>', xml)

    lied = rewritten_sheet(path, tmp_path / "lied.xlsx", claim_everything)
    report = import_file(con, lied)
    assert report.status == "imported" and report.imported == 2, report.summary()


def test_an_xlsx_row_beyond_excels_last_row_refuses_the_file(con, tmp_path):
    path = tmp_path / "rows.xlsx"
    book = openpyxl.Workbook()
    for row in (["client_id", "site"], ["D1", "North"]):
        book.active.append(row)
    book.save(path)
    cell = '<row r="1048577"><c r="A1048577" t="inlineStr"><is><t>D9</t></is></c></row>'
    far = rewritten_sheet(path, tmp_path / "far.xlsx", lambda xml: xml.replace("</sheetData>", cell + "</sheetData>"))
    report = import_file(con, far)
    assert report.status in ("refused", "unreadable") and "1,048,576 rows" in report.message, report.summary()
    assert con.execute("select count(*) from clients").fetchone()[0] == 0


# --- Parquet: the footer is read first ------------------------------------------------------------------------


def test_a_parquet_file_over_the_column_limit_is_refused_from_its_footer(con, tmp_path):
    table = pa.table({"client_id": ["P1"], **{f"x{i}": [1] for i in range(MAX_COLUMNS)}})
    pq.write_table(table, tmp_path / "wide.parquet")
    report = import_file(con, tmp_path / "wide.parquet")
    assert report.status in ("refused", "unreadable")
    assert f"{MAX_COLUMNS + 1:,} columns; a file may have at most {MAX_COLUMNS:,}" in report.message


@pytest.mark.parametrize(
    "limit, value, expected",
    [("MAX_PARQUET_ROWS", 999, "rows; a file may have at most 999"), ("MAX_PARQUET_BYTES", MIB, "uncompressed")],
)
def test_a_parquet_file_over_its_row_or_size_limit_is_refused_from_its_footer(
    con, tmp_path, monkeypatch, limit, value, expected
):
    # the limits themselves (50 million rows, 2 GiB) are lowered here: the rule is the same, the file smaller
    monkeypatch.setattr(read, limit, value)
    rows = 100_000
    table = pa.table({"client_id": [f"P{i}" for i in range(rows)], "site": ["North"] * rows})
    pq.write_table(table, tmp_path / "big.parquet")
    assert pq.ParquetFile(tmp_path / "big.parquet").metadata.row_group(0).total_byte_size > MIB
    report = import_file(con, tmp_path / "big.parquet")
    assert report.status in ("refused", "unreadable") and expected in report.message, report.summary()
    assert con.execute("select count(*) from clients").fetchone()[0] == 0


# --- memory: a file is read in pieces; an import that outgrows its limit is stopped --------------------------

PEAK = """
import resource, sys
from pathlib import Path
from dashboard import store
from dashboard.ingest import import_file
con = store.connect(Path(sys.argv[1]))
if sys.argv[3] != "-":
    con.execute(f"set memory_limit = '{sys.argv[3]}'")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = import_file(con, Path(sys.argv[2]))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(report.imported, report.rejected, before // 1024, after // 1024)
"""


@pytest.mark.parametrize(
    ("header", "memory_limit"),
    [
        # a quoted column name: the careful reader, line by line, in Python
        ('"client_id",site,condition', "-"),
        # plain names: DuckDB's reader reads the file into a temporary table first (and the careful reader then
        # reads it again, for its quotes); DuckDB keeps within its memory_limit by spilling to its temporary
        # directory, and the CLI and the Data page's import set that limit to half of import_memory_mb
        ("client_id,site,condition", "64MB"),
    ],
    ids=["careful-reader", "fast-path-then-careful"],
)
def test_a_300_mb_file_of_long_lines_is_read_in_bounded_memory(tmp_path, header, memory_limit):
    path = tmp_path / "long-lines.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write(header + '\n"C1",North,MDD\n')
        line = '"C2","North","' + "m" * (3 * MIB) + '"\n'  # a 3 MiB cell: a line under 4 MiB, a cell over 32,767
        for _ in range(100):
            f.write(line)
        f.write("C3,South,MDD\n")
    assert path.stat().st_size > 300 * MIB
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(tmp_path / "db.duckdb"), str(path), memory_limit],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported, rejected, before_mb, after_mb = map(int, done.stdout.split())
    assert (imported, rejected) == (2, 100)
    # reading the file whole (as text, then parsed) took over 3 x 300 MB; in pieces it is a few lines' worth
    assert after_mb - before_mb < 150, f"peak memory grew by {after_mb - before_mb} MB"


def test_a_2_gb_sparse_csv_is_refused_in_bounded_memory(tmp_path):
    # once 15 GB of memory: a valid first row, then 2 GB of NUL bytes (a sparse file, no disk)
    path = tmp_path / "sparse.csv"
    path.write_text("client_id,site\nC1,North\n", encoding="utf-8")
    os.truncate(path, 2 * 1024 * MIB)
    done = subprocess.run(
        [sys.executable, "-c", PEAK + "print(report.message)", str(tmp_path / "db.duckdb"), str(path), "-"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures, message = done.stdout.splitlines()[:2]
    imported, rejected, before_mb, after_mb = map(int, figures.split())
    assert (imported, rejected) == (0, 0) and "binary file" in message, done.stdout
    assert after_mb - before_mb < 100, f"peak memory grew by {after_mb - before_mb} MB"


def test_the_cli_import_stops_at_its_memory_limit_and_leaves_the_store_as_it_was(tmp_path, write_file):
    db = tmp_path / "store.duckdb"
    env = {**os.environ, "OUTCOMES_SETTINGS": ""}
    first = write_file("first.csv", CLIENTS + "C1,North,MDD\n")
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", "import", "--db", str(db), str(first)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    before = db.read_bytes()
    settings = write_file("settings.toml", "[settings]\nimport_memory_mb = 1\n")  # below any process's size
    second = write_file("second.csv", CLIENTS + "C2,North,MDD\n")
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", "import", "--db", str(db), str(second)],
        cwd=PROJECT,
        env={**env, "OUTCOMES_SETTINGS": str(settings)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == MEMORY_EXIT, (done.returncode, done.stderr)
    assert "needed more than 1 MB of memory (the setting import_memory_mb) and was stopped" in done.stderr
    assert "nothing was imported" in done.stderr and "Traceback" not in done.stderr
    assert db.read_bytes() == before
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select list(client_id) from clients").fetchone()[0] == ["C1"]
    con.close()


# --- a legacy store's over-long text is cut where it is shown -------------------------------------------------


def test_query_results_cut_text_over_1000_characters(con):
    con.execute("insert into clients (client_id, site) values ('L1', $site)", {"site": "s" * 5_000_000})
    derive.rebuild(con)
    frame = queries._bounded(con.execute("select client_id, site from clients").df())
    assert frame.site[0] == "s" * queries.CUT_TO + "…" and frame.client_id[0] == "L1"
    short = queries._bounded(con.execute("select 1 as n, repeat('a', 1000) as t").df())
    assert short.t[0] == "a" * 1000 and short.n[0] == 1


def _elements(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _elements(child)


def test_pages_on_a_store_with_a_5_mb_label_send_no_element_over_1_mb(tmp_path, monkeypatch):
    # a label of 200 MB once stopped every page (Streamlit refuses a message over 200 MB); 5 MB shows the rule
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "legacy.duckdb"
    con = store.connect(db)
    con.execute("insert into clients (client_id, site, condition) select 'L' || i, 'North', 'MDD' from range(30) t(i)")
    con.execute("update clients set site = repeat('s', 5_000_000) where client_id = 'L1'")
    derive.rebuild(con)
    con.close()
    monkeypatch.setenv(store.ENV_VAR, str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(PROJECT / "streamlit_app.py"), default_timeout=300).run()
        for view in ("overview", "data", "compare"):
            if view != "overview":
                at.switch_page(f"dashboard/views/{view}.py").run()
            assert not at.exception, [e.value for e in at.exception]
            sizes = [len(e.proto.SerializeToString()) for e in _elements(at._tree) if getattr(e, "proto", None)]
            assert sizes and max(sizes) < MIB, f"{view}: an element of {max(sizes):,} bytes"
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
