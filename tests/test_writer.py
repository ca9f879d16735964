"""Writing while others read (dashboard/writer.py): an import from the command line succeeds while the store is
open for reading, readers see the store before or after an import and never between, and a writer that fails,
is killed or runs out of disk leaves the store as it was."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from dashboard import store, writer

PROJECT = Path(__file__).resolve().parent.parent


def run(*args, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != store.KEY_VAR}
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *args], cwd=PROJECT, env=env, capture_output=True, text=True, **kw
    )


def counts(con) -> tuple[int, int, int]:
    return con.execute(
        "select (select count(*) from clients), (select count(*) from sessions), (select count(*) from courses)"
    ).fetchone()


def new_clients(folder: Path, n: int, prefix: str = "NEW") -> list[Path]:
    """n clients, each with a dose (so each adds a course): a clients file and a sessions file, one import."""
    clients = folder / f"{prefix}_clients.csv"
    clients.write_text("client_id,site\n" + "".join(f"{prefix}{i},North\n" for i in range(n)))
    sessions = folder / f"{prefix}_sessions.csv"
    sessions.write_text(
        "client_id,session_at,modality\n" + "".join(f"{prefix}{i},2025-02-03T09:00,iv\n" for i in range(n))
    )
    return [clients, sessions]


@pytest.fixture
def served(tmp_path, demo_db) -> Path:
    db = tmp_path / "clinic.duckdb"
    shutil.copyfile(demo_db, db)
    return db


def test_a_command_line_import_succeeds_while_a_reader_holds_the_store(served, tmp_path):
    reader = writer.reading(served, key=None)
    try:
        before = counts(reader)
        done = run("import", *map(str, new_clients(tmp_path, 5)), "--db", str(served), timeout=300)
        assert done.returncode == 0, done.stderr
        assert counts(reader) == before  # the open reader keeps its snapshot
    finally:
        reader.close()
    fresh = writer.reading(served, key=None)
    try:
        assert counts(fresh) == (before[0] + 5, before[1] + 5, before[2] + 5)
    finally:
        fresh.close()


def test_readers_see_the_store_before_or_after_an_import_never_between(served, tmp_path):
    """While one import of two files (clients, then their sessions) and a rebuild runs in another process, readers
    open the store again and again: each sees the counts of before or of after, never a mix."""
    reader = writer.reading(served, key=None)
    before = counts(reader)
    reader.close()
    after = (before[0] + 300, before[1] + 300, before[2] + 300)
    seen: set[tuple] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            con = store.connect(served, read_only=True, key=None)
            try:
                seen.add(counts(con))
            finally:
                con.close()

    thread = threading.Thread(target=read)
    thread.start()
    try:
        done = run("import", *map(str, new_clients(tmp_path, 300)), "--db", str(served), timeout=300)
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
    assert done.returncode == 0, done.stderr
    assert seen <= {before, after} and after in seen, seen


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from dashboard import cli, writer
    writer.replace = lambda new, path: os.kill(os.getpid(), signal.SIGKILL)  # killed with the import done, unswapped
    cli.main(["import", *sys.argv[2:], "--db", sys.argv[1]])
    """
)


def test_a_killed_import_leaves_the_store_as_it_was_and_the_next_one_cleans_up(served, tmp_path):
    before = served.read_bytes()
    files = [str(f) for f in new_clients(tmp_path, 3)]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(served), *files], cwd=PROJECT, capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -9, killed.stderr
    assert served.read_bytes() == before
    assert list(tmp_path.glob(".clinic.duckdb.next-*"))
    done = run("import", *files, "--db", str(served), timeout=300)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.glob(".clinic.duckdb.next-*"))


def test_a_failed_write_leaves_the_store_unchanged_and_no_copy(served):
    before = served.read_bytes()
    with pytest.raises(RuntimeError, match="on purpose"), writer.writing(served, key=None) as con:
        con.execute("delete from scores")
        raise RuntimeError("on purpose")
    assert served.read_bytes() == before
    assert sorted(p.name for p in served.parent.iterdir() if p.name.startswith(".")) == []


def test_a_second_writer_is_refused_while_the_first_writes(served):
    busy = pytest.raises(writer.WriterBusy, match="another import or rebuild is running")
    with writer.writing(served, key=None), busy, writer.writing(served, key=None):
        pass


def test_a_waiting_writer_says_so_and_goes_ahead_when_the_first_is_done(served, tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from dashboard import writer\n"
            "with writer.locked(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(3)",
            str(served),
        ],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    done = run("import", *map(str, new_clients(tmp_path, 2)), "--db", str(served), timeout=300)
    holder.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    assert "waiting for another import or rebuild" in done.stderr


def _limited(limit_bytes: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) as on a full disk

    return apply


@pytest.mark.parametrize("room", ["none for the copy", "none for the import"])
def test_a_full_disk_during_an_import_is_a_clear_message_and_changes_nothing(served, tmp_path, room):
    before = served.read_bytes()
    size = len(before)
    limit = size // 2 if room == "none for the copy" else size + 4096
    files = [str(f) for f in new_clients(tmp_path, 20_000)]
    env = {k: v for k, v in os.environ.items() if k != store.KEY_VAR}
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", "import", *files, "--db", str(served)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limited(limit),
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "disk space" in (done.stderr + done.stdout), (done.stdout, done.stderr)
    assert served.read_bytes() == before
    assert not list(tmp_path.glob(".clinic.duckdb.next-*"))
