"""The DuckDB store: where the database file is, how it is opened, created and checked."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dashboard import __version__, extensions, instruments
from dashboard.queries import run_script

SCHEMA_VERSION = 5  # queries/store/schema.sql is version 1; queries/store/migrate_00N.sql bring it to N
PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"
DEFAULT_DB = DATA_DIR / "outcomes.duckdb"
DEMO_DB = DATA_DIR / "demo.duckdb"
ENV_VAR = "OUTCOMES_DB"


class StoreError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""


class NeedsWriting(StoreError):
    """A read-only open found no database, or one that must be migrated first (see writer.reading)."""


def resolve_path(path: str | os.PathLike | None = None):
    """The store: the --db argument, else $OUTCOMES_DB, else data/outcomes.duckdb. A file's path, or a DuckLake's
    `ducklake:postgres:...` kept as the string it is."""
    given = path or os.environ.get(ENV_VAR)
    if not given:
        return DEFAULT_DB
    return str(given) if is_lake(given) else Path(given)


KEY_VAR = "OUTCOMES_DB_KEY"
MIN_KEY_LENGTH = 16
ALIAS = "outcomes"  # the store's name as DuckDB attaches it


class Connection:
    """A connection on the store. The store is attached (not DuckDB's default database) so that it can be encrypted;
    this connection and its cursors read it. Everything else is the DuckDB connection's own.

    One process opens a file once (DuckDB refuses a second attachment of the same file): `connect` hands out
    cursors of one root connection per file, closed when the last of them is."""

    def __init__(self, con: duckdb.DuckDBPyConnection, root: _Root | None = None, parent: Connection | None = None):
        self._con = con
        self._root = root
        self._parent = parent  # a cursor keeps its connection (and so the file it reads) open

    def cursor(self) -> Connection:
        cur = self._con.cursor()
        cur.execute(f"use {ALIAS}")
        return Connection(cur, parent=self)

    def close(self) -> None:
        self._con.close()
        if self._root is not None:
            self._root.release()
            self._root = None

    def __del__(self):  # dropped without close (e.g. a cleared cache): let go of the file all the same
        if self.__dict__.get("_root") is not None:
            self.close()

    def __getattr__(self, name):
        return getattr(self._con, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class _Root:
    """The process's one DuckDB connection on a file, and how many Connections use it."""

    key: str
    con: duckdb.DuckDBPyConnection
    read_only: bool
    secret: str | None  # the key it was opened with
    inode: int | None  # the file it has open
    users: int = 0

    def release(self) -> None:
        with _OPEN_LOCK:
            self.users -= 1
            if self.users == 0:
                if _OPEN.get(self.key) is self:
                    del _OPEN[self.key]
                self.con.close()


_OPEN: dict[str, _Root] = {}
_OPEN_LOCK = threading.RLock()


def secrets_files() -> list[Path]:
    """Where Streamlit looks for secrets: the user's and the working folder's .streamlit/secrets.toml."""
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml"]


def secret(variable: str, table: str, name: str) -> tuple[str | None, str]:
    """A secret: $variable, else `name` in the [table] table of secrets.toml (the last file that has it); and where
    it was found, for messages (never the secret itself)."""
    value, where = os.environ.get(variable), variable
    if not value:
        for file in secrets_files():
            try:
                found = tomllib.loads(file.read_text(encoding="utf-8")).get(table, {})
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if found.get(name):
                value, where = str(found[name]), f"[{table}] {name} in {file}"
    return value or None, where


def configured_key() -> str | None:
    """The store's encryption key: $OUTCOMES_DB_KEY, else `key` in the [store] table of secrets.toml, else None
    (a plaintext store). A key shorter than MIN_KEY_LENGTH characters is refused."""
    key, where = secret(KEY_VAR, "store", "key")
    if not key:
        return None
    if len(key) < MIN_KEY_LENGTH:
        raise StoreError(
            f"the database key ({where}) is too short: use at least {MIN_KEY_LENGTH} characters, e.g. the output "
            'of python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return key


_DEFAULT_KEY = object()


def connect(
    path: str | os.PathLike, read_only: bool = False, key=_DEFAULT_KEY, shown=None, checked: bool = False
) -> Connection:
    """Open the database at `path`, with its schema in place and its version checked. With a key (by default the
    configured one, see configured_key) the file is created and opened encrypted.

    A store is created only where no file exists. An existing file is opened only when it is an outcomes database
    (our schema_info marker) and every block of every table reads back intact (verify); anything else is a
    StoreError that names the file and says what to do, and nothing is added to the file. `shown` is the name the
    messages use (the store, when `path` is a writer's copy of it). The full read is skipped for a file unchanged
    since one passed (is_checked), or, with `checked`, for a writer's copy of such a file."""
    path = Path(path) if not is_lake(path) else path
    key = configured_key() if key is _DEFAULT_KEY else key
    if is_lake(path):
        con = _open(path, read_only, key)
        try:
            _ensure_schema(con, read_only, "the DuckLake store", new=None)  # its spec may hold a password
        except (duckdb.Error, StoreError) as exc:
            con.close()
            raise exc if isinstance(exc, StoreError) else StoreError(_attach_error(path, exc)) from None
        return con
    shown = Path(shown) if shown is not None else path
    if read_only and not path.exists():
        raise NeedsWriting(f"{shown}: no database here. Import data or run `python -m dashboard demo` first.")
    new = not path.exists()
    if not new and not path.is_file():
        raise StoreError(f"{shown}: not a regular file, so not a database; point --db / {ENV_VAR} at a database file")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only, key, new=new, shown=shown, checked=checked)
    try:
        _ensure_schema(con, read_only, shown, new=new)
    except duckdb.Error as exc:
        con.close()
        raise StoreError(_unreadable(shown, exc)) from None
    except StoreError:
        con.close()
        raise
    return con


def _open(
    path: Path, read_only: bool, key: str | None, new: bool = False, shown=None, checked: bool = False
) -> Connection:
    """A cursor of the process's root connection on the file now at `path`, attaching it first when it is not
    open (and verifying it then, unless it is `new`). A file replaced since (a new snapshot, see
    dashboard/writer.py) gets a root of its own; the old one lives on for the connections that still read it."""
    shown = shown if shown is not None else path
    name = str(path) if is_lake(path) else str(path.resolve())
    with _OPEN_LOCK:
        root = _OPEN.get(name)
        if root is not None and root.inode != _inode(path):
            root = None  # the file was replaced: its readers keep the old root, new ones get the new file
        if root is not None and root.secret != key:
            raise StoreError(f"{shown}: the database is already open in this program with another key")
        if root is not None and root.read_only != read_only:
            raise StoreError(
                f"{shown}: the database is already open in this program "
                f"({'read-only' if root.read_only else 'for writing'}); close it first"
            )
        if root is None:
            before = None if new or is_lake(path) else path.stat()
            con = _attach(path, read_only, key, shown)
            if not new and not is_lake(path):
                whole = not (checked or is_checked(path))
                try:
                    verify(con, shown, whole=whole)
                except StoreError:
                    con.close()
                    raise
                if whole and shown == path:  # not a writer's copy: that one is recorded once it is the store
                    record_checked(path, before)
            root = _OPEN[name] = _Root(name, con, read_only, key, _inode(path))
        root.users += 1
        cur = root.con.cursor()
        cur.execute(f"use {ALIAS}")
        return Connection(cur, root)


def _inode(path) -> int | None:
    if is_lake(path):
        return None
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


LAKE_PREFIX = "ducklake:"
DATA_PATH_VAR = "OUTCOMES_DATA_PATH"


def is_lake(path) -> bool:
    """Whether the store is a DuckLake (`ducklake:postgres:<libpq connection string>`), not a file."""
    return str(path).startswith(LAKE_PREFIX)


def _attach_lake(con, spec: str, read_only: bool, key: str | None) -> None:
    """A DuckLake store: its catalog in PostgreSQL, its data as Parquet files under $OUTCOMES_DATA_PATH (with a
    key, each file encrypted with a key of its own that the catalog keeps)."""
    data_path = os.environ.get(DATA_PATH_VAR)
    if not data_path:
        raise StoreError(f"a DuckLake store needs {DATA_PATH_VAR}: the folder (or object-store URL) for its data")
    for name in ("postgres", "ducklake"):
        extensions.load(con, name)
    options = [f"data_path {_lit(data_path)}"] + (["read_only"] if read_only else []) + (["encrypted"] if key else [])
    con.execute(f"attach {_lit(spec)} as {ALIAS} ({', '.join(options)})")


def _attach(path: Path, read_only: bool, key: str | None, shown=None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:", config=extensions.CONFIG)
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute("set enable_progress_bar = false")
        # a table built earlier in the same transaction (the derived tables, during an import) has no size estimate
        # yet; DuckDB would then run an ASOF join over it as a nested loop (40 s instead of 0.1 s at 20,000 clients)
        con.execute("set global asof_loop_join_threshold = 0")
        if is_lake(path):
            _attach_lake(con, str(path), read_only, key)
            return con
        con.execute(f"set temp_directory = {_lit(str(path) + '.tmp')}")
        options = ["read_only"] if read_only else []
        if key is not None:
            extensions.load(con, "httpfs")  # DuckDB writes encrypted files only with OpenSSL, which httpfs brings
            con.execute("set temp_file_encryption = true")  # what spills to disk is encrypted too
            options.append(f"encryption_key {_lit(key)}")
        con.execute(f"attach {_lit(str(path))} as {ALIAS}" + (f" ({', '.join(options)})" if options else ""))
    except extensions.ExtensionError as exc:
        con.close()
        raise StoreError(str(exc)) from None
    except duckdb.Error as exc:
        con.close()
        raise StoreError(_attach_error(shown if shown is not None else path, exc, path)) from None
    return con


def _attach_error(path: Path, exc: duckdb.Error, actual: Path | None = None) -> str:
    """The message for a file DuckDB would not attach: `path` as the user knows it (`actual` the file opened, when
    it is a writer's copy)."""
    text = str(exc)
    if is_lake(path):
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        return f"the DuckLake store cannot be opened: is its PostgreSQL catalog running and reachable? ({first})"
    actual = actual if actual is not None else path
    with contextlib.suppress(OSError):
        if actual.is_file() and actual.stat().st_size == 0:
            return (
                f"{path}: cannot be opened as an outcomes database: the file is empty (0 bytes). If it was your "
                "store, restore it from a backup; to start a new store, delete the empty file (a store is created "
                "only where no file exists)"
            )
    if "could not set lock" in text.lower() or "conflicting lock" in text.lower():
        return (
            f"{path}: the database is in use by another program (an import or the app). "
            "Wait for it to finish, or stop it, and try again."
        )
    if "without a key" in text:
        return (
            f"{path}: the database is encrypted; set {KEY_VAR} (or key in the [store] table of "
            ".streamlit/secrets.toml) to its key"
        )
    if "not a valid DuckDB database file" in text:
        return (
            f"{path}: cannot be opened as an outcomes database: it is not a DuckDB database file (or its first "
            "header is damaged): move it aside or restore it from a backup, or point --db / OUTCOMES_DB elsewhere"
        )
    if "Wrong encryption key" in text:
        return (
            f"{path}: the database cannot be decrypted with the key given ({KEY_VAR} or [store] key): the key is "
            "wrong or the file is damaged"
        )
    if "is not encrypted" in text:
        return (
            f"{path}: a database key is set but this database is not encrypted; encrypt it with "
            f"`python -m dashboard encrypt --db {path}`, or unset {KEY_VAR}"
        )
    return _unreadable(path, exc, actual)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _unreadable(path: Path, exc: Exception, actual: Path | None = None) -> str:
    if "corrupt wal" in str(exc).lower() or "corrupt encrypted wal" in str(exc).lower():
        return (
            f"{path}: cannot be opened as an outcomes database: its write-ahead log {path}.wal is damaged, so nothing "
            "is read from it. Restore both files from a backup, or move the .wal file aside (the changes in it are "
            "lost) and try again"
        )
    detail = damage(exc)
    if detail is not None:
        return damaged(path, detail)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if actual is not None and str(actual) != str(path):
        first = first.replace(str(actual), str(path))  # the writer's copy is no name the user knows
    return (
        f"{path}: cannot be opened as an outcomes database ({first}). If it is damaged, move it aside "
        "and re-import your files (the import log lists them), or point --db / OUTCOMES_DB elsewhere."
    )


def damage(exc: BaseException) -> str | None:
    """What is wrong with the file when DuckDB's error `exc` says it is damaged (a block that fails its checksum or,
    encrypted, its authentication tag; a file shorter than its contents; a corrupt structure), else None. DuckDB
    checks a block's checksum (or tag) every time it reads the block from the file."""
    text = str(exc)
    if found := re.search(r"does not match stored checksum \d+ in block at location (\d+)", text):
        return f"the block at byte {int(found[1]):,} fails its checksum"
    if found := re.search(r"Could not read enough bytes from file .*? from location (\d+)", text):
        return f"it is cut short: it ends inside the block at byte {int(found[1]):,}"
    if "AES tag" in text:  # the key passed its check on attach, so a block that fails its tag is damage
        return "a block fails its encryption tag check"
    if re.search(r"corrupt", text, re.IGNORECASE):
        return "DuckDB reports a corrupt structure: " + text.strip().splitlines()[0][:200]
    return None


def damaged(path, detail: str) -> str:
    """The one-line message for a damaged store."""
    return (
        f"{path}: cannot be opened as an outcomes database: the file is damaged ({detail}), so nothing is read "
        "from it. Restore it from a backup, or move it aside and re-import your files"
    )


def not_ours(path) -> str:
    return (
        f"{path}: a DuckDB database, but not an outcomes database (it has no schema_info marker of ours); nothing "
        f"was read or changed. Point --db / {ENV_VAR} at an outcomes database, or at a path where no file exists "
        "to create a new one"
    )


MARKER_COLUMNS = ("schema_version", "created_at", "app_version", "dataset")  # schema_info, as queries/store/schema.sql


def is_ours(con) -> bool:
    """Whether the attached database carries our marker: a main.schema_info table with our columns and one row
    with a schema version."""
    # fetchall, not fetchone: a result not read to its end keeps its transaction open (and a checkpoint waits)
    (row,) = con.execute(
        "select list(column_name) from duckdb_columns() "
        "where database_name = $db and schema_name = 'main' and table_name = 'schema_info'",
        {"db": ALIAS},
    ).fetchall()
    if not row or not row[0] or not set(MARKER_COLUMNS) <= set(row[0]):
        return False
    ((total, versioned),) = con.execute(
        f"select count(*), count(*) filter (where try_cast(schema_version as integer) >= 1) "
        f"from {ALIAS}.main.schema_info"
    ).fetchall()
    return total == versioned == 1


def verify(con, path, whole: bool = True) -> None:
    """Read every stored value of every table once, so that DuckDB checks every block they occupy (its checksum,
    or with encryption its tag), and raise StoreError naming `path` on the first that fails: an answer is never
    given from a file with a damaged block, whichever blocks the question would have read. A file that is not an
    outcomes database is refused first, without reading it all. Costs one scan of the store (README: figures).
    Without `whole`, only the marker is checked (a file unchanged since it passed: is_checked)."""
    try:
        if not is_ours(con):
            raise StoreError(not_ours(path))
        if not whole:
            return
        limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
        con.execute("set memory_limit = $limit", {"limit": VERIFY_MEMORY})  # what is read once is not kept
        try:
            _read_every_table(con)
        finally:
            con.execute("set memory_limit = $limit", {"limit": limit})
    except duckdb.Error as exc:
        raise StoreError(_unreadable(path, exc)) from None


# A file that passed the full read, or that a writer wrote whole (dashboard/writer.py), is not read whole again
# while it is unchanged: <db>.checked records its device, inode, size, modification and change times. Any write to
# the file, or another file put in its place, changes one of them; the record is made at least TICK_NS after the
# file's change time, so that a write in the same tick of the file system's coarse clock cannot go unnoticed (as git
# treats a "racily clean" file). Damage that leaves them all alone (a disk's own decay) is still found by DuckDB's
# checksum when the block is read (the command or page stops then).
CHECKED_SUFFIX = ".checked"
TICK_NS = 30_000_000


def checked_path(path: Path) -> Path:
    return path.with_name(path.name + CHECKED_SUFFIX)


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def is_checked(path: Path) -> bool:
    """Whether the file is, to the nanosecond, the one a passed check (or a writer) recorded."""
    try:
        record = json.loads(checked_path(path).read_text(encoding="utf-8"))
        st = path.stat()
        return record["file"] == _identity(st) and record["recorded_ns"] - st.st_ctime_ns >= TICK_NS
    except (OSError, ValueError, KeyError, TypeError):
        return False


def record_checked(path: Path, before: os.stat_result | None = None) -> None:
    """Record the file as checked (best effort: a reader may not be allowed to write beside the store). `before`:
    its state when the check began; nothing is recorded if it changed meanwhile."""
    try:
        st = path.stat()
        if before is not None and _identity(before) != _identity(st):
            return
        wait = st.st_ctime_ns + TICK_NS - time.time_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        record = json.dumps({"file": _identity(st), "recorded_ns": time.time_ns()})
        temporary = path.with_name(f".{path.name}{CHECKED_SUFFIX}-{os.getpid()}")
        try:
            temporary.write_text(record, encoding="utf-8")
            os.replace(temporary, checked_path(path))
        finally:
            temporary.unlink(missing_ok=True)
    except OSError:
        pass


VERIFY_MEMORY = "64MB"  # DuckDB's buffer pool while verifying: without a cap it would keep the whole store in memory


def _read_every_table(con) -> None:
    tables = con.execute(
        "select t.schema_name, t.table_name, list(c.column_name order by c.column_index) "
        "from duckdb_tables() t join duckdb_columns() c using (database_name, schema_name, table_name) "
        "where t.database_name = $db group by all order by all",
        {"db": ALIAS},
    ).fetchall()
    for schema, table, columns in tables:
        every = ", ".join(f"bit_xor(hash({_ident(c)}))" for c in columns)  # hash reads each whole value
        con.execute(f"select count(*), {every} from {ALIAS}.{_ident(schema)}.{_ident(table)}").fetchall()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ensure_schema(con: duckdb.DuckDBPyConnection, read_only: bool, path, new: bool | None) -> None:
    """Create the schema in a `new` store (a file that did not exist; a DuckLake store, `new` None, with no table
    yet), else check the marker and the version, migrating an older schema."""
    if not is_ours(con):
        if new is None:
            new = not con.execute(
                "select count(*) from duckdb_tables() where database_name = $db", {"db": ALIAS}
            ).fetchone()[0]
        if not new or read_only:
            raise StoreError(not_ours(path))
        con.execute("begin")
        run_script(con, "store/schema")
        con.execute(
            "insert into schema_info values (1, $at, $app, 'clinic')",
            {"at": datetime.now(UTC).replace(tzinfo=None), "app": __version__},
        )
        _migrate(con, 1)
        con.execute("commit")
        return
    version = con.execute("select max(schema_version) from schema_info").fetchone()[0]
    if version is None or version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: the database was written by a newer version of the dashboard (schema {version}, this "
            f"version reads up to {SCHEMA_VERSION}); upgrade the dashboard to open it"
        )
    if version < SCHEMA_VERSION:
        if read_only:
            raise NeedsWriting(
                f"{path}: the database has schema {version} and needs migrating to {SCHEMA_VERSION}: open "
                "it once for writing (e.g. run any import or the app) to migrate it"
            )
        con.execute("begin")
        try:
            _migrate(con, version)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


def _migrate(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Bring a schema from `version` to SCHEMA_VERSION with queries/store/migrate_00N.sql, then rebuild the derived
    tables (their shape may have changed). Runs inside the caller's transaction."""
    from dashboard import derive

    for target in range(version + 1, SCHEMA_VERSION + 1):
        run_script(con, f"store/migrate_{target:03d}")
    instruments.store(con, instruments.builtin())  # the built-in definitions of this version (new fields filled)
    con.execute(
        "update schema_info set schema_version = $v, app_version = $app", {"v": SCHEMA_VERSION, "app": __version__}
    )
    derive.rebuild(con)


def next_import_id(con) -> int:
    """A new import id (call inside the import's transaction)."""
    con.execute("update import_counter set last_import_id = last_import_id + 1")
    return con.execute("select last_import_id from import_counter").fetchone()[0]


def dataset_kind(con: duckdb.DuckDBPyConnection) -> str:
    """'demo' for the synthetic demo database, 'clinic' otherwise."""
    return con.execute("select any_value(dataset) from schema_info").fetchone()[0] or "clinic"


def mark_demo(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("update schema_info set dataset = 'demo'")


def check_integrity(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Problems found in the stored tables (empty when all is well): duplicate keys, orphan rejects."""
    checks = {
        "clients with a duplicate client_id": "select count(*) - count(distinct client_id) from clients",
        "sessions with a duplicate key": "select count(*) from (select 1 from sessions "
        "group by client_id, session_at, session_type having count(*) > 1)",
        "scores with a duplicate key": "select count(*) from (select 1 from scores "
        "group by client_id, assessed_at, instrument having count(*) > 1)",
        "imports with a duplicate import_id": "select count(*) - count(distinct import_id) from import_log",
        "instruments defined twice": "select count(*) - count(distinct name) from instruments",
        "rejects without an import": "select count(*) from import_rejects r anti join import_log l using (import_id)",
        "imports whose counts do not add up": "select count(*) from import_log "
        "where records_read <> imported + rejected + unchanged_duplicates",
    }
    problems = []
    for label, query in checks.items():
        n = con.execute(query).fetchone()[0]
        if n:
            problems.append(f"{n} {label}")
    return problems


def database_path_of(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file behind a connection (None for an in-memory database or a DuckLake store)."""
    row = con.execute("select path, type from duckdb_databases() where database_name = current_database()").fetchone()
    if not row or not row[0] or row[1] == "ducklake" or is_lake(row[0]):
        return None
    return Path(row[0])
