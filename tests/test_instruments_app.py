"""A clinic's own instruments on the Data page (issue 16, part 4), under the real Streamlit runtime: defined from
the form or uploaded as TOML, checked by the registry's own rules (the same messages as the TOML), stored so that
the shipped example's scores then import from the same page."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import instrument_form, instruments

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
EXAMPLES = ROOT / "data" / "examples"
BANDS = "Severity bands (max:label; …)"


def field(at: AppTest, label: str):
    [found] = [t for t in at.text_input if t.label == label]
    return found


def stored(db: Path) -> dict[str, instruments.Instrument]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            r[0]: r for r in con.execute("select name, max_score, remission_max, loinc from instruments").fetchall()
        }
    finally:
        con.close()


def submit(at: AppTest, values: dict[str, str]) -> AppTest:
    for label, value in values.items():
        field(at, label).input(value)
    [button] = [b for b in at.button if b.label == "Save the instrument"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_an_instrument_defined_in_the_form_lets_its_scores_import(clinic_db, data_page):
    at = data_page()
    assert any("PHQ-9" in d.value.to_string() for d in at.dataframe)
    values = {
        "Name": "CES-D",
        "Lowest score": "0",
        "Highest score": "60",
        "Remitted at or under": "15",
        "Reliable change (points)": "8",
        "LOINC code of the total": "89205-9",
        "Also called (comma-separated)": "cesd, ces_d",
        "Severity bands (max:label; …)": "15:below threshold; 60:depressive symptoms",
    }
    at = submit(at, values)
    assert any("Saved: CES-D" in s.value for s in at.success), [e.value for e in at.error]
    assert stored(clinic_db)["CES-D"] == ("CES-D", 60.0, 15.0, "89205-9")
    assert any("CES-D" in d.value.to_string() for d in at.dataframe)
    at.file_uploader[0].set_value(("scores_custom.csv", (EXAMPLES / "scores_custom.csv").read_bytes(), "text/csv"))
    at.run()
    [button] = [b for b in at.button if b.label == "Import"]
    button.click().run()
    assert any("0 rejected" in s.value for s in at.success), [x.value for x in [*at.error, *at.warning]]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"Name": "X", "Lowest score": "10", "Highest score": "5"}, "min (10) must be below max (5)"),
        ({"Name": "X", "Lowest score": "0"}, "'max' is required"),
        ({"Name": "X", "Lowest score": "0", "Highest score": "ten"}, "max must be a number"),
        ({"Name": "X", "Lowest score": "0", "Highest score": "9", "Remitted at or under": "12"}, "remission_max"),
        ({"Name": "X", "Lowest score": "0", "Highest score": "9", "LOINC code of the total": "abc"}, "LOINC code"),
        ({"Name": "PHQ-9", "Lowest score": "0", "Highest score": "9"}, "is built in and cannot be redefined"),
        ({"Name": "X", "Lowest score": "0", "Highest score": "9", "Also called (comma-separated)": "phq9"}, "already"),
        (
            {"Name": "X", "Lowest score": "0", "Highest score": "9", "Severity bands (max:label; …)": "5 mild"},
            "max:label",
        ),
    ],
)
def test_a_bad_definition_is_refused_with_the_registrys_message(clinic_db, data_page, values, message):
    at = submit(data_page(), values)
    errors = " ".join(e.value for e in at.error)
    assert message in errors.replace("\\", "").replace("\u2060", ""), errors
    assert "X" not in stored(clinic_db)


def test_the_shipped_example_file_uploads(clinic_db, data_page):
    at = data_page()
    at.file_uploader(key="instrument_file").set_value(
        ("instruments.toml", (EXAMPLES / "instruments.toml").read_bytes(), "application/toml")
    ).run()
    [button] = [b for b in at.button if b.label == "Add the file's instruments"]
    button.click().run()
    assert any("Saved: CES-D" in s.value for s in at.success), [e.value for e in at.error]
    assert "CES-D" in stored(clinic_db)


def test_the_form_reads_what_the_toml_reads():
    made = instrument_form.from_form(
        {"name": "Q", "min": "0", "max": "27", "items": "9", "item_min": "0", "item_max": "3", "safety_item": "9"}
    )
    assert (made.n_items, made.item_max, made.safety_item, made.is_builtin) == (9, 3.0, 9, False)
