"""Damaged, foreign and empty database files (issue 14, part 5): every command and the app refuse them with one
line that names the file and says what to do (exit status 2, no traceback), never answer from them, and never
change them. Damage: cut to half; random bytes over the first bytes, the main header, a database header, a data
block, the end, and several of these at once; plaintext and encrypted. Not ours: a DuckDB file with other tables
(plaintext and encrypted), a DuckDB file without tables, an empty file, a text file."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import cli, extensions, store, writer

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
KEY = "correct horse battery staple 42"
BLOCK = 262_144  # DuckDB's block size; the file is three 4 KiB headers, then blocks
DAMAGED = "the file is damaged"
NOT_DUCKDB = "it is not a DuckDB database file"
NOT_OURS = "not an outcomes database"
EMPTY = "the file is empty (0 bytes)"
WHAT_TO_DO = {
    DAMAGED: "Restore it from a backup, or move it aside",
    NOT_DUCKDB: "move it aside or restore it from a backup",
    NOT_OURS: "nothing was read or changed",
    EMPTY: "delete the empty file",
}


def _overwrite(data: bytes, *spans: tuple[int, int], seed: int = 14) -> bytes:
    rnd = random.Random(seed)
    out = bytearray(data)
    for start, length in spans:
        out[start : start + length] = rnd.randbytes(length)
    return bytes(out)


def _middle_block(n: int) -> int:
    return 12_288 + BLOCK * ((n - 12_288) // BLOCK // 2) + 5_000


DAMAGE = {
    "cut to half": lambda d: d[: len(d) // 2],
    "first bytes": lambda d: _overwrite(d, (0, 64)),
    "main header": lambda d: _overwrite(d, (1_024, 256)),
    "database header": lambda d: _overwrite(d, (4_096 + 16, 64)),
    "data block": lambda d: _overwrite(d, (_middle_block(len(d)), 512)),
    "end": lambda d: _overwrite(d, (len(d) - 600, 512)),
    "several": lambda d: _overwrite(d, (4_096 + 16, 64), (_middle_block(len(d)), 512), (len(d) - 600, 512)),
}
EXPECTED = {name: NOT_DUCKDB if name == "first bytes" else DAMAGED for name in DAMAGE}


@pytest.fixture(scope="module")
def stores(demo_db, tmp_path_factory) -> dict[str, Path]:
    """The demo store, plaintext and encrypted, never changed."""
    folder = tmp_path_factory.mktemp("stores")
    plain, encrypted = folder / "plain.duckdb", folder / "encrypted.duckdb"
    shutil.copy(demo_db, plain)
    shutil.copy(demo_db, encrypted)
    writer.encrypt(encrypted, KEY, notify=lambda _: None)
    assert writer.is_encrypted(encrypted) and not writer.is_encrypted(plain)
    return {"plain": plain, "encrypted": encrypted}


def _foreign(path: Path, key: str | None = None, tables: bool = True) -> None:
    con = duckdb.connect(":memory:", config=extensions.CONFIG)
    try:
        options = ""
        if key:
            extensions.load(con, "httpfs")
            options = f" (encryption_key '{key}')"
        con.execute(f"attach '{path}' as other{options}")
        if tables:
            con.execute("create table other.patients (name varchar, born date)")
            con.execute("insert into other.patients values ('Jane Doe', '1980-03-04')")
            con.execute("create table other.info (version integer)")
        con.execute("checkpoint other")
    finally:
        con.close()


# (case id, encrypted?, how to make it, what the message says)
CASES = [
    (f"{kind} {name}", kind == "encrypted", name, EXPECTED[name]) for kind in ("plain", "encrypted") for name in DAMAGE
]
CASES += [
    ("foreign DuckDB file", False, "foreign", NOT_OURS),
    ("foreign encrypted DuckDB file", True, "foreign", NOT_OURS),
    ("DuckDB file without tables", False, "no tables", NOT_OURS),
    ("empty file", False, "empty", EMPTY),
    ("text file", False, "text", NOT_DUCKDB),
]


def _make(stores, tmp_path: Path, encrypted: bool, how: str) -> Path:
    path = tmp_path / "store.duckdb"
    if how in DAMAGE:
        path.write_bytes(DAMAGE[how](stores["encrypted" if encrypted else "plain"].read_bytes()))
    elif how == "foreign":
        _foreign(path, KEY if encrypted else None)
    elif how == "no tables":
        _foreign(path, tables=False)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "text":
        path.write_text("client_id,site\nC1,North\n" * 500)
    return path


@pytest.fixture
def clients_csv(tmp_path) -> Path:
    path = tmp_path / "clients.csv"
    path.write_text("client_id,site\nZ1,North\n")
    return path


def _args(command: str, path: Path, tmp_path: Path, clients_csv: Path) -> list[str]:
    return {
        "outcomes": ["outcomes", "--instrument", "PHQ-9", "--db", str(path)],
        "report": ["report", "--out", str(tmp_path / "report.html"), "--db", str(path)],
        "import": ["import", str(clients_csv), "--db", str(path)],
        "encrypt": ["encrypt", "--db", str(path)],
        "demo": ["demo", "--clients", "20", "--db", str(path)],
    }[command]


def _assert_refused(path: Path, before: bytes, rc: int, out: str, err: str, expected: str) -> None:
    line = err.strip()
    assert rc == 2, (rc, out, err)
    assert out == "", "an answer was given from the file"
    assert "\n" not in line and "Traceback" not in line, err
    assert line.startswith(f"error: {path}: "), line
    assert expected in line and WHAT_TO_DO[expected] in line, line
    assert path.read_bytes() == before, "the file was changed"
    assert not list(path.parent.glob(f".{path.name}.next-*")), "a writer's copy was left behind"


@pytest.mark.parametrize("command", ["outcomes", "report", "import", "encrypt", "demo"])
@pytest.mark.parametrize("case, encrypted, how, expected", CASES, ids=[c[0] for c in CASES])
def test_every_command_refuses_the_file(
    stores, tmp_path, clients_csv, monkeypatch, capsys, command, case, encrypted, how, expected
):
    path = _make(stores, tmp_path, encrypted, how)
    before = path.read_bytes()
    if encrypted or command == "encrypt":  # encrypt needs a key; the plaintext files are opened without one
        monkeypatch.setenv(store.KEY_VAR, KEY)
    else:
        monkeypatch.delenv(store.KEY_VAR, raising=False)
    rc = cli.main(_args(command, path, tmp_path, clients_csv))
    out, err = capsys.readouterr()
    _assert_refused(path, before, rc, out, err, expected)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("how", ["cut to half", "data block", "end"])
@pytest.mark.parametrize("command", ["outcomes", "report", "import"])
def test_the_issues_cases_from_a_real_command_line(stores, tmp_path, clients_csv, command, how):
    """As reported: a traceback (cut to half; a data block, for every command) or a silent answer (`outcomes` on a
    file whose last block is overwritten)."""
    path = _make(stores, tmp_path, False, how)
    before = path.read_bytes()
    env = {k: v for k, v in os.environ.items() if k != store.KEY_VAR}
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", *_args(command, path, tmp_path, clients_csv)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    _assert_refused(path, before, done.returncode, done.stdout, done.stderr, DAMAGED)


APP_CASES = [c for c in CASES if c[2] in ("cut to half", "data block", "end", "foreign", "empty", "text")]


@pytest.mark.parametrize("case, encrypted, how, expected", APP_CASES, ids=[c[0] for c in APP_CASES])
def test_the_app_refuses_the_file(stores, tmp_path, monkeypatch, case, encrypted, how, expected):
    path = _make(stores, tmp_path, encrypted, how)
    before = path.read_bytes()
    monkeypatch.setenv(store.ENV_VAR, str(path))
    if encrypted:
        monkeypatch.setenv(store.KEY_VAR, KEY)
    else:
        monkeypatch.delenv(store.KEY_VAR, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(str(path) in e and expected in e and WHAT_TO_DO[expected] in e for e in errors), errors
    assert not at.metric and not at.get("plotly_chart") and not at.dataframe, "the app answered from the file"
    assert path.read_bytes() == before


def _damage_in_place(path: Path) -> None:
    """Random bytes into every data block of the file as it is (same inode), as a failing disk would."""
    size = path.stat().st_size
    rnd = random.Random(5)
    with open(path, "r+b") as f:
        for at in range(12_288 + 1_000, size, BLOCK):
            f.seek(at)
            f.write(rnd.randbytes(256))


@pytest.fixture
def held_then_damaged(stores, tmp_path, monkeypatch):
    """A store that passed its check when this process opened it, then was damaged on disk while still open, with
    DuckDB's buffer pool emptied (as memory pressure would), so the next query reads damaged blocks."""
    monkeypatch.delenv(store.KEY_VAR, raising=False)
    path = tmp_path / "held.duckdb"
    shutil.copy(stores["plain"], path)
    con = store.connect(path, read_only=True)  # verified whole
    con.execute("set memory_limit = '1MB'")
    con.execute("select 1").fetchall()  # lets the buffer pool go
    con.execute("set memory_limit = '2GB'")
    _damage_in_place(path)
    yield path
    con.close()


def test_a_command_does_not_answer_from_a_file_damaged_after_it_was_opened(held_then_damaged, capsys):
    path = held_then_damaged
    before = path.read_bytes()
    rc = cli.main(["outcomes", "--instrument", "PHQ-9", "--db", str(path)])
    out, err = capsys.readouterr()
    _assert_refused(path, before, rc, out, err, DAMAGED)


def test_the_app_does_not_answer_from_a_file_damaged_after_it_was_opened(held_then_damaged, monkeypatch):
    path = held_then_damaged
    monkeypatch.setenv(store.ENV_VAR, str(path))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    assert any(str(path) in e.value and DAMAGED in e.value for e in at.error), [e.value for e in at.error]
    assert not at.metric and not at.get("plotly_chart") and not at.dataframe


def test_a_store_is_created_only_where_no_file_exists(tmp_path, clients_csv, monkeypatch, capsys):
    monkeypatch.delenv(store.KEY_VAR, raising=False)
    new = tmp_path / "new.duckdb"
    assert cli.main(["import", str(clients_csv), "--db", str(new)]) == 0
    con = store.connect(new, read_only=True)
    try:
        assert con.execute("select count(*) from clients").fetchone()[0] == 1
    finally:
        con.close()
    for existing in (tmp_path / "empty.duckdb", tmp_path / "foreign.duckdb"):
        if existing.name == "empty.duckdb":
            existing.write_bytes(b"")
        else:
            _foreign(existing)
        before = existing.read_bytes()
        with pytest.raises(store.StoreError, match=f"^{existing}: "):
            store.connect(existing)
        assert existing.read_bytes() == before
    capsys.readouterr()


def test_demo_is_never_written_over_a_clinic_store(tmp_path, clients_csv, monkeypatch, capsys):
    monkeypatch.delenv(store.KEY_VAR, raising=False)
    clinic = tmp_path / "clinic.duckdb"
    assert cli.main(["import", str(clients_csv), "--db", str(clinic)]) == 0
    before = clinic.read_bytes()
    capsys.readouterr()
    assert cli.main(["demo", "--clients", "20", "--db", str(clinic)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: {clinic}: a clinic's outcomes database") and "\n" not in err.strip()
    assert clinic.read_bytes() == before
    demo = tmp_path / "demo.duckdb"
    assert cli.main(["demo", "--clients", "20", "--db", str(demo)]) == 0
    assert cli.main(["demo", "--clients", "30", "--db", str(demo)]) == 0  # a demo is rebuilt over a demo


SERVED = [c for c in CASES if c[0] in ("plain data block", "encrypted end", "foreign DuckDB file")]


@pytest.mark.browser
@pytest.mark.parametrize("case, encrypted, how, expected", SERVED, ids=[c[0] for c in SERVED])
def test_the_served_app_refuses_the_file_in_a_real_browser(
    stores, tmp_path, monkeypatch, browser, case, encrypted, how, expected
):
    """`streamlit run` on the file, a page opened in Debian's chromium: the message, no exception, no figure."""
    browser_tests = pytest.importorskip("test_browser")  # skips (fails in CI) without chromium or Playwright
    path = _make(stores, tmp_path, encrypted, how)
    before = path.read_bytes()
    if encrypted:
        monkeypatch.setenv(store.KEY_VAR, KEY)
    else:
        monkeypatch.delenv(store.KEY_VAR, raising=False)
    with browser_tests.serve(path, tmp_path) as server:
        page = browser.new_page()
        try:
            for where in ("/", "/data"):
                page.goto(server.url + where)
                browser_tests.wait_idle(page)
                errors = page.locator(browser_tests.ERROR).all_inner_texts()
                assert any(str(path) in e and expected in e for e in errors), (where, errors)
                assert not browser_tests.exception_texts(page)
                assert not page.locator(f"{browser_tests.METRIC}, {browser_tests.CHART_OR_TABLE}").count()
        finally:
            page.close()
        assert "Traceback" not in server.log_since(0)
    assert path.read_bytes() == before


@pytest.mark.parametrize("command", ["outcomes", "report", "import"])
def test_a_damaged_write_ahead_log_is_refused(stores, tmp_path, clients_csv, monkeypatch, capsys, command):
    """A store left with a write-ahead log (by a program that did not checkpoint) whose log fails its checksum."""
    monkeypatch.delenv(store.KEY_VAR, raising=False)
    live, path = tmp_path / "live.duckdb", tmp_path / "store.duckdb"
    shutil.copy(stores["plain"], live)
    con = store.connect(live)
    try:
        con.execute("set wal_autocheckpoint = '1GB'")
        con.execute("insert into clients (client_id, site) select 'W' || i, 'North' from range(2000) t(i)")
        shutil.copy(live, path)  # the store as it is on disk while the log holds the insert
        wal = Path(f"{path}.wal")
        wal.write_bytes(_overwrite(Path(f"{live}.wal").read_bytes(), (200, 64)))
    finally:
        con.close()
    before, wal_before = path.read_bytes(), wal.read_bytes()
    rc = cli.main(_args(command, path, tmp_path, clients_csv))
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and "\n" not in err.strip(), (rc, out, err)
    assert err.startswith(f"error: {path}: ") and f"its write-ahead log {path}.wal is damaged" in err
    assert "move the .wal file aside" in err
    assert path.read_bytes() == before and wal.read_bytes() == wal_before
