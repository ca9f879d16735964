"""Reliability and access: concurrent readers during imports, one writer at a time, a killed import, damaged
and newer databases, migrations, sign-in, error details and what leaves through downloads."""

from __future__ import annotations

import fcntl
import io
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from dashboard import derive, outcomes, store
from dashboard.demo_data import generate
from dashboard.ingest import ImportBusy, import_file
from dashboard.outcomes import Cohort, Filters

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")


def _counts(con) -> tuple:
    return tuple(
        con.execute("select count(*) from query_table($t)", {"t": t}).fetchone()[0]
        for t in ("clients", "sessions", "scores", "courses", "client_outcomes")
    )


@pytest.fixture
def demo_copy(demo_db, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, path)
    return path


def _more_files(tmp_path: Path, n: int, seed: int) -> list[Path]:
    """Further synthetic clients (new ids) as the three kinds of file."""
    frames = generate(n_clients=n, seed=seed)
    for frame in frames.values():
        frame["client_id"] = f"S{seed}-" + frame["client_id"].astype(str)
    paths = []
    for kind in ("clients", "sessions", "scores"):
        path = tmp_path / f"more_{seed}_{kind}.parquet"
        frames[kind].to_parquet(path, index=False)
        paths.append(path)
    return paths


def test_readers_during_imports_see_old_or_new_data_never_an_error(demo_copy, tmp_path):
    root = store.connect(demo_copy)
    before = _counts(root)
    files = _more_files(tmp_path, 150, seed=11)
    errors, results, stop = [], [], threading.Event()

    def reader():
        cur = root.cursor()
        try:
            while not stop.is_set():
                table = outcomes.outcomes_table(cur, Cohort("PHQ-9", Filters(), "modality"), timepoints=[(28, 7)])
                flow = outcomes.flow_table(cur, Cohort("PHQ-9"))
                results.append((int(flow.n_first_dose.iloc[0]), len(table)))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            cur.close()

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for t in threads:
        t.start()
    writer = root.cursor()
    for path in files:
        report = import_file(writer, path, after_import=derive.rebuild)
        assert report.ok, report.summary()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(60)
    writer.close()
    after = _counts(root)
    root.close()
    assert not errors, errors[:3]
    assert results and all(n > 0 and rows > 0 for n, rows in results)
    # every read saw the demo's 600 first doses or the 750 after the sessions file committed: never in between
    assert {n for n, _ in results} <= {600, 750}
    assert after[0] == before[0] + 150


def test_a_second_import_is_refused_while_one_runs(demo_copy, tmp_path):
    root = store.connect(demo_copy)
    files = _more_files(tmp_path, 20, seed=12)
    entered, release = threading.Event(), threading.Event()

    def slow_rebuild(con):
        entered.set()
        release.wait(30)
        derive.rebuild(con)

    first = threading.Thread(target=lambda: import_file(root.cursor(), files[0], after_import=slow_rebuild))
    first.start()
    assert entered.wait(30)
    with pytest.raises(ImportBusy, match="already running"):
        import_file(root.cursor(), files[1])
    release.set()
    first.join(60)
    assert import_file(root.cursor(), files[1]).ok  # and afterwards it goes through
    # another program holding the lock file is refused the same way
    with open(f"{demo_copy}.import-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(ImportBusy, match="another program"):
            import_file(root.cursor(), files[2])
    root.close()


KILLED = """
import sys, time
from pathlib import Path
from dashboard import derive, store
from dashboard.ingest import import_file

def stall(con):
    derive.rebuild(con)
    Path(sys.argv[3]).write_text("inside the transaction")
    time.sleep(120)

con = store.connect(sys.argv[1])
import_file(con, Path(sys.argv[2]), after_import=stall)
"""


def test_a_killed_import_leaves_all_or_nothing(demo_copy, tmp_path):
    con = store.connect(demo_copy)
    before = _counts(con)
    con.close()
    scores = _more_files(tmp_path, 300, seed=13)[2]
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(demo_copy), str(scores), str(marker)], cwd=ROOT)
    try:
        deadline = time.time() + 120
        while not marker.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), "the import never reached its transaction"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    con = store.connect(demo_copy)
    try:
        assert store.check_integrity(con) == []
        assert _counts(con) == before  # none of the file
        assert con.execute("select count(*) from import_log where file_name like 'more_13%'").fetchone()[0] == 0
    finally:
        con.close()


def test_a_damaged_database_gives_a_clear_message(tmp_path, monkeypatch):
    bad = tmp_path / "damaged.duckdb"
    bad.write_bytes(b"this is not a database" * 500)
    with pytest.raises(store.StoreError, match="cannot be opened as an outcomes database"):
        store.connect(bad)
    done = subprocess.run(
        [sys.executable, "-m", "dashboard", "outcomes", "--db", str(bad), "--instrument", "PHQ-9"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr and "move it aside" in done.stderr
    monkeypatch.setenv(store.ENV_VAR, str(bad))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("cannot be opened" in e.value for e in at.error)


def test_schema_versions(tmp_path):
    path = tmp_path / "old.duckdb"
    con = store.connect(path)
    con.execute("drop table derived_info")
    con.execute("update schema_info set schema_version = 1")
    con.close()
    with pytest.raises(store.StoreError, match="needs migrating"):
        store.connect(path, read_only=True)
    con = store.connect(path)  # migrated on open for writing
    assert con.execute("select schema_version from schema_info").fetchone()[0] == store.SCHEMA_VERSION
    assert con.execute("select count(*) from derived_info").fetchone()[0] == 1
    con.execute("update schema_info set schema_version = $v", {"v": store.SCHEMA_VERSION + 1})
    con.close()
    with pytest.raises(store.StoreError, match="newer version"):
        store.connect(path)


SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "eu1rmHosK_UVcQXjFXs283eX7deOBdFgP5-5gqAzsac",  # made by secrets.token_urlsafe(32)
        "client_id": "id",
        "client_secret": "secret",
        "server_metadata_url": "http://localhost:9/.well-known/openid-configuration",
    },
    "access": {"allow": ["@clinic.org"], "editors": ["lead@clinic.org"]},
}


def _signed(demo_copy, monkeypatch, user: dict | None) -> AppTest:
    monkeypatch.setenv(store.ENV_VAR, str(demo_copy))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in SECRETS.items():
        at.secrets[key] = value
    at.user = user or {"is_logged_in": False}
    return at.run()


def test_sign_in_allow_list_and_editors(demo_copy, monkeypatch):
    at = _signed(demo_copy, monkeypatch, None)
    assert any(b.label == "Sign in" for b in at.button) and not at.metric
    at = _signed(demo_copy, monkeypatch, {"is_logged_in": True, "email": "someone@elsewhere.com"})
    assert any("allow-list" in e.value for e in at.error) and not at.metric
    at = _signed(demo_copy, monkeypatch, {"is_logged_in": True, "email": "therapist@clinic.org"})
    assert at.metric and any("Signed in as therapist@clinic.org" in c.value for c in at.sidebar.caption)
    at.switch_page("dashboard/views/data.py").run()
    assert any("not import" in i.value for i in at.info)
    at = _signed(demo_copy, monkeypatch, {"is_logged_in": True, "email": "lead@clinic.org"})
    at.switch_page("dashboard/views/data.py").run()
    assert not any("not import" in i.value for i in at.info)


def test_without_sign_in_the_app_is_local_only():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "none"  # no data values or SQL in the browser
    assert config["server"]["maxUploadSize"] == 200


@pytest.fixture
def captured_downloads(monkeypatch):
    """Every file a download button hands to the browser, as (file name, bytes)."""
    files = []
    original = MemoryMediaFileStorage.load_and_get_id

    def capture(self, path_or_data, mimetype, kind, filename=None):
        if isinstance(path_or_data, bytes | str):
            files.append((filename, path_or_data if isinstance(path_or_data, bytes) else path_or_data.encode()))
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", capture)
    return files


COUNT_COLUMN = re.compile(r"^(n_.*|numerator|denominator|at_risk)$")


def test_downloads_hold_no_small_cells_dates_or_ids(demo_copy, monkeypatch, captured_downloads):
    con = store.connect(demo_copy)
    ids = {r[0] for r in con.execute("select client_id from clients").fetchall()}
    con.close()
    monkeypatch.setenv(store.ENV_VAR, str(demo_copy))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    for view in ("rapid_onset", "long_term", "compare", "clinicians_sites", "my_cohort"):
        at.switch_page(f"dashboard/views/{view}.py").run()
        assert not at.exception
    csvs = [(name, data) for name, data in captured_downloads if name and name.endswith(".csv")]
    assert len(csvs) >= 10
    for name, data in csvs:
        text = data.decode("utf-8")
        assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b", text), name
        assert not [i for i in ids if i in text], name
        frame = pd.read_csv(io.StringIO(text))
        for col in frame.columns:
            if COUNT_COLUMN.match(col):
                small = pd.to_numeric(frame[col], errors="coerce").between(1, 10)
                assert not small.any(), (name, col, frame.loc[small, col].tolist())


def test_filters_never_change_data(demo_copy):
    con = store.connect(demo_copy)
    before = _counts(con)
    evil = ("'; drop table scores; --",)
    outcomes.outcomes_table(
        con,
        Cohort("PHQ-9", Filters(modalities=evil, sites=evil, conditions=evil, clinicians=evil, cohort_from=evil[0])),
    )
    assert _counts(con) == before
    con.close()
