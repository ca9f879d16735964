"""DuckDB's own extensions, from their PyPI wheels, loaded by file path with DuckDB's signature check on.

Nothing is downloaded at run time: every connection is opened with autoinstall and autoload off and unsigned
extensions refused (CONFIG), and an extension is loaded only from the file its wheel installed (`path_of`).
DuckDB checks that file's signature against the keys built into DuckDB itself, so a modified or unsigned file is
refused."""

from __future__ import annotations

import tempfile
from importlib.util import find_spec
from pathlib import Path

import duckdb

# the extensions this program uses, each from its wheel (requirements.txt pins them to DuckDB's version)
WHEELS = {
    "httpfs": "duckdb_extension_httpfs",  # OpenSSL, which DuckDB needs to write an encrypted database
    "ducklake": "duckdb_extension_ducklake",  # a multi-site store (DuckLake)
    "postgres": "duckdb_extension_postgres",  # its PostgreSQL catalog
}
# DuckDB takes an extension's name from its file name; a wheel whose file is named otherwise is loaded through a
# link of the right name, in a folder of this process's own
LOAD_NAMES = {"postgres": "postgres_scanner"}
_links: Path | None = None

CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_community_extensions": False,
}


class ExtensionError(RuntimeError):
    """An extension cannot be loaded; the message says which and why."""


def path_of(name: str) -> Path:
    """The extension file its wheel installed, for the running DuckDB version."""
    if name not in WHEELS:
        raise ExtensionError(f"unknown extension {name!r}; this program uses {', '.join(WHEELS)}")
    spec = find_spec(WHEELS[name])
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            f"the DuckDB extension {name} is not installed: pip install -r requirements.txt "
            f"(it comes from the {WHEELS[name].replace('_', '-')} wheel)"
        )
    path = (
        Path(spec.submodule_search_locations[0]) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    )
    if not path.is_file():
        raise ExtensionError(
            f"the {name} extension for DuckDB {duckdb.__version__} is not in its wheel ({path}); install the "
            f"wheel of the same version as duckdb (requirements.txt pins both)"
        )
    return path


def load(con, name: str, path: Path | None = None) -> None:
    """Load extension `name` into `con` from its wheel's file (or `path`); DuckDB refuses it unless its
    signature is DuckDB's."""
    file = path or _named(name, path_of(name))
    try:
        con.execute("load '" + str(file).replace("'", "''") + "'")
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise ExtensionError(f"the DuckDB extension {name} could not be loaded from {file}: {first}") from None


def _named(name: str, file: Path) -> Path:
    """`file` under the name DuckDB expects of the extension."""
    global _links
    wanted = LOAD_NAMES.get(name)
    if wanted is None:
        return file
    if _links is None:
        _links = Path(tempfile.mkdtemp(prefix="duckdb-extensions-"))  # private to this user (mode 0700)
    link = _links / f"{wanted}.duckdb_extension"
    if not link.exists():
        link.symlink_to(file)
    return link


def loaded(con) -> set[str]:
    return {r[0] for r in con.execute("select extension_name from duckdb_extensions() where loaded").fetchall()}
