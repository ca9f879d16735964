"""The record of a checked store (<db>.checked, dashboard/store.py): a store a writer has just written, or whose full
read passed, is not read whole again while it is unchanged; any change to the file (a damaged block written in
place, another file moved in, a copy) makes the next open read it all again, and a write within the file system's
clock tick of the record does not slip through."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from dashboard import derive, store, writer
from dashboard.ingest import import_files

BLOCK = 262_144


@pytest.fixture
def full_reads(monkeypatch) -> list[str]:
    """The tables' full reads (store._read_every_table) made from now on."""
    made: list[str] = []
    real = store._read_every_table

    def counted(con):
        made.append("read")
        return real(con)

    monkeypatch.setattr(store, "_read_every_table", counted)
    return made


def _written(demo_db: Path, folder: Path) -> Path:
    """A copy of the demo store that a writer has changed (an import of one new client)."""
    path = folder / "store.duckdb"
    shutil.copyfile(demo_db, path)
    csv = folder / "clients.csv"
    csv.write_text("client_id,site\nNEW1,North\n")
    with writer.writing(path, key=None) as con:
        import_files(con, [csv], after_import=derive.refresh, derive_once=True)
    return path


def _open_close(path: Path) -> None:
    store.connect(path, read_only=True, key=None).close()


def test_a_written_store_is_recorded_and_opened_without_the_full_read(demo_db, tmp_path, full_reads):
    path = _written(demo_db, tmp_path)
    assert full_reads == ["read"]  # the writer read the copy of an unrecorded store whole
    assert store.is_checked(path)
    record = json.loads(store.checked_path(path).read_text())
    assert record["file"][1] == path.stat().st_ino and record["file"][2] == path.stat().st_size
    _open_close(path)
    assert full_reads == ["read"]
    # the next writer copies a recorded store without reading it whole, and records what it writes
    csv = tmp_path / "more.csv"
    csv.write_text("client_id,site\nNEW2,North\n")
    with writer.writing(path, key=None) as con:
        import_files(con, [csv], after_import=derive.refresh, derive_once=True)
    assert full_reads == ["read"] and store.is_checked(path)


def test_a_block_damaged_in_place_after_the_record_is_found(demo_db, tmp_path, full_reads):
    path = _written(demo_db, tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # same size, same inode: only the times tell
        handle.seek(12_288 + BLOCK * ((size - 12_288) // BLOCK // 2) + 5_000)
        handle.write(os.urandom(512))
    assert path.stat().st_size == size and not store.is_checked(path)
    with pytest.raises(store.StoreError, match="damaged"):
        _open_close(path)
    assert not store.is_checked(path)  # a file that fails is never recorded


def test_a_record_is_not_trusted_for_another_file_or_a_racy_one(demo_db, tmp_path, full_reads):
    path = _written(demo_db, tmp_path)
    other = tmp_path / "other.duckdb"
    shutil.copyfile(path, other)
    shutil.copyfile(store.checked_path(path), store.checked_path(other))
    assert not store.is_checked(other)  # another inode
    os.replace(other, path)  # another file moved in under the recorded name
    assert not store.is_checked(path)
    # a record made in the same tick as the file's last change could miss a later write in that tick
    st = path.stat()
    same = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    store.checked_path(path).write_text(json.dumps({"file": same, "recorded_ns": st.st_ctime_ns + 1}))
    assert not store.is_checked(path)
    store.checked_path(path).write_text("not json")
    assert not store.is_checked(path)
    _open_close(path)
    assert full_reads == ["read", "read"]


def test_a_reader_records_a_full_read_that_passes(demo_db, tmp_path, full_reads):
    path = tmp_path / "copy.duckdb"
    shutil.copyfile(demo_db, path)
    store.checked_path(path).unlink(missing_ok=True)
    _open_close(path)
    assert full_reads == ["read"] and store.is_checked(path)
    record = json.loads(store.checked_path(path).read_text())
    assert record["recorded_ns"] - path.stat().st_ctime_ns >= store.TICK_NS
    time.sleep(0.01)
    path.touch()  # a change of its times alone is a change
    assert not store.is_checked(path)
