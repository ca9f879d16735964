"""Writing the store while others read it: every change is made in a copy that then replaces the store in one step.

DuckDB lets one process hold a database file for writing, and no other process read it meanwhile. So the app,
and every command that only reads, opens the store read-only; a writer (an import from the command line or the
Data page, a rebuild of the derived tables, `encrypt`) takes the store's lock file, copies the store, changes the
copy, checkpoints and closes it, and renames it over the store (POSIX rename replaces a file atomically). A reader
that has the store open keeps reading the snapshot it opened; the next one it opens is the new one (the app checks
on every run, see data.connection). No reader sees half a change, a writer that fails or is killed leaves the
store as it was (its copy is removed, or left with a name that the next writer removes), and only one writer runs
at a time.

The cost is a copy of the store per write, and free disk space for a second copy while it runs."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dashboard import extensions, store

WAIT_SECONDS = 600  # how long a writer waits for another to finish before giving up


class WriterBusy(store.StoreError):
    """Another writer holds the store."""


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".import-lock")


def copy_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.next-{os.getpid()}")


@contextmanager
def locked(path: Path, wait: float = 0, notify=None) -> Iterator[None]:
    """Hold the store's writer lock (a lock file beside it), waiting up to `wait` seconds for another writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path(path), "a+")  # noqa: SIM115 (held for the whole write)
    try:
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WriterBusy(
                        f"{path}: another import or rebuild is running; wait for it to finish and try again"
                    ) from None
                if notify and not told:
                    notify("waiting for another import or rebuild of this database to finish…")
                    told = True
                time.sleep(0.2)
        _remove_leftovers(path)
        yield
    finally:
        handle.close()


def _remove_leftovers(path: Path) -> None:
    """Copies left by a writer that was killed (we hold the lock, so no writer is using them)."""
    for left in path.parent.glob(f".{path.name}.next-*"):
        left.unlink(missing_ok=True)


@contextmanager
def writing(path: Path, key=store._DEFAULT_KEY, wait: float = 0, notify=None) -> Iterator[store.Connection]:
    """A connection on a copy of the store (a new store when there is none); when the block ends without an error
    the copy replaces the store, atomically. With an error, or if the process dies, the store is unchanged."""
    if store.is_lake(path):  # DuckLake: its own transactions and snapshots, several writers at once
        con = store.connect(path, key=key)
        try:
            yield con
        finally:
            con.close()
        return
    path = Path(path)
    with locked(path, wait, notify):
        copy = copy_path(path)
        try:
            checked = False
            if path.exists():
                _settle(path, key)
                before = path.stat()
                checked = store.is_checked(path)
                _copy(path, copy)
                checked = checked and store.is_checked(path) and path.stat().st_mtime_ns == before.st_mtime_ns
            # an existing store is verified (our marker, and every block unless it is unchanged since a check
            # passed: store.is_checked) as the copy opens; a new one is created
            con = store.connect(copy, key=key, shown=path, checked=checked)
            try:
                yield con
                con.execute("checkpoint")
            except Exception as exc:
                if _out_of_space(exc):
                    raise _no_space(path) from None
                raise
            finally:
                with contextlib.suppress(duckdb.Error):
                    con.close()
            if Path(f"{copy}.wal").exists():
                raise store.StoreError(f"{path}: the new snapshot was not written completely; nothing was changed")
            replace(copy, path)
            store.record_checked(path)  # written whole just now: the next writer or reader need not read it all
        finally:
            for left in (copy, Path(f"{copy}.wal"), lock_path(copy), Path(f"{copy}.tmp")):
                if left.is_dir():
                    shutil.rmtree(left, ignore_errors=True)
                else:
                    left.unlink(missing_ok=True)


def reading(path: Path, key=store._DEFAULT_KEY, notify=None, create: bool = True) -> store.Connection:
    """A read-only connection on the store; one that must be migrated (or, with `create`, does not exist yet) is
    first migrated (created) as a writer would."""
    if store.is_lake(path):
        return store.connect(path, read_only=False, key=key)  # its schema is created or migrated on first use
    path = Path(path)
    if not create and not path.exists():
        raise store.StoreError(f"{path}: no database here. Import data or run `python -m dashboard demo` first.")
    try:
        return store.connect(path, read_only=True, key=key)
    except store.NeedsWriting:
        with writing(path, key=key, wait=WAIT_SECONDS, notify=notify):
            pass
        return store.connect(path, read_only=True, key=key)


def _settle(path: Path, key) -> None:
    """A store left with a write-ahead log (by a program that stopped before checkpointing) is checkpointed in
    place first, so that the copy holds everything."""
    if Path(f"{path}.wal").exists():
        con = store.connect(path, key=key)
        try:
            con.execute("checkpoint")
        finally:
            con.close()


def _copy(path: Path, copy: Path) -> None:
    try:
        shutil.copyfile(path, copy)
    except OSError as exc:
        copy.unlink(missing_ok=True)
        if _out_of_space(exc):
            raise _no_space(path) from None
        raise store.StoreError(f"{path}: cannot be copied to change it ({exc.strerror or exc})") from None


SPACE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
SPACE_WORDS = ("no space left", "file too large", "disk quota")


def _out_of_space(exc: BaseException | None) -> bool:
    """Whether `exc`, or an error it arose from, is a full disk (or a file size limit, or a quota)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in SPACE_ERRNOS:
            return True
        if any(w in str(exc).lower() for w in SPACE_WORDS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _no_space(path: Path) -> store.StoreError:
    size = path.stat().st_size / 1e6 if path.exists() else 0
    return store.StoreError(
        f"{path.parent}: not enough free disk space to change the database (a change is made in a copy of it, "
        f"which needs about {size:,.0f} MB free, and more for what is added); nothing was changed"
    )


def replace(new: Path, path: Path) -> None:
    """Put `new` in place of `path` in one step, durably: the new file's data reaches the disk before the rename,
    and the rename before this returns."""
    fd = os.open(new, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(new, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_encrypted(path: Path) -> bool:
    """Whether the file is an encrypted DuckDB database (opening it without a key says so)."""
    con = duckdb.connect(":memory:", config=extensions.CONFIG)
    try:
        con.execute("attach '" + str(path).replace("'", "''") + "' as probe (read_only)")
        return False
    except duckdb.Error as exc:
        if "without a key" in str(exc):
            return True
        raise store.StoreError(store._attach_error(path, exc)) from None
    finally:
        con.close()


def encrypt(path: Path, key: str, notify=print) -> None:
    """Convert a plaintext store into an encrypted one in place: a new encrypted file gets a copy of every table,
    view and macro, is checked against the original (the row count of every table), and replaces it atomically.
    A conversion that fails or is killed leaves the original as it was."""
    path = Path(path)
    if not path.is_file():
        raise store.StoreError(f"{path}: no database here")
    if is_encrypted(path):
        _check(path, key)  # the key opens it and it is intact, or a clear error
        notify(f"{path} is already encrypted with this key; nothing to do")
        return
    with locked(path):
        _settle(path, None)
        _check(path, None)  # only an intact outcomes database is converted
        copy = copy_path(path)
        try:
            con = duckdb.connect(":memory:", config=extensions.CONFIG)
            try:
                extensions.load(con, "httpfs")
                con.execute("attach " + store._lit(str(path)) + " as plain (read_only)")
                con.execute("attach " + store._lit(str(copy)) + f" as secret (encryption_key {store._lit(key)})")
                con.execute("copy from database plain to secret")
                con.execute("checkpoint secret")
                _same_counts(con)
            finally:
                con.close()
            replace(copy, path)
            store.record_checked(path)
        except (extensions.ExtensionError, duckdb.Error) as exc:
            first = str(exc).splitlines()[0]
            raise store.StoreError(f"{path}: could not be encrypted ({first}); it is unchanged") from None
        finally:
            copy.unlink(missing_ok=True)
            Path(f"{copy}.wal").unlink(missing_ok=True)
    notify(f"{path} is now encrypted; keep the key safe: without it the data cannot be read")


def _check(path: Path, key) -> None:
    """Open the store read-only once: it is an outcomes database and every block reads back intact (see
    store.verify), or a StoreError. An older schema is fine (it is migrated when next opened for writing)."""
    with contextlib.suppress(store.NeedsWriting):
        store.connect(path, read_only=True, key=key).close()


def _same_counts(con) -> None:
    tables = con.execute(
        "select table_name from duckdb_tables() where database_name = 'plain' order by table_name"
    ).fetchall()
    for (t,) in tables:
        q = '"' + t.replace('"', '""') + '"'
        a = con.execute(f"select count(*) from plain.{q}").fetchone()[0]
        b = con.execute(f"select count(*) from secret.{q}").fetchone()[0]
        if a != b:
            raise duckdb.Error(f"table {t}: {a} rows in the original, {b} in the encrypted copy")
