"""A first import that works (issue 16, part 5), under the real Streamlit runtime: a practice with few clients is
told why its figures are hidden (k, how many clients it has, what it can see, how to see more inside the clinic);
the suicidal-ideation note gives its true reason; a session can switch between its clinic's database and the demo,
and an import made while looking at the demo goes into the clinic's database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import cli, store

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def practice(folder: Path, n: int, items: bool) -> list[Path]:
    sessions = ["client_id,session_at,session_type,modality,dose_mg"]
    scores = [
        "client_id,assessed_at,instrument,score" + ("," + ",".join(f"item{i}" for i in range(1, 10)) if items else "")
    ]
    for c in range(n):
        for d in range(4):
            sessions.append(f"P{c},2025-03-{3 + 3 * d:02d}T09:00,dosing,IV,35")
        answers = [2, 2, 2, 2, 2, 2, 2, 2, 1 if c % 2 else 0]
        base = sum(answers)
        cells = "," + ",".join(map(str, answers)) if items else ""
        scores.append(f"P{c},2025-03-01,PHQ-9,{base}{cells}")
        scores.append(f"P{c},2025-03-31,PHQ-9,{base // 3}" + ("," * 9 if items else ""))
        scores.append(f"P{c},2025-03-01,GAD-7,14" + ("," * 9 if items else ""))
    (folder / "sessions.csv").write_text("\n".join(sessions) + "\n")
    (folder / "scores.csv").write_text("\n".join(scores) + "\n")
    return [folder / "sessions.csv", folder / "scores.csv"]


@pytest.fixture
def small(tmp_path, monkeypatch, demo_db, capsys):
    """A practice of 6 clients with PHQ-9 items, as the app's database; the demo built for this run as the demo."""
    db = tmp_path / "clinic.duckdb"
    assert cli.main(["import", *map(str, practice(tmp_path, 6, items=True)), "--db", str(db)]) == 0
    capsys.readouterr()
    demo = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_db, demo)
    monkeypatch.setattr(store, "DEMO_DB", demo)
    monkeypatch.setenv(store.ENV_VAR, str(db))
    return db


def run(page: str | None = None, instrument: str | None = None) -> AppTest:
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=180)
    if instrument:
        at.query_params["instrument"] = instrument
    at.run()
    if page:
        at.switch_page(f"dashboard/views/{page}.py").run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return " ".join(x.value for x in [*at.info, *at.warning, *at.error]).replace("\\", "").replace("\u2060", "")


def test_a_small_practice_is_told_why_its_figures_are_hidden(small):
    shown = texts(run())
    assert "Why figures are hidden" in shown
    assert "A count under k = 11 is never shown" in shown and "This database has 6 clients in all" in shown
    assert "Exact counts" in shown and "min_cell = 5" in shown and "OUTCOMES_SETTINGS" in shown
    # the safety note's true reason: PHQ-9 has item 9, and fewer than k clients have item answers
    assert "Fewer than 11 clients in this cohort have PHQ-9 item answers" in shown
    assert "has no safety item" not in shown


def test_the_safety_note_says_the_true_reason(tmp_path, monkeypatch, capsys):
    db = tmp_path / "noitems.duckdb"
    assert cli.main(["import", *map(str, practice(tmp_path, 30, items=False)), "--db", str(db)]) == 0
    capsys.readouterr()
    monkeypatch.setenv(store.ENV_VAR, str(db))
    shown = texts(run())
    assert "No PHQ-9 score in this cohort has its item answers" in shown
    assert "Why figures are hidden" not in shown  # 30 clients: the figures show
    assert "GAD-7 has no safety item" in texts(run(instrument="GAD-7"))


def test_a_session_switches_to_the_demo_and_back_and_imports_go_to_the_clinic(small, tmp_path):
    at = run("data")
    clients = {m.label: m.value for m in at.metric}["Clients"]
    assert clients == "6"
    at.toggle(key="demo_switch").set_value(True).run()
    assert {m.label: m.value for m in at.metric}["Clients"] == "600"
    assert "Demo data" in texts(at) and "Switch *Show the demo data* off" in texts(at)
    assert "go into your own database" in texts(at)
    extra = "client_id,site\nNEW1,North\n"
    at.file_uploader[0].set_value(("more_clients.csv", extra.encode(), "text/csv")).run()
    [button] = [b for b in at.button if b.label == "Import"]
    button.click().run()
    assert not at.exception
    # the clinic's database got the file, and the page shows the clinic again
    assert {m.label: m.value for m in at.metric}["Clients"] == "7"
    assert at.toggle(key="demo_switch").value is False
