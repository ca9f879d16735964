"""The SQL loader. Every query is a file in queries/, in a folder by its role:

- queries/store/: the schema (schema.sql) and its migrations (migrate_00N.sql), run by dashboard.store;
- queries/derive/: the derived-table builds, run in the order of their file names (NN_name.sql) by
  dashboard.derive, each binding the settings it names as $-parameters;
- queries/views/: the read-only queries the engine and the views run, with bound $-parameters.

A query is named by its folder and stem ('views/outcomes_by_group'), or by its stem alone when only one folder
holds it."""

import re
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd

QUERY_DIR = Path(__file__).resolve().parent.parent / "queries"
ROLES = ("store", "derive", "views")


@cache
def path_of(name: str) -> Path:
    """The file of a named query."""
    folders = [""] if "/" in name else [f"{role}/" for role in ROLES]
    candidates = [QUERY_DIR / f"{folder}{name}.sql" for folder in folders]
    found = [p for p in candidates if p.is_file()]
    if len(found) != 1:
        raise KeyError(f"no query named {name!r} in {QUERY_DIR}" if not found else f"ambiguous query {name!r}")
    return found[0]


@cache
def sql(name: str) -> str:
    """The text of a named query."""
    return path_of(name).read_text(encoding="utf-8")


def files(role: str) -> list[Path]:
    """The SQL files of one role, in name order (the derive order for 'derive')."""
    return sorted((QUERY_DIR / role).glob("*.sql"))


@cache
def parameters(name: str) -> frozenset[str]:
    """The $-parameters a named query uses."""
    code = re.sub(r"--[^\n]*", "", sql(name))  # the header comment names them too
    return frozenset(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", code))


def run(con: duckdb.DuckDBPyConnection, name: str, **params) -> pd.DataFrame:
    """Run a named query with bound parameters and return a (small) DataFrame.

    Callers may pass a shared set of parameters (all the cohort filters, say); the ones the query does not
    use are left out, and a missing one is an error naming it."""
    needed = parameters(name)
    missing = needed - params.keys()
    if missing:
        raise KeyError(f"query {name!r} needs parameter(s): {', '.join(sorted(missing))}")
    bound = {k: v for k, v in params.items() if k in needed}
    return _bounded(con.execute(sql(name), bound or None).df())


SHOWN_CHARS = 1_000  # a text value longer than this is cut (codes are at most 64 characters, labels 80)
CUT_TO = 200


def _bounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Text values over SHOWN_CHARS characters cut to their first CUT_TO and "…". The importer refuses such
    values today; a store written before it did may hold one (a label of 200 MB once stopped every page: Streamlit
    refuses a message over 200 MB)."""
    for column in frame.columns:
        values = frame[column]
        if not (pd.api.types.is_string_dtype(values) or values.dtype == object):
            continue
        long = values.map(lambda v: isinstance(v, str) and len(v) > SHOWN_CHARS)
        if long.any():
            frame[column] = values.where(~long, values[long].map(lambda v: v[:CUT_TO] + "…"))
    return frame


def run_script(
    con: duckdb.DuckDBPyConnection,
    name: str,
    fragments: dict[str, str] | None = None,
    text: str | None = None,
    **params,
) -> None:
    """Run a SQL file (schema, migration, derived-table build), binding the parameters it names. `fragments`
    replace the file's {{markers}} with SQL generated from declarations in code (identifiers and constants,
    never user input); a marker left unreplaced is an error. `text`, when given, is run in place of the file's
    SQL (the file rewritten by code, e.g. into temp tables: derive.refresh)."""
    needed = parameters(name)
    missing = needed - params.keys()
    if missing:
        raise KeyError(f"query {name!r} needs parameter(s): {', '.join(sorted(missing))}")
    text = sql(name) if text is None else text
    for marker, fragment in (fragments or {}).items():
        text = text.replace(marker, fragment)
    if "{{" in re.sub(r"--[^\n]*", "", text):
        raise KeyError(f"query {name!r} has a {{{{marker}}}} nothing replaced")
    con.execute(text, {k: params[k] for k in needed} or None)
