"""Validate a read file against the contract and store it in one transaction, accounting for every row."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import random
import re
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from dashboard import instruments as registry
from dashboard import store
from dashboard.export import neutralise
from dashboard.ingest import fhir, validation
from dashboard.ingest.contract import ContractError, Mapping, map_columns
from dashboard.ingest.mapping import ColumnMap, pseudonymise_raw
from dashboard.ingest.read import FileError, FileScan, RawTable, attach, cell_texts, detach, read_file

KEYS = {
    "clients": ("client_id",),
    "sessions": ("client_id", "session_at", "session_type"),
    "scores": ("client_id", "assessed_at", "instrument"),
}
VALUES = {
    "clients": ("site", "condition", "age_band", "sex", "prior_treatments"),
    "sessions": ("modality", "modality_label", "dose_mg", "clinician_id", "site", "session_id"),
    "scores": ("score", "items", "session_id"),
}
# value columns present only when the file has the field they come from
SOURCE_FIELD = {"modality_label": "modality", "items": "item_1", "score": "score"}
REJECT_COLUMNS = ["line", "column", "reason", "value"]
SHOW_IGNORED = 30  # ignored columns named in a summary (a file may have thousands)
_DROP_TEMP = "; ".join(
    f"drop table if exists temp.{t}"
    for t in (
        "_checked",
        "_valid",
        "_ranked",
        "_firsts",
        "_incoming",
        "_labels_map",
        "_stypes_map",
        "_modalities_map",
        "_touched",
    )
)


@dataclass
class FileReport:
    """What happened to one file. records_read = imported + rejected + unchanged_duplicates."""

    file: str
    kind: str | None = None
    status: str = "imported"  # imported | unchanged | partly imported | refused | unreadable
    rows_read: int = 0
    records_read: int = 0
    imported: int = 0
    rejected: int = 0
    unchanged_duplicates: int = 0
    ignored: int = 0  # FHIR resources not used (records_read = imported + rejected + duplicates + ignored)
    line_label: str = "line"  # what a reject's `line` counts: a file's line, or a FHIR Bundle's entry
    replaced: int = 0
    message: str = ""
    ignored_columns: list[str] = field(default_factory=list)
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    import_id: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and self.status in ("imported", "unchanged")

    def summary(self) -> str:
        unit = {"scores_wide": "score values", "fhir": "resources"}.get(self.kind or "", "rows")
        head = f"{self.file}: {self.status}"
        if self.kind:
            head += f" as {self.kind}"
        counts = (
            f"{self.records_read:,} {unit} read: {self.imported:,} imported"
            + (f" ({self.replaced:,} replacing stored values)" if self.replaced else "")
            + f", {self.rejected:,} rejected, {self.unchanged_duplicates:,} unchanged duplicates"
            + (f", {self.ignored:,} ignored" if self.kind == "fhir" else "")
        )
        if self.kind == "scores_wide":
            counts += f" (from {self.rows_read:,} rows)"
        text = f"{head} — {counts}"
        if self.message:
            text += f"\n  {self.message}"
        if self.ignored_columns:
            shown = self.ignored_columns[:SHOW_IGNORED]
            more = len(self.ignored_columns) - len(shown)
            text += f"\n  ignored columns: {', '.join(shown)}" + (f" … and {more:,} more" if more else "")
        return text


class _Digest:
    """The file's SHA-256, worked out in a thread while DuckDB reads the file (hashlib lets go of the GIL)."""

    def __init__(self, path: Path):
        self._value: str | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._value = _sha256(path)
        except OSError:
            self._value = None

    def value(self) -> str:
        self._thread.join()
        return self._value or ""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ImportBusy(RuntimeError):
    """Another import into the same database is running."""


_IMPORTING = threading.Lock()  # one writer at a time in this process (the app's sessions share it)


@contextmanager
def import_lock(con: duckdb.DuckDBPyConnection):
    """Serialise imports: one at a time in this process and, through a lock file beside the database, across
    processes. A second import is refused at once with a clear message rather than queued."""
    if not _IMPORTING.acquire(blocking=False):
        raise ImportBusy("an import is already running; wait for it to finish and try again")
    handle = None
    try:
        path = store.database_path_of(con)
        if path is not None:
            handle = open(f"{path}.import-lock", "a+")  # noqa: SIM115 (held for the whole import)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ImportBusy(
                    "an import is already running (another program); wait for it to finish and try again"
                ) from None
        yield
    finally:
        if handle is not None:
            handle.close()
        _IMPORTING.release()


def import_files(
    con: duckdb.DuckDBPyConnection,
    paths,
    kind: str | None = None,
    replace: bool = False,
    instrument_file: str | Path | None = None,
    names: list[str] | None = None,
    after_import=None,
    progress=None,
    derive_once: bool = False,
    column_map: ColumnMap | None = None,
) -> list[FileReport]:
    """Import several files, each in its own transaction. Custom instruments are stored first. `progress(file,
    stage)` is told each file's stages as they start (see STAGES).

    derive_once: run `after_import` once, after the last file, for the clients every file named (in a transaction
    of its own), instead of once per file. For a store whose changes no one sees before the whole command is done
    (a file store is written in a copy that replaces it at the end: dashboard/writer.py); not for a DuckLake store,
    where each file's commit is seen at once and must carry its derived rows."""
    with import_lock(con):
        if not (derive_once and after_import is not None):
            return _import_files(con, paths, kind, replace, instrument_file, names, after_import, progress, column_map)
        con.execute("create or replace temp table _touched_run (client_id varchar)")
        try:
            reports = _import_files(
                con, paths, kind, replace, instrument_file, names, _remember_touched, progress, column_map
            )
            if con.execute("select count(*) from temp._touched_run").fetchone()[0]:
                con.execute("begin")
                try:
                    con.execute("create or replace temp table _touched as select distinct client_id from _touched_run")
                    if progress is not None:
                        progress(reports[-1].file if reports else None, "derive")
                    after_import(con)
                    con.execute("commit")
                except BaseException:
                    with contextlib.suppress(duckdb.TransactionException):
                        con.execute("rollback")
                    raise
                finally:
                    con.execute("drop table if exists temp._touched")
            return reports
        finally:
            con.execute("drop table if exists temp._touched_run")


def _remember_touched(con) -> None:
    """derive_once's after_import for each file: keep the clients it named for the one refresh at the end."""
    con.execute("insert into temp._touched_run select client_id from temp._touched")


def _import_files(
    con, paths, kind, replace, instrument_file, names, after_import, progress, column_map=None
) -> list[FileReport]:
    if instrument_file is not None:
        con.execute("begin")
        try:
            registry.store(con, registry.parse_file(instrument_file))
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    names = names or [None] * len(paths)
    return [
        _retrying(lambda p=p, n=n: _import_any(con, Path(p), n, kind, replace, after_import, progress, column_map))
        for p, n in zip(paths, names, strict=True)
    ]


def _import_any(con, path: Path, name, kind, replace, after_import, progress, column_map=None) -> FileReport:
    """A FHIR file (told by its content) or a file of the contract (through `column_map`, when given)."""
    if kind in (None, "fhir") and fhir.looks_like_fhir(path):
        return _import_fhir(con, path, name, replace, after_import, progress)
    return _import_file(con, path, name, kind, replace, after_import, progress, column_map=column_map)


def _import_fhir(con, path: Path, name, replace, after_import, progress) -> FileReport:
    """A FHIR Bundle or NDJSON file: read into rows of the contract (dashboard/ingest/fhir.py), which are imported
    as a sessions file and a scores file; one report for the file, counting resources. Rows the contract's checks
    reject are reported at their resource's entry (or line) with the element they came from."""
    started = time.perf_counter()
    name = validation.shown_file_name(name or path.name)
    report = FileReport(file=name, kind="fhir")
    if progress is not None:
        progress(name, "read")
    try:
        key = fhir.pseudonym_key()
        conversion = fhir.convert(path, name, key, fhir.Codes.load(registry.load(con)))
    except (fhir.FhirError, OSError) as exc:
        report.status, report.message = "unreadable", str(exc) if isinstance(exc, fhir.FhirError) else f"{name}: {exc}"
        _log_only(con, report, _Digest(path))
        return report
    try:
        parts = []
        for part, positions in (("sessions", conversion.sessions_from), ("scores", conversion.scores_from)):
            if len(positions):
                csv_path = conversion.sessions_csv if part == "sessions" else conversion.scores_csv
                origin = _fhir_origin(positions)
                shown = f"{name} → {part}.csv"
                parts.append(_import_file(con, csv_path, shown, part, replace, after_import, progress, origin))
        report.line_label = conversion.unit
        report.rows_read = report.records_read = conversion.n_resources
        report.ignored = conversion.n_ignored
        report.imported = sum(p.imported for p in parts)
        report.unchanged_duplicates = sum(p.unchanged_duplicates for p in parts)
        report.replaced = sum(p.replaced for p in parts)
        own = pd.DataFrame(
            [(pos, where or None, why, None) for pos, where, why in conversion.rejects],
            columns=REJECT_COLUMNS,
        )
        report.rejects = pd.concat([own, *(p.rejects for p in parts if len(p.rejects))], ignore_index=True)
        report.rejected = len(conversion.rejects) + sum(p.rejected for p in parts)
        refused = [p for p in parts if p.status in ("refused", "unreadable")]
        counts = ", ".join(f"{n:,} {t}" for t, n in sorted(conversion.by_type.items()))
        notes = [f"{conversion.n_resources:,} resources ({counts})" if counts else "no resources"]
        notes += [conversion.ignored_text()] if conversion.n_ignored else []
        notes += [p.message for p in refused]
        report.message = "\n  ".join(notes)
        if refused:
            report.status = "refused"
        elif report.imported == 0 and report.rejected == 0:
            report.status = "unchanged"
        elif report.rejected:
            report.status = "partly imported" if report.imported else "refused"
        own_report = FileReport(
            file=name,
            kind="fhir",
            status=report.status,
            rows_read=conversion.n_resources,
            records_read=conversion.n_resources,
            rejected=len(conversion.rejects),
            ignored=conversion.n_ignored,
            message=report.message,
            rejects=own,
        )
        _log_only(con, own_report, _Digest(path))  # the file itself, with what was rejected before the contract
        report.import_id = own_report.import_id
    finally:
        shutil.rmtree(conversion.folder, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _fhir_origin(positions):
    """Rejects of a FHIR file's rows, told at their resource: row k of the generated file (line k + 1) came from
    entry (or line) positions[k - 1]; a column named by the element it came from."""

    def origin(rejects: pd.DataFrame) -> pd.DataFrame:
        out = rejects.copy()
        out["line"] = [positions[int(line) - 2] if line == line and int(line) >= 2 else line for line in out["line"]]
        out["column"] = [_fhir_column(c) for c in out["column"]]
        return out

    return origin


def _fhir_column(column):
    if not isinstance(column, str):
        return column
    bare = column.removeprefix("column ").strip("'")
    if bare.startswith("item") and bare[4:].isdigit():
        return f"component (item {bare[4:]})"
    return fhir.PATHS.get(bare, column)


CONFLICT_RETRIES = 20


def _retrying(run):
    """Run one file's import again when its commit lost a race with another writer (a DuckLake store takes
    several at once and refuses the second of two conflicting commits; the import rolled back, so it is simply
    done again on the data as it now is)."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            return run()
        except duckdb.TransactionException as exc:
            if "conflict" not in str(exc).lower() or attempt == CONFLICT_RETRIES - 1:
                raise
            time.sleep(random.uniform(0.05, 0.3) * (attempt + 1))
    raise AssertionError("unreachable")


def import_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    name: str | None = None,
    kind: str | None = None,
    replace: bool = False,
    after_import=None,
    progress=None,
    column_map: ColumnMap | None = None,
) -> FileReport:
    """Import one file (a file of the contract, or a FHIR file). The file is either fully processed and committed
    or the database is left as it was (a FHIR file: its sessions and its scores each so).

    `after_import(con)` runs inside the same transaction (it refreshes the derived tables), with temp table
    _touched(client_id) holding the clients the file's valid rows name. Raises ImportBusy
    when another import is running."""
    with import_lock(con):
        return _retrying(lambda: _import_any(con, Path(path), name, kind, replace, after_import, progress, column_map))


# what progress(file, stage) is told, in this order, and how to say it
STAGES = {"read": "reading", "check": "checking", "store": "storing", "derive": "updating the derived tables"}


def _import_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    name: str | None = None,
    kind: str | None = None,
    replace: bool = False,
    after_import=None,
    progress=None,
    origin=None,
    column_map: ColumnMap | None = None,
) -> FileReport:
    started = time.perf_counter()
    path = Path(path)
    # a file's name is part of every message and of the import log: one that looks like it holds an identifier is
    # replaced by a note (validation.shown_file_name)
    name = validation.shown_file_name(name or path.name)
    report = FileReport(file=name)

    def stage(what: str) -> None:
        if progress is not None:
            progress(name, what)

    stage("read")
    try:
        raw = read_file(path, name)
    except FileError as exc:
        report.status, report.message = "unreadable", str(exc)
        _log_only(con, report, _Digest(path))
        return report
    # a CSV left to DuckDB's reader is hashed with the rest of its scan (read.FileScan)
    digest = raw.csv.scan if raw.csv is not None else _Digest(path)
    known = registry.load(con)
    mapping, refusal = _mapped(name, raw.headers, known, kind, column_map)
    typed = validation.numeric_columns(mapping) if mapping is not None else frozenset()
    try:
        raw = attach(con, raw, typed)
        if raw.table is not None:
            typed = frozenset()  # the careful reader's cells are all text
        report.rows_read = raw.n_rows
        if mapping is None:
            _refuse(con, report, digest, raw, refusal, None, None)
            return report
        report.kind, report.ignored_columns = mapping.kind, mapping.ignored
        refusal = _pseudonymised(con, mapping, column_map, name)
        if refusal:
            _refuse(con, report, digest, raw, refusal, None, None)
            return report
        hit = validation.find_identifier_value(con, mapping, raw.headers, typed)
        if hit is not None:
            line, header, what, masked = hit
            column = header if header.startswith("column ") else f"column '{header}'"
            message = (
                f"{name}: {raw.line_label} {line}, {column} holds what looks like {what} "
                f"({masked}); files must be anonymised before import. Nothing was imported."
            )
            _refuse(con, report, digest, raw, message, line, header, masked)
            return report
        con.execute("begin")
        try:
            try:
                _import_rows(con, raw, mapping, report, known, replace, typed, stage)
            except FileError as exc:
                con.execute("rollback")
                report.status, report.message = "unreadable", str(exc)
                _log_only(con, report, digest)
                return report
            if origin is not None and len(report.rejects):
                report.rejects = origin(report.rejects)
            report.import_id = _log(con, report, digest)
            _store_rejects(con, report)
            if after_import is not None and report.imported:
                # the clients this file's rows name: the derived rows to recompute (derive.refresh)
                con.execute(
                    "create or replace temp table _touched as "
                    "select distinct client_id from _checked where _reason is null and client_id is not null"
                )
                if after_import is not _remember_touched:  # derive_once: the refresh is after the last file
                    stage("derive")
                after_import(con)
            con.execute("commit")
        except BaseException:
            with contextlib.suppress(duckdb.TransactionException):  # DuckDB may have ended it (e.g. a disk error)
                con.execute("rollback")
            raise
    except FileError as exc:  # the careful reader's verdict on a file the fast one refused
        report.status, report.message = "unreadable", str(exc)
        _log_only(con, report, digest)
        return report
    finally:
        detach(con)
        con.execute(_DROP_TEMP)
    report.seconds = time.perf_counter() - started
    return report


def _mapped(name: str, headers: list[str], known, kind, column_map: ColumnMap | None):
    """(the file's columns mapped onto the contract, through `column_map` when given; or None and why not)."""
    try:
        renamed = column_map.renamed(name, headers) if column_map else headers
        mapping = map_columns(name, renamed, registry.resolver(known), kind)
    except ContractError as exc:
        return None, str(exc)
    if column_map:
        mapping.values = {f: column_map.value_labels(f) for f in column_map.values}
    return mapping, None


def _pseudonymised(con, mapping: Mapping, column_map: ColumnMap | None, name: str) -> str | None:
    """Replace the marked id columns' values by keyed pseudonyms before any check reads them; a refusal message
    when there is no pseudonym key. (A marked column holds text: the fast reader never types an id column.)"""
    if not (column_map and column_map.pseudonymise):
        return None
    try:
        pseudonymise_raw(con, mapping, column_map.pseudonymise)
    except fhir.FhirError as exc:
        return f"{name}: {exc}. Nothing was imported."
    return None


def _import_rows(
    con, raw: RawTable, mapping: Mapping, report: FileReport, known, replace: bool, typed: frozenset[int], stage
) -> None:
    kind = mapping.kind
    target = "scores" if kind.startswith("scores") else kind
    stage("check")
    # -> temp table _checked(_line, typed fields, _column, _reason, _raw)
    validation.build_checked(con, mapping, known, typed)
    n_records, n_rejected = con.execute("select count(*), count(_reason) from _checked").fetchone()
    stage("store")
    report.records_read = n_records + len(raw.malformed)
    if report.records_read == 0:
        raise FileError(f"{report.file}: the file has column names but no rows")
    header_of = {f"c{j}": h for j, h in enumerate(raw.headers)}

    keys, values = KEYS[target], _present_values(target, mapping)
    key_list = ", ".join(keys)
    join = " and ".join(f"f.{k} = t.{k}" for k in keys)
    cols = ", ".join(keys + tuple(VALUES[target]))
    inserted_cols = ", ".join(keys + tuple(VALUES[target]) + ("import_id",))
    import_id = store.next_import_id(con)
    report.import_id = import_id
    # The usual file adds new records: no key twice in the file, none already stored. Its valid rows go straight
    # in; only a file with repeats or stored keys is ranked and compared, value by value.
    # (grouped by the keys' hash, one number instead of three columns: two keys sharing a hash only send the file
    # the longer way)
    repeats = con.execute(
        f"select exists(select 1 from _checked where _reason is null group by hash({key_list}) having count(*) > 1)"
    ).fetchone()[0]
    stored = (
        not repeats
        and con.execute(
            f"select exists(select 1 from _checked f semi join {target} t on {join} where f._reason is null)"
        ).fetchone()[0]
    )
    if not repeats and not stored:
        con.execute(
            f"insert into {target} ({inserted_cols}) select {cols}, $id from _checked where _reason is null",
            {"id": import_id},
        )
        within, dup_in_db, conflicts, new = (0, 0), 0, 0, n_records - n_rejected
    else:
        within, dup_in_db, conflicts, new = _compare(con, target, keys, values, replace, import_id)

    rejects = []
    if n_rejected:
        rejects.append(
            con.execute(
                "select _line as line, _column as column_ref, _reason as reason, _raw as raw from _checked "
                "where _reason is not null"
            ).df()
        )
    if within[1]:
        rejects.append(
            con.execute(
                f"""select _line as line, null as column_ref,
                   'conflicts with line ' || _first_line || ' of this file (same {", ".join(keys)}): there '
                   || {_describe(values, "_first_values")} || ', here ' || {_describe(values, None)} as reason,
                   null as raw
                from _ranked where _k > 1 and {_struct(values)} is distinct from _first_values"""
            ).df()
        )
    if conflicts and not replace:
        rejects.append(
            con.execute(
                f"""select _line as line, null as column_ref,
                       'conflicts with the stored value: stored ' || {_describe(values, "_stored")}
                       || ', in file ' || {_describe(values, None)}
                       || ' (use --replace to overwrite)' as reason, null as raw
                    from _incoming where _exists and not _same"""
            ).df()
        )
    if raw.malformed:
        rejects.append(
            pd.DataFrame(
                {
                    "line": [m[0] for m in raw.malformed],
                    "column_ref": None,
                    "reason": [m[1] for m in raw.malformed],
                    "raw": None,
                }
            )
        )
    frame = pd.concat([r for r in rejects if len(r)], ignore_index=True) if any(len(r) for r in rejects) else None
    if frame is not None and typed:
        frame = _as_written(raw, frame, typed)
    if frame is not None:
        frame = frame.sort_values("line", kind="stable").reset_index(drop=True)
        frame["reason"] = frame["reason"].map(validation.mask_text)
        frame["column"] = [header_of.get(c, c) if isinstance(c, str) else None for c in frame["column_ref"]]
        # plain lists: a Series of fields would turn None into pandas' missing value
        fields = [validation.field_of(mapping, c) for c in frame["column_ref"].tolist()]
        frame["value"] = [validation.mask(f, v) for f, v in zip(fields, frame["raw"].tolist(), strict=True)]
        report.rejects = _formula_safe(frame[REJECT_COLUMNS])
    report.rejected = len(report.rejects)
    report.unchanged_duplicates = within[0] + dup_in_db
    report.replaced = conflicts if replace else 0
    report.imported = new + report.replaced
    if not report.rejected and not report.imported and report.unchanged_duplicates:
        report.status = "unchanged"
        report.message = "every row was already stored with the same values"
    elif report.rejected and report.imported + report.unchanged_duplicates:
        report.status = "partly imported"
    elif report.rejected:
        report.status = "refused"
        report.message = "every row was rejected; see the reasons"
    assert report.records_read == report.imported + report.rejected + report.unchanged_duplicates, report


def _as_written(raw: RawTable, frame: pd.DataFrame, typed: frozenset[int]) -> pd.DataFrame:
    """Rejected cells the reader typed as numbers, shown with the file's text rather than the number's."""
    refs = {f"c{j}": j for j in typed}
    where = [
        (line, refs[ref])
        for line, ref, value in zip(frame["line"], frame["column_ref"], frame["raw"], strict=True)
        if ref in refs and pd.notna(value)
    ]
    if not where:
        return frame
    texts = cell_texts(raw, set(where))
    frame = frame.copy()
    frame["raw"] = [
        texts.get((line, refs[ref]), value) if ref in refs and pd.notna(value) else value
        for line, ref, value in zip(frame["line"], frame["column_ref"], frame["raw"], strict=True)
    ]
    return frame


def _compare(con, target: str, keys: tuple, values: list[str], replace: bool, import_id: int):
    """Store a file that repeats keys or has stored ones: the first row of each key in the file counts, a later
    row with the same values is an unchanged duplicate and one with other values a conflict; a first row whose
    key is stored is an unchanged duplicate, a conflict, or (replace) replaces the stored values. Leaves _ranked
    and _incoming for the conflict messages. Returns (within-file (same, different), same as stored, conflicts
    with stored, new)."""
    key_list = ", ".join(keys)
    con.execute("create temp table _valid as select * from _checked where _reason is null")
    con.execute(
        f"""create temp table _ranked as
        select *, row_number() over w as _k,
               first_value(_line) over w as _first_line,
               first_value({_struct(values)}) over w as _first_values
        from _valid window w as (partition by {key_list} order by _line)"""
    )
    con.execute("create temp table _firsts as select * from _ranked where _k = 1")
    join = " and ".join(f"f.{k} = t.{k}" for k in keys)
    con.execute(
        f"""create temp table _incoming as
        select f.*, t.{keys[0]} is not null as _exists,
               t.{keys[0]} is not null and {_struct(values, "f")} is not distinct from {_struct(values, "t")}
                   as _same,
               {_struct(values, "t")} as _stored
        from _firsts f left join {target} t on {join}"""
    )
    within = con.execute(
        f"""select count(*) filter (where {_struct(values)} is not distinct from _first_values),
                   count(*) filter (where {_struct(values)} is distinct from _first_values)
            from _ranked where _k > 1"""
    ).fetchone()
    dup_in_db, conflicts, new = con.execute(
        "select count(*) filter (where _same), count(*) filter (where _exists and not _same), "
        "count(*) filter (where not _exists) from _incoming"
    ).fetchone()
    cols = ", ".join(keys + tuple(VALUES[target]))
    inserted_cols = ", ".join(keys + tuple(VALUES[target]) + ("import_id",))
    if replace and conflicts:
        # only the columns this file carries are overwritten: a file without dose_mg keeps stored doses
        sets = ", ".join([f"{v} = f.{v}" for v in values] + ["import_id = $id"])
        where = " and ".join(f"t.{k} = f.{k}" for k in keys)
        con.execute(
            f"update {target} t set {sets} from _incoming f where f._exists and not f._same and {where}",
            {"id": import_id},
        )
    con.execute(
        f"insert into {target} ({inserted_cols}) select {cols}, $id from _incoming where not _exists",
        {"id": import_id},
    )
    return within, dup_in_db, conflicts, new


def _present_values(target: str, mapping: Mapping) -> list[str]:
    """The value columns this file actually carries (a file without dose_mg does not clear stored doses)."""
    out = []
    for v in VALUES[target]:
        source = SOURCE_FIELD.get(v, v)
        if v == "score" or source in mapping.fields or (source == "item_1" and mapping.items):
            out.append(v)
    return out


def _struct(values: list[str], alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    if not values:
        return "null::integer"
    return "struct_pack(" + ", ".join(f"{v} := {prefix}{v}" for v in values) + ")"


def _describe(values: list[str], struct: str | None) -> str:
    parts = []
    for v in values:
        ref = f"{struct}.{v}" if struct else v
        parts.append(f"'{v} ' || coalesce(cast({ref} as varchar), '(empty)')")
    return " || ', ' || ".join(parts) if parts else "''"


def _log(con, report: FileReport, digest: _Digest | FileScan) -> int:
    con.execute(
        """insert into import_log values ($id, $file, $sha, $kind, $at, $rows, $records, $imported, $rejected,
           $dups, $replaced, $status, $message)""",
        {
            "id": report.import_id,
            "file": _no_formula(report.file),
            "sha": digest.value(),
            "kind": report.kind,
            "at": datetime.now(UTC).replace(tzinfo=None),
            "rows": report.rows_read,
            "records": report.records_read,
            "imported": report.imported,
            "rejected": report.rejected,
            "dups": report.unchanged_duplicates,
            "replaced": report.replaced,
            "status": report.status,
            "message": _no_formula(report.message) or None,
        },
    )
    return report.import_id


def _store_rejects(con, report: FileReport) -> None:
    if not len(report.rejects):
        return
    frame = report.rejects.assign(import_id=report.import_id)
    con.register("_rejects_frame", frame)
    try:
        con.execute('insert into import_rejects select import_id, line, "column", reason, value from _rejects_frame')
    finally:
        con.unregister("_rejects_frame")


def _log_only(con, report: FileReport, digest: _Digest | FileScan) -> None:
    """Record a file that could not be read or was refused whole; no data table changes."""
    con.execute("begin")
    try:
        report.import_id = store.next_import_id(con)
        _log(con, report, digest)
        _store_rejects(con, report)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _no_formula(value):
    """A file's text starting with = (a rejected =HYPERLINK(...) cell, an upload named so) quoted, so neither the
    database nor a grid's own download of it holds a formula. (CSV downloads quote + - @ too: export.to_csv_bytes.)"""
    return neutralise(value) if isinstance(value, str) and value.lstrip().startswith("=") else value


def _formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Rejected values and column names as stored and shown, with _no_formula."""
    frame = frame.copy()
    for c in ("column", "value"):
        frame[c] = frame[c].map(_no_formula)
    return frame


def _refuse(
    con, report: FileReport, digest: _Digest | FileScan, raw: RawTable, message: str, line, header, masked=None
) -> None:
    """The whole file is refused: every row is rejected with the file-level reason (the offending cell's
    line, column and masked value on its own row)."""
    report.status, report.message = "refused", message
    report.records_read = report.rejected = raw.n_rows
    reason = "file refused: " + re.sub(r"^[^:]*: ", "", message)
    if raw.table is not None:
        lines = raw.table.column("_line").to_pylist()
    else:
        lines = con.execute("select _line from _raw").fetchnumpy()["_line"].tolist()
    lines = sorted(lines + [m[0] for m in raw.malformed])
    report.rejects = _formula_safe(
        pd.DataFrame(
            {
                "line": lines,
                "column": [header if n == line else None for n in lines],
                "reason": reason,
                "value": [masked if n == line else None for n in lines],
            },
            columns=REJECT_COLUMNS,
        )
    )
    _log_only(con, report, digest)
