"""The DuckDB store: where the database file is, how it is opened, created and checked."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dashboard import __version__, instruments
from dashboard.queries import run_script

SCHEMA_VERSION = 3  # queries/store/schema.sql is version 1; queries/store/migrate_00N.sql bring it to N
PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"
DEFAULT_DB = DATA_DIR / "outcomes.duckdb"
DEMO_DB = DATA_DIR / "demo.duckdb"
ENV_VAR = "OUTCOMES_DB"


class StoreError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""


def resolve_path(path: str | os.PathLike | None = None) -> Path:
    """The database file: the --db argument, else $OUTCOMES_DB, else data/outcomes.duckdb."""
    if path:
        return Path(path)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return DEFAULT_DB


def connect(path: str | os.PathLike, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the database at `path`, with its schema in place and its version checked."""
    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(f"{path}: no database here. Import data or run `python -m dashboard demo` first.")
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreError(
                f"{path}: the database is in use by another program (an import or the app). "
                "Wait for it to finish, or stop it, and try again."
            ) from None
        raise StoreError(_unreadable(path, exc)) from None
    except duckdb.Error as exc:
        raise StoreError(_unreadable(path, exc)) from None
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")
    try:
        _ensure_schema(con, read_only)
    except duckdb.Error as exc:
        con.close()
        raise StoreError(_unreadable(path, exc)) from None
    except StoreError:
        con.close()
        raise
    return con


def _unreadable(path: Path, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"{path}: cannot be opened as an outcomes database ({first}). If it is damaged, move it aside "
        "and re-import your files (the import log lists them), or point --db / OUTCOMES_DB elsewhere."
    )


def _ensure_schema(con: duckdb.DuckDBPyConnection, read_only: bool) -> None:
    has_info = con.execute(
        "select count(*) from information_schema.tables where table_name = 'schema_info'"
    ).fetchone()[0]
    if not has_info:
        if read_only:
            raise StoreError("the file is not an outcomes database (no schema_info table)")
        con.execute("begin")
        run_script(con, "store/schema")
        con.execute(
            "insert into schema_info values (1, $at, $app, 'clinic')",
            {"at": datetime.now(UTC).replace(tzinfo=None), "app": __version__},
        )
        instruments.store(con, instruments.builtin())
        _migrate(con, 1)
        con.execute("commit")
        return
    version = con.execute("select max(schema_version) from schema_info").fetchone()[0]
    if version is None or version > SCHEMA_VERSION:
        raise StoreError(
            f"the database was written by a newer version of the dashboard (schema {version}, this "
            f"version reads up to {SCHEMA_VERSION}); upgrade the dashboard to open it"
        )
    if version < SCHEMA_VERSION:
        if read_only:
            raise StoreError(
                f"the database has schema {version} and needs migrating to {SCHEMA_VERSION}: open "
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
    con.execute(
        "update schema_info set schema_version = $v, app_version = $app", {"v": SCHEMA_VERSION, "app": __version__}
    )
    derive.rebuild(con)


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
    """The file behind a connection (None for an in-memory database)."""
    path = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    return Path(path[0]) if path and path[0] else None
