"""Encryption at rest: with a key the store is created and opened encrypted (no data string in the file or its
WAL); without the key, with a wrong one, or on a damaged file every command and the app stop with a clear message;
`encrypt` converts a plaintext store in place, atomically."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import store, writer

PROJECT = Path(__file__).resolve().parent.parent
KEY = "correct horse battery staple 42"
MARKERS = ("ZQXSITE", "QZVCLIENT", "ZZCONDITIONQQ")  # strings that appear only in the test's data


def run(*args, key: str | None = KEY, cwd=PROJECT, env_extra=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != store.KEY_VAR}
    if key is not None:
        env[store.KEY_VAR] = key
    env |= env_extra or {}
    return subprocess.run(
        [sys.executable, "-m", "dashboard", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def clinic_files(tmp_path) -> list[Path]:
    clients = tmp_path / "clients.csv"
    clients.write_text(
        f"client_id,site,condition\n{MARKERS[1]}1,{MARKERS[0]},{MARKERS[2]}\n{MARKERS[1]}2,{MARKERS[0]},MDD\n"
    )
    sessions = tmp_path / "sessions.csv"
    sessions.write_text(f"client_id,session_at,modality\n{MARKERS[1]}1,2025-01-06T09:00,iv\n")
    scores = tmp_path / "scores.csv"
    scores.write_text(f"client_id,assessed_at,instrument,score\n{MARKERS[1]}1,2025-01-05,PHQ-9,20\n")
    return [clients, sessions, scores]


def assert_no_plaintext(*files: Path) -> None:
    for f in files:
        if f.exists():
            data = f.read_bytes()
            for marker in MARKERS:
                assert marker.encode() not in data, f"{marker} readable in {f.name}"


def test_with_a_key_the_store_is_encrypted_in_the_file_and_its_wal(tmp_path, clinic_files):
    db = tmp_path / "clinic.duckdb"
    done = run("import", *map(str, clinic_files), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert writer.is_encrypted(db)
    assert_no_plaintext(db)
    # uncheckpointed writes sit in the WAL: encrypted too
    con = store.connect(db, key=KEY)
    try:
        con.execute("set wal_autocheckpoint = '1GB'")
        con.execute(f"insert into clients (client_id, site) values ('{MARKERS[1]}9', '{MARKERS[0]}')")
        wal = Path(f"{db}.wal")
        assert wal.exists() and wal.stat().st_size > 0
        assert_no_plaintext(wal)
    finally:
        con.close()
    # and the key reads it all back
    con = store.connect(db, read_only=True, key=KEY)
    try:
        assert con.execute("select count(*) from clients where site = $s", {"s": MARKERS[0]}).fetchone()[0] == 3
    finally:
        con.close()


@pytest.fixture
def encrypted_db(tmp_path, clinic_files) -> Path:
    db = tmp_path / "clinic.duckdb"
    assert run("import", *map(str, clinic_files), "--db", str(db)).returncode == 0
    return db


@pytest.mark.parametrize(
    "key, message",
    [
        (None, "the database is encrypted; set OUTCOMES_DB_KEY"),
        ("a wrong key of some length", "cannot be decrypted with the key given"),
        ("short", "too short"),
    ],
    ids=["no key", "wrong key", "short key"],
)
@pytest.mark.parametrize("command", ["outcomes", "report", "import"])
def test_every_command_stops_with_a_clear_message_without_the_right_key(
    encrypted_db, clinic_files, tmp_path, key, message, command
):
    before = encrypted_db.read_bytes()
    args = {
        "outcomes": ["outcomes", "--instrument", "PHQ-9"],
        "report": ["report", "--out", str(tmp_path / "r.html")],
        "import": ["import", str(clinic_files[0])],
    }[command]
    done = run(*args, "--db", str(encrypted_db), key=key)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr
    assert encrypted_db.read_bytes() == before
    assert not list(tmp_path.glob(".clinic.duckdb.next-*"))


def test_a_damaged_encrypted_file_is_a_clear_message(encrypted_db):
    data = bytearray(encrypted_db.read_bytes())
    for i in range(4096 * 3, len(data), 4096):  # a byte in every block after the headers
        data[i + 100] ^= 0xFF
    encrypted_db.write_bytes(bytes(data))
    done = run("outcomes", "--instrument", "PHQ-9", "--db", str(encrypted_db))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "the key is wrong or the file is damaged" in done.stderr or "cannot be opened" in done.stderr


def test_a_key_for_a_plaintext_store_says_how_to_encrypt_it(tmp_path, clinic_files):
    db = tmp_path / "plain.duckdb"
    assert run("import", str(clinic_files[0]), "--db", str(db), key=None).returncode == 0
    done = run("outcomes", "--instrument", "PHQ-9", "--db", str(db))
    assert done.returncode == 2
    assert "is not encrypted; encrypt it with `python -m dashboard encrypt" in done.stderr


def test_the_key_can_come_from_streamlit_secrets(tmp_path, clinic_files):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(f'[store]\nkey = "{KEY}"\n')
    db = tmp_path / "clinic.duckdb"
    env = {"PYTHONPATH": str(PROJECT), "HOME": str(tmp_path / "home")}
    done = run("import", str(clinic_files[0]), "--db", str(db), key=None, cwd=tmp_path, env_extra=env)
    assert done.returncode == 0, done.stderr
    assert writer.is_encrypted(db)
    assert_no_plaintext(db)


def test_encrypt_converts_in_place_and_every_figure_is_unchanged(tmp_path, demo_db):
    db = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, db)
    plain = run("outcomes", "--instrument", "PHQ-9", "--by", "site", "--db", str(db), key=None)
    assert plain.returncode == 0, plain.stderr
    done = run("encrypt", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "now encrypted" in done.stdout
    assert writer.is_encrypted(db)
    assert b"IV infusion" not in db.read_bytes()
    after = run("outcomes", "--instrument", "PHQ-9", "--by", "site", "--db", str(db))
    assert after.returncode == 0, after.stderr
    assert after.stdout == plain.stdout
    again = run("encrypt", "--db", str(db))
    assert again.returncode == 0 and "already encrypted" in again.stdout


def test_encrypt_without_a_key_is_refused(tmp_path, demo_db):
    db = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, db)
    done = run("encrypt", "--db", str(db), key=None)
    assert done.returncode == 2 and "no key" in done.stderr and "Traceback" not in done.stderr


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from dashboard import writer
    writer.replace = lambda new, path: os.kill(os.getpid(), signal.SIGKILL)  # killed just before the swap
    writer.encrypt(Path(sys.argv[1]), sys.argv[2])
    """
)


def test_a_killed_conversion_leaves_the_original_intact(tmp_path, demo_db):
    db = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, db)
    before = db.read_bytes()
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(db), KEY], cwd=PROJECT, capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -9
    assert db.read_bytes() == before and not writer.is_encrypted(db)
    assert list(tmp_path.glob(".demo.duckdb.next-*")), "the killed conversion's copy is left behind"
    done = run("encrypt", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.glob(".demo.duckdb.next-*")), "the next writer removes it"


@pytest.mark.parametrize("key, message", [(None, "encrypted; set OUTCOMES_DB_KEY"), ("w" * 20, "decrypted")])
def test_the_app_says_why_it_cannot_open_an_encrypted_store(encrypted_db, monkeypatch, key, message):
    monkeypatch.setenv(store.ENV_VAR, str(encrypted_db))
    if key is None:
        monkeypatch.delenv(store.KEY_VAR, raising=False)
    else:
        monkeypatch.setenv(store.KEY_VAR, key)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(PROJECT / "streamlit_app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_the_app_reads_an_encrypted_store_with_its_key(encrypted_db, monkeypatch):
    monkeypatch.setenv(store.ENV_VAR, str(encrypted_db))
    monkeypatch.setenv(store.KEY_VAR, KEY)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(PROJECT / "streamlit_app.py"), default_timeout=120)
    at.switch_page("dashboard/views/data.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Clients"] == "2"
    st.cache_resource.clear()
