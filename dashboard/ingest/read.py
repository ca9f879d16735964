"""Read one input file (CSV, Excel .xlsx, Parquet) into a table of text cells with each row's line number."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import math
import re
import stat
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import pyarrow as pa

from dashboard.ingest.limits import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_LINE_BYTES,
    MAX_PARQUET_BYTES,
    MAX_PARQUET_ROWS,
    MAX_XLSX_ROWS,
    MAX_XLSX_UNPACKED_BYTES,
    mib,
)

SUPPORTED = {".csv": "CSV", ".txt": "CSV", ".xlsx": "Excel", ".parquet": "Parquet", ".pq": "Parquet"}
csv.field_size_limit(MAX_CELL_CHARS)  # a longer cell is an error for its row
CHUNK = 16 * 1024 * 1024  # files are read in pieces of this size: memory does not grow with the file
# DuckDB's CSV reader binds a file's columns in time that grows with their square (5,000 columns: 11 s); wider
# files take the careful path, which is linear
FAST_PATH_MAX_COLUMNS = 200
HEAD_BYTES = 65536  # read first: the encoding, binary and header checks
BOM = b"\xef\xbb\xbf"
_WHITESPACE = [i for i in range(0x3001) if chr(i).isspace()]  # str.isspace() (none lies beyond U+3000)
WHITESPACE_SQL = "(" + " || ".join(f"chr({i})" for i in _WHITESPACE) + ")"
_SPACE = "[" + "".join(f"\\x{{{i:x}}}" for i in _WHITESPACE) + "]"  # the same as an RE2 class
# bytes that start any of them in UTF-8 but the space, CR and LF: single bytes, each found at memchr speed (longer
# needles take twenty times longer); their lead bytes also start other characters (dashes, curly quotes, CJK): a
# file with one of those is merely trimmed the slower way
ODD_SPACE = (b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f", b"\xc2", b"\xe1", b"\xe2", b"\xe3")
_VISIBLE = re.compile(rb"\S")


class FileError(ValueError):
    """A file that cannot be read at all; the message is one line and names the file."""


@dataclass
class CsvSource:
    """A plain CSV file (no quoting, no empty lines: record k is on line k + 1) that DuckDB reads itself, straight
    into the importer's connection, once the file's columns are mapped (see attach)."""

    path: Path
    name: str
    delimiter: str
    width: int  # fields on the header line, named or not
    scan: FileScan


@dataclass
class RawTable:
    """Text cells under positional names c0..cN, plus `_line`: the row's line (or row) number in the file.

    `table` holds them, or (a plain CSV file) `csv` says where they are until attach() reads them."""

    headers: list[str]
    table: pa.Table | None
    line_label: str = "line"
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line, reason) of rows the reader refused
    csv: CsvSource | None = None
    attached_rows: int | None = None  # rows of a CSV source, once attached

    @property
    def n_rows(self) -> int:
        if self.table is None:
            return self.attached_rows or 0
        return self.table.num_rows + len(self.malformed)


def read_file(path: Path, name: str | None = None) -> RawTable:
    """Read `path`; `name` is how the file is called in messages (an upload's original name)."""
    name = name or path.name
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise FileError(f"{name}: unsupported file type '{suffix or '(none)'}'; use .csv, .xlsx or .parquet")
    try:
        info = path.lstat()
    except OSError as exc:
        raise FileError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISLNK(info.st_mode):
        raise FileError(f"{name}: is a symbolic link; import the file it points to by its own path")
    if not stat.S_ISREG(info.st_mode):
        raise FileError(f"{name}: is not a regular file (a folder, pipe or device); import a saved file")
    size = info.st_size
    if size == 0:
        raise FileError(f"{name}: the file is empty")
    reader = {"CSV": _read_csv, "Excel": _read_xlsx, "Parquet": _read_parquet}[SUPPORTED[suffix]]
    return reader(path, name)


def _headers(raw: list, name: str) -> list[str]:
    headers = []
    for h in raw:
        text = _cell_text(h)
        headers.append(text.strip() if text is not None else "")
    while headers and headers[-1] == "":
        headers.pop()
    if not any(headers):
        raise FileError(f"{name}: the first row has no column names")
    return [h or f"column_{i + 1}" for i, h in enumerate(headers)]


def _build(headers: list[str], rows: list[list], lines: list[int]) -> pa.Table:
    columns = {"_line": pa.array(lines, type=pa.int64())}
    for j in range(len(headers)):
        columns[f"c{j}"] = pa.array([r[j] if j < len(r) else None for r in rows], type=pa.string())
    return pa.table(columns)


def _read_csv(path: Path, name: str) -> RawTable:
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
        wide = _wide_unicode(head[:64])
        if wide:
            raise FileError(
                f"{name}: {wide} text, not UTF-8; save the file as UTF-8 CSV (in Excel: Save As, CSV UTF-8)"
            )
        if b"\x00" in head:
            raise FileError(f"{name}: this is a binary file, not a CSV text file")
        start = 3 if head.startswith(BOM) else 0
        end = head.find(b"\n", start)
        while end < 0 and len(head) <= MAX_LINE_BYTES:  # a long first line: read on to its end
            more = f.read(CHUNK)
            if not more:
                break
            head += more
            end = head.find(b"\n", start)
        if _VISIBLE.search(head, start) is None and not _visible_later(f):
            raise FileError(f"{name}: the file is empty")
    first_line = head[start : end if end >= 0 else len(head)]
    if len(first_line) > MAX_LINE_BYTES:
        raise FileError(
            f"{name}: the first line (the column names) is longer than {mib(MAX_LINE_BYTES)}; "
            f"a file may have at most {MAX_COLUMNS:,} columns"
        )
    _check_width(first_line, name)
    # A file is left to DuckDB's reader, which also refuses text that is not UTF-8, when its header line is plain;
    # the rest of it is searched in a thread while the reader reads it (FileScan), and the careful reader reads
    # the file after all when that finds a quote, a NUL or a stray carriage return.
    try:
        first = first_line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        first = None
    if first is not None and '"' not in first and _VISIBLE.search(first_line):
        delimiter = ";" if first.count(";") > first.count(",") else ","
        if first.count(delimiter) < FAST_PATH_MAX_COLUMNS:
            headers = _headers(first.split(delimiter), name)  # no quote in it: the fields are as written
            return RawTable(
                headers, None, "line", [], CsvSource(path, name, delimiter, len(first.split(delimiter)), FileScan(path))
            )
    return _read_csv_careful(path, name)


def _visible_later(f) -> bool:
    """Whether the rest of the file (read in pieces) holds anything but space."""
    while piece := f.read(CHUNK):
        if _VISIBLE.search(piece):
            return True
    return False


def _check_width(first_line: bytes, name: str) -> None:
    """Refuse a file whose first line has more than MAX_COLUMNS fields, before anything else is read."""
    for delimiter in (b",", b";"):
        n = first_line.count(delimiter) + 1
        if n > MAX_COLUMNS:
            if b'"' in first_line:  # delimiters inside quoted names do not count
                with contextlib.suppress(csv.Error):
                    n = len(next(csv.reader([first_line.decode("utf-8", "replace")], delimiter=delimiter.decode())))
            if n > MAX_COLUMNS:
                raise FileError(
                    f"{name}: the first line has {n:,} columns; a file may have at most {MAX_COLUMNS:,} "
                    "(the contract has under 40)"
                )


class FileScan:
    """What the fast path must know of the whole file, and its SHA-256 for the import log, worked out in a thread
    while DuckDB reads the file: memchr-fast searches, and hashlib, which lets go of the GIL."""

    def __init__(self, path: Path):
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        sha, quote, nul, cr, crlf, newlines, odd = hashlib.sha256(), False, False, 0, 0, 0, False
        last = b""
        try:
            with path.open("rb") as f:
                while piece := f.read(CHUNK):
                    sha.update(piece)
                    quote = quote or b'"' in piece
                    nul = nul or b"\x00" in piece
                    if b"\r" in piece:
                        cr += piece.count(b"\r")
                        crlf += piece.count(b"\r\n")
                    if last == b"\r" and piece.startswith(b"\n"):
                        crlf += 1  # a line end split between two pieces
                    newlines += piece.count(b"\n")
                    odd = odd or any(b in piece for b in ODD_SPACE)
                    last = piece[-1:]
        except OSError as exc:
            self.error = exc
            return
        self.sha256 = sha.hexdigest()
        # a quote (cells the fast reader would not unquote), a NUL, a carriage return not ending a line: the two
        # readers would split or keep these differently
        self.plain = not quote and not nul and cr == crlf
        # DuckDB's reader passes over empty lines: attach compares its rows with the lines after the header
        self.records = newlines + (0 if last == b"\n" else 1) - 1
        self.odd_space = odd  # whitespace other than spaces and line ends

    def result(self) -> FileScan:
        self._thread.join()
        if self.error is not None:
            raise FileError(f"cannot be read ({self.error.strerror or self.error})")
        return self

    def value(self) -> str:
        """The SHA-256 (as importer._Digest gives it)."""
        self._thread.join()
        return "" if self.error is not None else self.sha256


class _LongLine:
    """Stands for a line longer than MAX_LINE_BYTES, which is not read into memory."""


def _lines(path: Path, name: str, long_lines: list[int]):
    """The file's lines as text, each with its line end, read in pieces. A line longer than MAX_LINE_BYTES is
    passed over (its number goes to `long_lines`) and given as an empty line. Text that is not UTF-8 stops the
    read with a FileError naming the byte and its line."""
    line, pending, skipping = 0, [], False
    with path.open("rb") as f:
        first = True
        while piece := f.read(CHUNK):
            if first:
                piece, first = piece.removeprefix(BOM), False
            at = 0
            while True:
                end = piece.find(b"\n", at)
                part = piece[at:] if end < 0 else piece[at : end + 1]
                if not skipping:
                    pending.append(part)
                    if sum(map(len, pending)) > MAX_LINE_BYTES + 1:
                        pending, skipping = [], True
                if end < 0:
                    break
                line += 1
                at = end + 1
                if skipping:
                    long_lines.append(line)
                    skipping = False
                    yield "\n"
                else:
                    yield _text(b"".join(pending), line, name)
                    pending = []
        if skipping:
            long_lines.append(line + 1)
        elif pending and any(pending):
            yield _text(b"".join(pending), line + 1, name)


def _text(data: bytes, line: int, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02X} on line {line}); save the file as UTF-8 CSV"
        ) from None


BATCH_ROWS = 65_536  # rows the careful reader holds as Python lists before it packs them into Arrow


def _read_csv_careful(path: Path, name: str) -> RawTable:
    """Python's CSV reader, row by row: each malformed row is reported with its line and the rest are kept. The
    file is read in pieces and its rows packed into Arrow in batches, so memory follows the cells kept."""
    long_lines: list[int] = []
    lines = _lines(path, name, long_lines)
    first = next(lines, None)
    if long_lines and long_lines[0] == 1:
        raise FileError(f"{name}: the first line (the column names) is longer than {mib(MAX_LINE_BYTES)}")
    if first is None:
        raise FileError(f"{name}: the file is empty")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    # strict: a stray or unterminated quote (a truncated file) is an error for that row, not silently accepted
    reader = csv.reader(_chain(first, lines), delimiter=delimiter, strict=True)
    try:
        header_row = next(reader)
    except csv.Error as exc:
        raise FileError(f"{name}: the header line cannot be read ({_csv_error(exc)})") from None
    if len(header_row) > MAX_COLUMNS:
        raise FileError(f"{name}: the header has {len(header_row):,} columns; a file may have at most {MAX_COLUMNS:,}")
    headers = _headers(header_row, name)
    width = len(headers)
    rows, line_numbers, malformed, batches = [], [], [], []
    line = reader.line_num
    while True:
        start = line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            why = _csv_error(exc)
            malformed.append(
                (start, why if why.startswith("a cell is") else f"the row cannot be parsed as CSV ({why})")
            )
            line = reader.line_num
            continue
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue  # blank lines are layout, not rows (and a line too long to read, reported below)
        extra = row[width:]
        if any(c.strip() for c in extra):
            malformed.append((start, f"the row has {len(row)} fields but the header has {width}"))
            continue
        rows.append([c.strip() or None for c in row[:width]])
        line_numbers.append(start)
        if len(rows) == BATCH_ROWS:
            batches.append(_build(headers, rows, line_numbers))
            rows, line_numbers = [], []
    batches.append(_build(headers, rows, line_numbers))
    malformed += [(n, f"the line is longer than {mib(MAX_LINE_BYTES)}") for n in long_lines]
    malformed.sort()
    return RawTable(headers, pa.concat_tables(batches), "line", malformed)


def _chain(first: str, rest):
    yield first
    yield from rest


def _csv_error(exc: csv.Error) -> str:
    text = str(exc)
    if text.startswith("field larger than field limit"):
        return f"a cell is longer than {MAX_CELL_CHARS:,} characters"
    return text


def _wide_unicode(head: bytes) -> str | None:
    """'UTF-32' or 'UTF-16' when the file starts with its byte-order mark, or (UTF-16 without one) when its
    first characters, the header's, are ASCII with every other byte zero; else None. Without this, such a file
    is called binary (it has zero bytes), which does not say what to do."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    even, odd = head[0:16:2], head[1:16:2]
    if len(head) >= 16 and (
        (odd.count(0) == len(odd) and 0 not in even) or (even.count(0) == len(even) and 0 not in odd)
    ):
        return "UTF-16"
    return None


def attach(con, raw: RawTable, numeric: frozenset[int] = frozenset()) -> RawTable:
    """Make the file's cells the relation `_raw` (_line, c0..cN) in `con`, outside any transaction (a failed read
    would abort one). A plain CSV file is read by DuckDB's CSV reader in strict mode, the columns in `numeric` as
    DOUBLE; when it refuses the file (a ragged row, a cell that is not a number) or a number could hide an
    identifier, the careful reader reads it instead, which reports each bad row with its line. Returns the table
    as read."""
    if raw.csv is not None:
        rows = _attach_csv(con, raw, numeric)
        if rows is not None:
            raw.attached_rows = rows
            return raw
        source = raw.csv
        raw = _read_csv_careful(source.path, source.name)
    con.register("_raw", raw.table)
    return raw


def cell_texts(raw: RawTable, cells: set[tuple[int, int]]) -> dict[tuple[int, int], str | None]:
    """The text, as written in the file, of the cells (line, column position) of a plain CSV file that attach
    read as numbers: what a rejected number is shown as (12.0 stays 12.0)."""
    wanted: dict[int, list[int]] = {}
    for line, j in cells:
        wanted.setdefault(line, []).append(j)
    out: dict[tuple[int, int], str | None] = {}
    last = max(wanted, default=0)
    with raw.csv.path.open("rb") as f:
        for line, text in enumerate(f, start=1):
            if line in wanted:
                fields = text.rstrip(b"\r\n").decode("utf-8").split(raw.csv.delimiter)
                for j in wanted[line]:
                    out[(line, j)] = fields[j].strip() or None
            if line >= last:
                break
    return out


def detach(con) -> None:
    """Drop what attach made."""
    con.unregister("_raw")  # an Arrow table (a no-op when there is none)
    con.execute(
        "drop view if exists temp._raw; drop table if exists temp._raw_csv; drop table if exists temp._raw_pseudo"
    )


def _attach_csv(con, raw: RawTable, numeric: frozenset[int]) -> int | None:
    import duckdb

    source, n = raw.csv, len(raw.headers)
    numeric = frozenset(j for j in numeric if j < n)
    columns = {f"c{j}": "DOUBLE" if j in numeric else "VARCHAR" for j in range(source.width)}
    cells = [f"c{j}" if j in numeric else f"nullif(trim(c{j}), '') as c{j}" for j in range(source.width)]
    try:
        rows = con.execute(
            f"create or replace temp table _raw_csv as select {', '.join(cells)} from read_csv($path, "
            "header = false, skip = 1, delim = $delim, quote = '', escape = '', columns = $columns, "
            "strict_mode = true, null_padding = false, auto_detect = false, max_line_size = $max_line)",
            {"path": str(source.path), "delim": source.delimiter, "columns": columns, "max_line": MAX_LINE_BYTES},
        ).fetchone()[0]
    except duckdb.Error:
        con.execute("drop table if exists temp._raw_csv")
        return None
    try:
        facts = source.scan.result()
    except FileError as exc:
        con.execute("drop table temp._raw_csv")
        raise FileError(f"{source.name}: {exc}") from None
    if not facts.plain:
        con.execute("drop table temp._raw_csv")
        return None
    if facts.odd_space:
        # Cells are trimmed of what Python's str.strip() trims, as the careful reader's are. DuckDB's trim() takes
        # spaces only; given the other characters it is ten times slower, so it runs only when the file holds
        # one, and only on cells that start or end with one.
        for j in range(source.width):
            if j not in numeric:
                con.execute(
                    f"update _raw_csv set c{j} = nullif(trim(c{j}, {WHITESPACE_SQL}), '') "
                    f"where regexp_matches(c{j}, '^{_SPACE}|{_SPACE}$')"
                )
    # Fall back to the careful reader when the reader passed over empty lines, a cell lies beyond the named
    # columns (the careful reader names that row), or a number is not finite or could be an identifier written
    # as digits: the identifier scan reads text, and a number under a million with at most 3 decimals cannot
    # match an e-mail, SSN or phone pattern. Per-column aggregates: a condition per row costs several times more.
    empty = " and ".join(f"c{j} is null" for j in range(n))
    figures = [f"max(abs(c{j})), max(abs(c{j} * 1000 - round(c{j} * 1000)))" for j in sorted(numeric)]
    figures += [f"count(c{j})" for j in range(n, source.width)]
    # the longest cell in bytes (at least its characters): a longer one than a cell may hold is the careful
    # reader's to reject with its line
    text = [f"c{j}" for j in range(n) if j not in numeric]
    longest = "greatest(" + ", ".join(f"max(strlen({c}))" for c in text) + ")" if text else "0"
    found = con.execute(
        f"select count(*) filter (where {empty}), {longest}, {', '.join(figures) or 'null'} from _raw_csv"
    ).fetchone()
    blank, longest = found[0], found[1] or 0
    numbers, beyond = found[2 : 2 + 2 * len(numeric)], found[2 + 2 * len(numeric) :]
    large = any(v is not None and not v < 1e6 for v in numbers[0::2])  # (not <: NaN too)
    long = any(v is not None and not v <= 1e-6 for v in numbers[1::2])
    if rows != facts.records or any(beyond) or large or long or longest > MAX_CELL_CHARS:
        con.execute("drop table temp._raw_csv")
        return None
    # rowid is the record's place in the file (the table was written in file order); a row of nothing but
    # separators is layout, as in the careful reader
    named = ", ".join(f"c{j}" for j in range(n))
    con.execute(
        f"create or replace temp view _raw as select rowid + 2 as _line, {named} from _raw_csv"
        + (f" where not ({empty})" if blank else "")
    )
    return rows - blank


def _cell_text(value) -> str | None:
    """One spreadsheet or Parquet cell as the text a CSV export would have held."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return value.isoformat(sep="T")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    text = str(value).strip()
    return text or None


def _read_xlsx(path: Path, name: str) -> RawTable:
    from openpyxl import load_workbook

    _check_unpacked(path, name)
    # openpyxl parses a hostile file with many libraries (zip, XML, dates): a damaged part surfaces as almost any
    # exception (ParseError, IndexError, TypeError ...), and each is a file that cannot be read, not a crash
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise FileError(
            f"{name}: not a readable Excel .xlsx file ({type(exc).__name__}); it may be truncated"
        ) from None
    try:
        if not book.worksheets:
            raise FileError(f"{name}: the workbook has no worksheet")
        sheet = book.worksheets[0]
        # the sheet's stated size is not trusted (every row would be padded to it): a row is as wide as its last
        # cell (openpyxl reads column names of up to three letters), and rows are read up to Excel's last one
        sheet.reset_dimensions()
        it = sheet.iter_rows(max_row=MAX_XLSX_ROWS + 1, values_only=True)
        header_row, header_line = None, 0
        for row in it:
            header_line += 1
            if row and any(c is not None and str(c).strip() for c in row):
                header_row = row
                break
        if header_row is None:
            raise FileError(f"{name}: the first sheet is empty")
        headers = _headers(list(header_row), name)
        if len(headers) > MAX_COLUMNS:
            raise FileError(
                f"{name}: the header row has more than {MAX_COLUMNS:,} columns; a file may have at most {MAX_COLUMNS:,}"
            )
        table, malformed = _sheet_rows(it, headers, header_line, name)
    except FileError:
        raise
    except Exception as exc:
        raise FileError(f"{name}: the Excel file cannot be read ({type(exc).__name__}); it may be truncated") from None
    finally:
        book.close()
    return RawTable(headers, table, "row", malformed)


def _sheet_rows(it, headers: list[str], header_line: int, name: str) -> tuple[pa.Table, list[tuple[int, str]]]:
    """The rows after the header row: kept ones as a table, and the (row, reason) of refused ones."""
    width = len(headers)
    rows, lines, malformed, batches = [], [], [], []
    for line, row in enumerate(it, start=header_line + 1):
        if line > MAX_XLSX_ROWS:
            raise FileError(f"{name}: the sheet has more than {MAX_XLSX_ROWS:,} rows (Excel's own limit)")
        cells = [_cell_text(c) for c in row]
        if not any(cells):
            continue
        if any(cells[width:]):
            malformed.append((line, f"the row has values beyond the {width} named columns"))
            continue
        if any(c is not None and len(c) > MAX_CELL_CHARS for c in cells):
            malformed.append((line, f"a cell is longer than {MAX_CELL_CHARS:,} characters"))
            continue
        rows.append(cells[:width])
        lines.append(line)
        if len(rows) == BATCH_ROWS:
            batches.append(_build(headers, rows, lines))
            rows, lines = [], []
    batches.append(_build(headers, rows, lines))
    return pa.concat_tables(batches), malformed


def _check_unpacked(path: Path, name: str) -> None:
    """Refuse a workbook whose parts unpack to more than MAX_XLSX_UNPACKED_BYTES, from the sizes the zip's
    directory states, before anything is unpacked (a part's reader stops at its stated size, so a part cannot
    unpack to more than it states)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FileError(
            f"{name}: not a readable Excel .xlsx file ({type(exc).__name__}); it may be truncated"
        ) from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise FileError(
            f"{name}: the workbook unpacks to {mib(unpacked)}; an Excel file may unpack to at most "
            f"{mib(MAX_XLSX_UNPACKED_BYTES)}. Save the sheet as CSV (UTF-8) and import that"
        )


def _read_parquet(path: Path, name: str) -> RawTable:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        width = meta.num_columns  # leaf columns: at least the top-level ones
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        rows = meta.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise FileError(f"{name}: not a readable Parquet file ({type(exc).__name__})") from None
    if width > MAX_COLUMNS:
        raise FileError(f"{name}: the file has {width:,} columns; a file may have at most {MAX_COLUMNS:,}")
    if size > MAX_PARQUET_BYTES:
        raise FileError(
            f"{name}: its columns hold {mib(size)} uncompressed; a Parquet file may hold at most "
            f"{mib(MAX_PARQUET_BYTES)}. Split it into several files"
        )
    if rows > MAX_PARQUET_ROWS:
        raise FileError(f"{name}: the file has {rows:,} rows; a file may have at most {MAX_PARQUET_ROWS:,}")
    try:
        source = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        # the kind of error only: Arrow's message may quote the file's contents (a value, a key of its metadata)
        raise FileError(f"{name}: not a readable Parquet file ({type(exc).__name__})") from None
    headers = _headers(source.column_names, name)
    try:
        table = _parquet_text(source, headers)
    except pa.ArrowException as exc:
        raise FileError(f"{name}: the Parquet file's values cannot be read as text ({type(exc).__name__})") from None
    return _without_long_cells(headers, table, "row")


def _without_long_cells(headers: list[str], table: pa.Table, line_label: str) -> RawTable:
    """Rows with a cell longer than MAX_CELL_CHARS become malformed rows; the rest are kept."""
    import pyarrow.compute as pc

    long = None
    for column in table.column_names[1:]:
        over = pc.fill_null(pc.greater(pc.utf8_length(table[column]), MAX_CELL_CHARS), False)
        long = over if long is None else pc.or_(long, over)
    if long is None or not pc.any(long).as_py():
        return RawTable(headers, table, line_label)
    malformed = [
        (n, f"a cell is longer than {MAX_CELL_CHARS:,} characters") for n in table["_line"].filter(long).to_pylist()
    ]
    return RawTable(headers, table.filter(pc.invert(long)), line_label, malformed)


def _parquet_text(source: pa.Table, headers: list[str]) -> pa.Table:
    import pyarrow.compute as pc

    columns = {"_line": pa.array(range(1, source.num_rows + 1), type=pa.int64())}
    for j, col in enumerate(source.columns[: len(headers)]):
        if pa.types.is_timestamp(col.type):
            if col.type.tz is not None:  # stored as UTC: drop the zone to format the UTC time
                col = pc.cast(col, pa.timestamp(col.type.unit))
            text = pc.strftime(col, format="%Y-%m-%dT%H:%M:%S")
        elif pa.types.is_floating(col.type):
            # 12.0 -> "12", as a CSV export would write it
            as_int = pc.cast(col, pa.int64(), safe=False)
            # unsafe both ways: NaN, infinities and values beyond int64 come back different, so they are not whole
            whole = pc.equal(pc.cast(as_int, col.type, safe=False), col)
            text = pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(col, pa.string()))
        else:
            try:
                text = pc.cast(col, pa.string())
            except pa.ArrowException:
                text = pa.array([_cell_text(v) for v in col.to_pylist()], type=pa.string())
        text = pc.utf8_trim_whitespace(text)
        columns[f"c{j}"] = pc.if_else(pc.equal(text, ""), None, text)
    return pa.table(columns)
