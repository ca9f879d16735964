"""DuckDB's extensions come from their wheels and load only with DuckDB's own signature: a modified or unsigned
file is refused, and no connection can install or auto-load anything."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from dashboard import extensions, store


@pytest.mark.parametrize("name", sorted(extensions.WHEELS))
def test_each_extension_loads_from_its_wheel_with_the_signature_checked(name):
    path = extensions.path_of(name)
    assert path.is_file() and f"v{duckdb.__version__}" in str(path)
    con = duckdb.connect(config=extensions.CONFIG)
    try:
        assert con.execute("select current_setting('allow_unsigned_extensions')").fetchone()[0] is False
        extensions.load(con, name)
        assert extensions.LOAD_NAMES.get(name, name) in extensions.loaded(con)
    finally:
        con.close()


@pytest.mark.parametrize(
    "damage",
    ["one byte flipped in the middle", "the signature cut off", "one byte flipped in the signature"],
)
def test_a_modified_or_unsigned_extension_file_is_refused(tmp_path, damage):
    original = extensions.path_of("httpfs").read_bytes()
    data = bytearray(original)
    if damage == "one byte flipped in the middle":
        data[len(data) // 2] ^= 0x01
    elif damage == "the signature cut off":
        data = data[:-256]  # DuckDB's extension footer ends with a 256-byte signature
    else:
        data[-10] ^= 0x01
    file = tmp_path / "httpfs.duckdb_extension"
    file.write_bytes(bytes(data))
    con = duckdb.connect(config=extensions.CONFIG)
    try:
        with pytest.raises(extensions.ExtensionError, match=r"signature|not a DuckDB extension"):
            extensions.load(con, "httpfs", path=file)
        assert "httpfs" not in extensions.loaded(con)
    finally:
        con.close()


def test_an_intact_copy_of_the_file_loads(tmp_path):
    """The refusal above is the signature's doing, not the file's location."""
    file = tmp_path / "httpfs.duckdb_extension"
    shutil.copyfile(extensions.path_of("httpfs"), file)
    con = duckdb.connect(config=extensions.CONFIG)
    try:
        extensions.load(con, "httpfs", path=file)
        assert "httpfs" in extensions.loaded(con)
    finally:
        con.close()


def test_store_connections_neither_install_nor_autoload_nor_take_unsigned_code(tmp_path):
    con = store.connect(tmp_path / "o.duckdb", key=None)
    try:
        settings = dict(
            con.execute(
                "select name, value from duckdb_settings() where name in ('autoinstall_known_extensions', "
                "'autoload_known_extensions', 'allow_unsigned_extensions', 'allow_community_extensions')"
            ).fetchall()
        )
        assert settings == {
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
            "allow_unsigned_extensions": "false",
            "allow_community_extensions": "false",
        }
        # an extension's function is not loaded behind the scenes
        with pytest.raises(duckdb.Error):
            con.execute("select * from read_xlsx('nothing.xlsx')")
        assert "excel" not in extensions.loaded(con)
    finally:
        con.close()


def test_an_unknown_extension_is_refused_by_name():
    with pytest.raises(extensions.ExtensionError, match="unknown extension"):
        extensions.path_of("spatial")
