"""The SQL loader: named queries live as files in queries/, one per file, run with bound $-parameters."""

from functools import cache
from pathlib import Path

import duckdb
import pandas as pd

QUERY_DIR = Path(__file__).resolve().parent.parent / "queries"


@cache
def sql(name: str) -> str:
    """The text of queries/<name>.sql."""
    path = QUERY_DIR / f"{name}.sql"
    if not path.is_file():
        raise KeyError(f"no query named {name!r} in {QUERY_DIR}")
    return path.read_text(encoding="utf-8")


def run(con: duckdb.DuckDBPyConnection, name: str, **params) -> pd.DataFrame:
    """Run a named query with bound parameters and return a (small) DataFrame."""
    return con.execute(sql(name), params or None).df()


def run_script(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Run a multi-statement SQL file that takes no parameters (schema, derived-table builds)."""
    con.execute(sql(name))
