"""The SQL loader: named queries live as files in queries/, one per file, run with bound $-parameters."""

import re
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
    return con.execute(sql(name), bound or None).df()


def run_script(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Run a multi-statement SQL file that takes no parameters (schema, derived-table builds)."""
    con.execute(sql(name))
