"""Tests for dashboard.ingest: reading, column mapping, row validation, identifiers, duplicates, atomicity.

Every expected count, reason and stored value below was worked out by hand from the small file in the test.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dashboard import store
from dashboard.ingest import import_file, import_files
from dashboard.instruments import InstrumentError

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "examples"
DATA_TABLES = ("clients", "sessions", "scores")
STATUSES = {"imported", "unchanged", "partly imported", "refused", "unreadable"}
ITEMS_9 = ",".join(f"item_{i}" for i in range(1, 10))
SCORES_HEADER = "client_id,assessed_at,instrument,score"
DATE_HINT = "unparseable date; use ISO 8601, e.g. 2024-03-01 or 2024-03-01T14:30"


def lines(*rows: str) -> str:
    """CSV text: one argument per line, each ending in a newline."""
    return "".join(f"{r}\n" for r in rows)


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def count(con, table: str) -> int:
    return con.execute("select count(*) from query_table($t)", {"t": table}).fetchone()[0]


def snapshot(con) -> dict[str, list[tuple]]:
    """Every stored row of the data tables, the import record and the instrument registry."""
    tables = (*DATA_TABLES, "import_log", "import_rejects", "instruments")
    return {t: sorted(rows(con, f"select * from {t}"), key=repr) for t in tables}


def rejects(report) -> list[tuple]:
    """The report's rejected rows as (line, column, reason, value) with pandas' missing values as None."""
    frame = report.rejects.astype(object).where(report.rejects.notna(), None)
    return [tuple(r) for r in frame[["line", "column", "reason", "value"]].itertuples(index=False)]


def counts(report) -> tuple:
    """(records_read, imported, rejected, unchanged_duplicates), after checking that they add up."""
    assert report.records_read == report.imported + report.rejected + report.unchanged_duplicates
    return report.records_read, report.imported, report.rejected, report.unchanged_duplicates


# --- reading: CSV, Excel, Parquet ---------------------------------------------------------------------


def test_csv_clients_stored_with_exact_values(con, write_file):
    path = write_file(
        "clients.csv",
        lines(
            "client_id,site,condition,age_band,sex,prior_treatments",
            "C1,North,treatment-resistant depression,35-44,F,3",
            "C2,South,PTSD,25-34,M,",
        ),
    )
    report = import_file(con, path)
    assert (report.status, report.kind) == ("imported", "clients")
    assert counts(report) == (2, 2, 0, 0)
    assert rows(
        con, "select client_id, site, condition, age_band, sex, prior_treatments from clients order by client_id"
    ) == [
        ("C1", "North", "treatment-resistant depression", "35-44", "F", 3),
        ("C2", "South", "PTSD", "25-34", "M", None),
    ]


def test_csv_with_bom_semicolons_and_header_variants(con, write_file):
    # The byte-order mark must not become part of the first column name (else client_id would be missing).
    path = write_file(
        "clients.csv",
        lines(
            "\ufeffPatient ID;SITE;Condition;Age-Band;Gender;Prior_Treatments",
            "C1;North;PTSD;25-34;M;0",
            "C2;Central;anxiety;45-54;F;2",
        ),
    )
    report = import_file(con, path)
    assert (report.status, report.kind, report.ignored_columns) == ("imported", "clients", [])
    assert counts(report) == (2, 2, 0, 0)
    assert rows(con, "select * exclude (import_id) from clients order by client_id") == [
        ("C1", "North", "PTSD", "25-34", "M", 0),
        ("C2", "Central", "anxiety", "45-54", "F", 2),
    ]


def test_xlsx_wide_scores_melted_with_spreadsheet_row_numbers(con, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Client ID", "Assessment Date", "PHQ-9", "GAD 7"])  # row 1
    sheet.append(["X1", datetime(2025, 2, 1, 9, 30), 14, 9])  # row 2: two records
    sheet.append(["X1", date(2025, 2, 8), 12, None])  # row 3: one record
    sheet.append([None, None, None, None])  # row 4: empty, not a row
    sheet.append(["X2", "2025-02-09", 10.0, "7"])  # row 5: two records
    sheet.append(["X3", "2025-02-10", 30, None])  # row 6: one record, PHQ-9 above 27
    path = tmp_path / "scores.xlsx"
    book.save(path)

    report = import_file(con, path)
    assert (report.kind, report.status, report.rows_read) == ("scores_wide", "partly imported", 4)
    assert counts(report) == (6, 5, 1, 0)
    ((line, _column, reason, value),) = rejects(report)
    assert (line, reason, value) == (6, "score 30 outside the PHQ-9 range 0–27", "30")
    assert rows(
        con, "select client_id, assessed_at, instrument, score from scores order by client_id, assessed_at, instrument"
    ) == [
        ("X1", datetime(2025, 2, 1, 9, 30), "GAD-7", 9.0),
        ("X1", datetime(2025, 2, 1, 9, 30), "PHQ-9", 14.0),
        ("X1", datetime(2025, 2, 8), "PHQ-9", 12.0),
        ("X2", datetime(2025, 2, 9), "GAD-7", 7.0),
        ("X2", datetime(2025, 2, 9), "PHQ-9", 10.0),
    ]


def test_parquet_sessions_with_typed_columns(con, tmp_path):
    frame = pd.DataFrame(
        {
            "client_id": ["P1", "P1", "P2"],
            "session_at": pd.to_datetime(["2025-04-01 10:00", "2025-04-08 10:00", "2025-04-02 09:00"]),
            "session_type": ["dosing", "integration", "dosing"],
            "modality": ["IV", None, "spravato"],
            "dose_mg": [35.0, None, 56.0],
        }
    )
    path = tmp_path / "sessions.parquet"
    frame.to_parquet(path, index=False)
    report = import_file(con, path)
    assert (report.kind, report.status) == ("sessions", "imported")
    assert counts(report) == (3, 3, 0, 0)
    assert rows(
        con,
        "select client_id, session_at, session_type, modality, modality_label, dose_mg "
        "from sessions order by client_id, session_at",
    ) == [
        ("P1", datetime(2025, 4, 1, 10), "dosing", "IV infusion", "IV", 35.0),
        ("P1", datetime(2025, 4, 8, 10), "integration", None, None, None),
        ("P2", datetime(2025, 4, 2, 9), "dosing", "Intranasal esketamine", "spravato", 56.0),
    ]


def test_parquet_timestamps_with_a_time_zone_are_converted_to_utc(con, tmp_path):
    frame = pd.DataFrame(
        {
            "client_id": ["P1"],
            "session_at": pd.to_datetime(["2025-04-01 10:00"]).tz_localize("Europe/Berlin"),  # +02:00 (summer)
            "modality": ["iv"],
        }
    )
    path = tmp_path / "sessions.parquet"
    frame.to_parquet(path, index=False)
    import_file(con, path)
    assert rows(con, "select session_at from sessions") == [(datetime(2025, 4, 1, 8, 0),)]


# --- columns and kinds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "client, when, instrument, score",
    [
        ("patient_id", "date", "measure", "total"),
        ("Subject ID", "DateTime", "Scale", "Total Score"),
        ("RECORD-ID", "timestamp", "Questionnaire", "value"),
        ("Client__Id", "Assessed At", "INSTRUMENT", "Score"),
    ],
)
def test_column_aliases_match_ignoring_case_spaces_dashes_underscores(con, write_file, client, when, instrument, score):
    path = write_file("scores.csv", lines(f"{client},{when},{instrument},{score}", "A1,2025-03-01,PHQ-9,12"))
    report = import_file(con, path)
    assert (report.kind, report.status, report.ignored_columns) == ("scores", "imported", [])
    assert rows(con, "select client_id, assessed_at, instrument, score from scores") == [
        ("A1", datetime(2025, 3, 1), "PHQ-9", 12.0)
    ]


def test_instrument_labels_resolve_to_canonical_names(con, write_file):
    path = write_file(
        "scores.csv",
        lines(
            SCORES_HEADER,
            "A1,2025-03-01,phq9,10",
            "A1,2025-03-02,Phq 9,11",
            "A1,2025-03-03,gad7,5",
            "A1,2025-03-04,qids-sr,6",
            "A1,2025-03-05,BDI_II,20",
        ),
    )
    report = import_file(con, path)
    assert counts(report) == (5, 5, 0, 0)
    assert rows(con, "select instrument, score from scores order by assessed_at") == [
        ("PHQ-9", 10.0),
        ("PHQ-9", 11.0),
        ("GAD-7", 5.0),
        ("QIDS-SR16", 6.0),
        ("BDI-II", 20.0),
    ]


@pytest.mark.parametrize(
    "header, row, kind",
    [
        ("client_id,site", "C1,North", "clients"),
        ("client_id,session_at,modality", "C1,2025-03-01T09:00,iv", "sessions"),
        ("client_id,date,session_type", "C1,2025-03-01T09:00,integration", "sessions"),
        ("client_id,assessed_at,instrument,score", "C1,2025-03-01,PHQ-9,9", "scores"),
        ("client_id,date,measure,q1,q2,q3,q4,q5,q6,q7", "C1,2025-03-01,GAD-7,1,1,1,1,1,1,1", "scores"),
        ("record_id,date,phq9,gad7", "C1,2025-03-01,9,7", "scores_wide"),
    ],
)
def test_kind_is_detected_from_the_columns(con, write_file, header, row, kind):
    report = import_file(con, write_file("file.csv", lines(header, row)))
    assert (report.kind, report.status) == (kind, "imported")
    assert report.rejected == 0


@pytest.mark.parametrize("header", ["client_id,date", "foo,bar"])
def test_a_file_whose_kind_cannot_be_told_is_refused(con, write_file, header):
    report = import_file(con, write_file("what.csv", lines(header, "1,2")))
    assert report.status == "refused"
    known = 2 if header == "client_id,date" else 0  # the column names are not quoted: they may be a first row
    assert report.message.startswith(
        f"what.csv: cannot tell what kind of file this is from its 2 column name(s) ({known} of them known to the "
        "contract); if the file has no header line, add one."
    )
    assert counts(report) == (1, 0, 1, 0)
    assert [count(con, t) for t in DATA_TABLES] == [0, 0, 0]


def test_kind_argument_overrides_detection(con, write_file):
    path = write_file("clients.csv", lines("client_id,site,modality", "P1,North,iv"))
    detected = import_file(con, path)  # the modality column makes it look like a sessions file
    assert detected.status == "refused"
    assert "a sessions file needs the column(s) session_at" in detected.message
    forced = import_file(con, path, kind="clients")
    assert (forced.kind, forced.status, forced.ignored_columns) == ("clients", "imported", ["modality"])
    assert rows(con, "select client_id, site from clients") == [("P1", "North")]


def test_two_columns_meaning_the_same_field_refuse_the_file(con, write_file):
    report = import_file(con, write_file("c.csv", lines("client_id,patient_id,site", "C1,C1,North")))
    assert report.status == "refused"
    assert report.message == "c.csv: column 'client_id' and column 'patient_id' both mean client_id; keep one of them"
    assert count(con, "clients") == 0


# --- sessions -------------------------------------------------------------------------------------------


def test_modality_aliases_are_normalised_and_the_label_kept(con, write_file):
    path = write_file(
        "sessions.csv",
        lines(
            "client_id,session_at,session_type,modality,dose_mg",
            "S1,2025-03-01T09:00,dosing,iv,35",
            "S1,2025-03-02T09:00,dosing,IM,50",
            "S1,2025-03-03T09:00,dosing,Troche,200",
            "S1,2025-03-04T09:00,dosing,Spravato,56",
            "S1,2025-03-05T09:00,dosing,Sub-Q,40",
            "S1,2025-03-06T09:00,dosing,Intra-nasal,84",
            "S1,2025-03-07T09:00,dosing,Ketamine lollipop,100",
        ),
    )
    report = import_file(con, path)
    assert counts(report) == (7, 7, 0, 0)
    assert rows(con, "select modality, modality_label from sessions order by session_at") == [
        ("IV infusion", "iv"),
        ("IM injection", "IM"),
        ("Sublingual / troche", "Troche"),
        ("Intranasal esketamine", "Spravato"),
        ("Subcutaneous", "Sub-Q"),
        ("Intranasal esketamine", "Intra-nasal"),
        ("Ketamine lollipop", "Ketamine lollipop"),  # unknown labels are kept as given
    ]


def test_session_type_defaults_to_dosing_and_dosing_needs_a_modality(con, write_file):
    path = write_file(
        "sessions.csv",
        lines(
            "client_id,session_at,session_type,modality,dose_mg",
            "T1,2025-03-01T09:00,,iv,35",  # line 2: blank type -> dosing
            "T1,2025-03-02T09:00,Integration,,",  # line 3
            "T1,2025-03-03T09:00,dosing,,35",  # line 4: dosing without modality
            "T1,2025-03-04T09:00,massage,,",  # line 5
            "T1,2025-03-05T09:00,dosing,iv,-5",  # line 6
            "T1,2025-03-06T09:00,prep,,",  # line 7: alias of preparation
        ),
    )
    report = import_file(con, path)
    assert (report.status, counts(report)) == ("partly imported", (6, 3, 3, 0))
    assert rejects(report) == [
        (4, "modality", "dosing session without a modality", None),
        (5, "session_type", "unknown session_type; use one of dosing, integration, preparation, assessment", "•••••••"),
        (6, "dose_mg", "dose_mg must be a number of milligrams (0 or more)", "-5"),
    ]
    assert rows(con, "select session_type, modality, dose_mg from sessions order by session_at") == [
        ("dosing", "IV infusion", 35.0),
        ("integration", None, None),
        ("preparation", None, None),
    ]


def test_reject_column_is_never_sql_text_when_the_modality_column_is_absent(con, write_file):
    path = write_file("sessions.csv", lines("client_id,session_at,dose_mg", "T1,2025-03-01T09:00,35"))
    report = import_file(con, path)
    assert report.rejected == 1
    assert rejects(report)[0][1] in (None, "modality")


def test_session_times_with_an_offset_are_stored_in_utc(con, write_file):
    path = write_file(
        "sessions.csv",
        lines(
            "client_id,session_at,modality",
            "U1,2025-04-01T10:00+02:00,iv",
            "U1,2025-04-02T10:00Z,iv",
            "U1,2025-04-03T10:00-05:00,iv",
            "U1,2025-04-04,iv",
            "U1,2025-04-05 14:30:00,iv",
        ),
    )
    assert counts(import_file(con, path)) == (5, 5, 0, 0)
    assert [r[0] for r in rows(con, "select session_at from sessions order by session_at")] == [
        datetime(2025, 4, 1, 8, 0),
        datetime(2025, 4, 2, 10, 0),
        datetime(2025, 4, 3, 15, 0),
        datetime(2025, 4, 4, 0, 0),
        datetime(2025, 4, 5, 14, 30),
    ]


# --- scores: totals, items, ranges --------------------------------------------------------------------


def test_total_is_computed_from_items_and_checked_against_a_given_score(con, write_file):
    path = write_file(
        "scores.csv",
        lines(
            f"{SCORES_HEADER},{ITEMS_9}",
            "I1,2025-01-10,PHQ-9,,3,2,2,1,1,1,0,0,1",  # no score: 3+2+2+1+1+1+0+0+1 = 11
            "I1,2025-01-10,GAD-7,5,1,1,1,1,1,0,0,,",  # 7 items summing to the given 5
            "I1,2025-01-10,PCL-5,40,,,,,,,,,",  # total only
        ),
    )
    report = import_file(con, path)
    assert counts(report) == (3, 3, 0, 0)
    assert rows(con, "select instrument, score, items from scores order by instrument") == [
        ("GAD-7", 5.0, [1, 1, 1, 1, 1, 0, 0]),
        ("PCL-5", 40.0, None),
        ("PHQ-9", 11.0, [3, 2, 2, 1, 1, 1, 0, 0, 1]),
    ]


def test_item_level_rejections(con, write_file):
    path = write_file(
        "scores.csv",
        lines(
            f"{SCORES_HEADER},{ITEMS_9}",
            "I2,2025-01-11,PHQ-9,,3,3,3,3,3,3,3,3,",  # line 2: item 9 missing
            "I2,2025-01-12,PHQ-9,,4,0,0,0,0,0,0,0,0",  # line 3: item above 3
            "I2,2025-01-13,PHQ-9,,x,0,0,0,0,0,0,0,0",  # line 4
            "I2,2025-01-14,PHQ-9,10,1,1,1,1,1,1,1,1,1",  # line 5: nine 1s sum to 9
            "I2,2025-01-15,GAD-7,,1,1,1,1,1,1,1,1,",  # line 6: an eighth item for a 7-item scale
            "I2,2025-01-16,QIDS,,1,1,1,1,1,1,1,1,1",  # line 7: QIDS-SR16 has no item definition
            "I2,2025-01-17,PHQ-9,,1.5,0,0,0,0,0,0,0,0",  # line 8
        ),
    )
    report = import_file(con, path)
    assert (report.status, counts(report)) == ("refused", (7, 0, 7, 0))
    assert rejects(report) == [
        (2, "item_9", "PHQ-9 needs 9 items (item_1 to item_9); item_9 is empty", None),
        (3, "item_1", "item_1 must be a whole number from 0 to 3", "4"),
        (4, "item_1", "item_1 is not a number", "•"),  # text in a number column: its shape only
        (5, "score", "score 10 disagrees with the sum of its items (9)", "10"),
        (6, "item_8", "GAD-7 has 7 items; item_8 should be empty", "1"),
        (7, None, "QIDS-SR16 has no item definition, so item columns cannot be used", None),
        (8, "item_1", "item_1 must be a whole number from 0 to 3", "1.5"),
    ]
    assert count(con, "scores") == 0


def test_a_file_missing_an_item_column_is_rejected_for_the_wrong_number_of_items(con, write_file):
    path = write_file(
        "scores.csv",
        lines(
            "client_id,assessed_at,instrument," + ",".join(f"item_{i}" for i in range(1, 9)),
            "I3,2025-01-10,PHQ-9,1,1,1,1,1,1,1,1",
        ),
    )
    report = import_file(con, path)
    assert counts(report) == (1, 0, 1, 0)
    assert "9 items" in rejects(report)[0][2]


@pytest.mark.parametrize(
    "value, reason",
    [
        ("40000", "item_1 must be a whole number from 0 to 3"),
        ("nan", "item_1 is not a number"),
        ("inf", "item_1 is not a number"),
    ],
)
def test_an_extreme_item_value_is_rejected_not_a_crash(con, write_file, value, reason):
    path = write_file(
        "scores.csv", lines(f"{SCORES_HEADER},{ITEMS_9}", f"I4,2025-01-10,PHQ-9,,{value},0,0,0,0,0,0,0,0")
    )
    report = import_file(con, path)
    assert rejects(report) == [(2, "item_1", reason, value)]


@pytest.mark.parametrize(
    "row, column, reason, value",
    [
        ("R1,2025-02-01,PHQ-9,28", "score", "score 28 outside the PHQ-9 range 0–27", "28"),
        ("R1,2025-02-01,PHQ-9,-1", "score", "score -1 outside the PHQ-9 range 0–27", "-1"),
        ("R1,2025-02-01,PCL-5,81", "score", "score 81 outside the PCL-5 range 0–80", "81"),
        ("R1,2025-02-01,PHQ-9,abc", "score", "score is not a number", "•••"),  # text in a number's field: shape only
        ("R1,2025-02-01,PHQ-9,nan", "score", "score is not a number", "nan"),
        ("R1,2025-02-01,PHQ-9,", "score", "missing score", None),
        ("R1,2025-02-01,,5", "instrument", "missing instrument", None),
        (",2025-02-01,PHQ-9,5", "client_id", "missing client_id", None),
        ("R1,,PHQ-9,5", "assessed_at", "missing assessed_at", None),
        ("R1,2025-02-30,PHQ-9,5", "assessed_at", DATE_HINT, "2025-••-••"),
        ("R1,01/03/2025,PHQ-9,5", "assessed_at", DATE_HINT, "••/••/2025"),
        ("R1,1969-12-31,PHQ-9,5", "assessed_at", "date before 1970", "1969-••-••"),
    ],
)
def test_row_rejections_name_line_column_reason_and_masked_value(con, write_file, row, column, reason, value):
    report = import_file(con, write_file("scores.csv", lines(SCORES_HEADER, "R0,2025-01-01,PHQ-9,3", row)))
    assert (report.status, counts(report)) == ("partly imported", (2, 1, 1, 0))
    assert rejects(report) == [(3, column, reason, value)]


def test_score_range_limits_are_inclusive(con, write_file):
    path = write_file(
        "scores.csv", lines(SCORES_HEADER, "R2,2025-02-01,PHQ-9,0", "R2,2025-02-01,GAD-7,21", "R2,2025-02-01,MADRS,60")
    )
    assert counts(import_file(con, path)) == (3, 3, 0, 0)


def test_future_dates_are_rejected_today_is_not(con, write_file):
    today = datetime.now(UTC).date()
    later = today + timedelta(days=3)
    path = write_file(
        "scores.csv", lines(SCORES_HEADER, f"F1,{today.isoformat()},PHQ-9,5", f"F1,{later.isoformat()},PHQ-9,6")
    )
    report = import_file(con, path)
    assert counts(report) == (2, 1, 1, 0)
    assert rejects(report) == [(3, "assessed_at", "date is in the future", f"{later.year}-••-••")]


def test_the_word_epoch_is_not_a_date(con, write_file):
    report = import_file(con, write_file("scores.csv", lines(SCORES_HEADER, "E1,epoch,PHQ-9,5")))
    assert counts(report) == (1, 0, 1, 0)


def test_unknown_instrument_lists_the_known_ones_and_how_to_define_one(con, write_file):
    report = import_file(con, write_file("scores.csv", lines(SCORES_HEADER, "U1,2025-05-10,CES-D,31")))
    ((line, column, reason, value),) = rejects(report)
    assert (line, column, value) == (2, "instrument", "•••-•")  # its shape only
    assert reason.startswith("unknown instrument; known: ")
    for name in ("BDI-II", "GAD-7", "MADRS", "PCL-5", "PHQ-9", "QIDS-SR16"):
        assert name in reason
    assert "TOML file" in reason and "--instruments FILE" in reason


def test_wide_file_counts_score_values_and_an_empty_row_as_one_rejected_record(con, write_file):
    path = write_file(
        "wide.csv",
        lines(
            "record_id,date,phq9,gad7",
            "W1,2025-05-10,16,12",  # two score values
            "W1,2025-05-19,11,",  # one
            "W1,2025-06-09,,",  # none: one rejected record
        ),
    )
    report = import_file(con, path)
    assert (report.kind, report.status, report.rows_read) == ("scores_wide", "partly imported", 3)
    assert counts(report) == (4, 3, 1, 0)
    assert [r[0] for r in rejects(report)] == [4]
    assert "4 score values read: 3 imported, 1 rejected, 0 unchanged duplicates (from 3 rows)" in report.summary()
    assert rows(
        con, "select client_id, assessed_at, instrument, score from scores order by assessed_at, instrument"
    ) == [
        ("W1", datetime(2025, 5, 10), "GAD-7", 12.0),
        ("W1", datetime(2025, 5, 10), "PHQ-9", 16.0),
        ("W1", datetime(2025, 5, 19), "PHQ-9", 11.0),
    ]


def test_wide_file_rejects_name_the_instrument_column(con, write_file):
    report = import_file(con, write_file("wide.csv", lines("record_id,date,phq9,gad7", "W2,2025-05-10,30,5")))
    assert rejects(report) == [(2, "phq9", "score 30 outside the PHQ-9 range 0–27", "30")]


def test_wide_row_without_scores_is_rejected_for_missing_score(con, write_file):
    report = import_file(con, write_file("wide.csv", lines("record_id,date,phq9,gad7", "W3,2025-06-09,,")))
    ((line, column, reason, _value),) = rejects(report)
    assert line == 2
    assert "score" in reason
    assert column is None or not column.startswith("_")


# --- duplicates, conflicts, replace, the import log --------------------------------------------------


def test_reimporting_the_example_files_changes_nothing(con):
    files = [
        EXAMPLES / n
        for n in (
            "clients.csv",
            "sessions.csv",
            "sessions.parquet",
            "scores_long.csv",
            "scores_wide.csv",
            "scores_wide.xlsx",
            "scores_custom.csv",
        )
    ]
    first = import_files(con, files, instrument_file=EXAMPLES / "instruments.toml")
    assert [(r.file, r.rejected) for r in first] == [(f.name, 0) for f in files]
    assert all(r.imported == r.records_read > 0 for r in first)
    before = {t: sorted(rows(con, f"select * from {t}"), key=repr) for t in DATA_TABLES}
    second = import_files(con, files)
    assert [r.status for r in second] == ["unchanged"] * len(files)
    assert [(r.imported, r.rejected, r.unchanged_duplicates) for r in second] == [(0, 0, r.records_read) for r in first]
    assert {t: sorted(rows(con, f"select * from {t}"), key=repr) for t in DATA_TABLES} == before
    assert store.check_integrity(con) == []


def test_reimport_is_unchanged_and_logged_with_the_same_hash(con, write_file):
    text = lines(SCORES_HEADER, "A1,2025-03-01,PHQ-9,12", "A1,2025-03-08,PHQ-9,9")
    path = write_file("scores.csv", text)
    first = import_file(con, path)
    before = snapshot(con)["scores"]
    second = import_file(con, path)
    assert (second.status, second.message) == ("unchanged", "every row was already stored with the same values")
    assert counts(second) == (2, 0, 0, 2)
    assert snapshot(con)["scores"] == before
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert rows(
        con,
        "select import_id, file_name, sha256, status, imported, unchanged_duplicates "
        "from import_log order by import_id",
    ) == [
        (first.import_id, "scores.csv", digest, "imported", 2, 0),
        (second.import_id, "scores.csv", digest, "unchanged", 0, 2),
    ]


def test_conflict_with_a_stored_value_is_rejected_showing_both_values(con, write_file):
    import_file(con, write_file("a.csv", lines("client_id,site", "K1,North", "K2,South")))
    report = import_file(con, write_file("b.csv", lines("client_id,site", "K1,North", "K2,East")))
    assert (report.status, counts(report)) == ("partly imported", (2, 0, 1, 1))
    assert rejects(report) == [
        (
            3,
            None,
            "conflicts with the stored value: stored site South, in file site East (use --replace to overwrite)",
            None,
        )
    ]
    assert rows(con, "select client_id, site from clients order by client_id") == [("K1", "North"), ("K2", "South")]


def test_score_conflict_shows_stored_and_new_score(con, write_file):
    import_file(con, write_file("a.csv", lines(SCORES_HEADER, "A1,2025-03-01,PHQ-9,12")))
    report = import_file(con, write_file("b.csv", lines(SCORES_HEADER, "A1,2025-03-01,phq9,14")))
    ((line, _column, reason, _value),) = rejects(report)
    assert line == 2
    assert "stored score 12" in reason and "in file score 14" in reason
    assert rows(con, "select score from scores") == [(12.0,)]


def test_replace_overwrites_conflicting_values(con, write_file):
    import_file(con, write_file("a.csv", lines("client_id,site", "K1,North", "K2,South")))
    report = import_file(con, write_file("b.csv", lines("client_id,site", "K1,North", "K2,East")), replace=True)
    assert (report.status, counts(report), report.replaced) == ("imported", (2, 1, 0, 1), 1)
    assert rows(con, "select client_id, site from clients order by client_id") == [("K1", "North"), ("K2", "East")]
    assert rows(con, f"select imported, replaced from import_log where import_id = {report.import_id}") == [(1, 1)]
    assert store.check_integrity(con) == []


def test_replace_keeps_stored_values_of_columns_the_file_does_not_have(con, write_file):
    import_file(
        con,
        write_file(
            "a.csv", lines("client_id,session_at,modality,dose_mg,clinician_id", "A1,2025-01-01T10:00,iv,35,CL1")
        ),
    )
    report = import_file(
        con, write_file("b.csv", lines("client_id,session_at,modality", "A1,2025-01-01T10:00,im")), replace=True
    )
    assert report.replaced == 1
    assert rows(con, "select modality, dose_mg, clinician_id from sessions") == [("IM injection", 35.0, "CL1")]


def test_duplicates_within_one_file(con, write_file):
    path = write_file("c.csv", lines("client_id,site", "D1,North", "D1,North", "D2,North", "D2,South"))
    report = import_file(con, path)
    assert counts(report) == (4, 2, 1, 1)
    assert rejects(report) == [
        (5, None, "conflicts with line 4 of this file (same client_id): there site North, here site South", None)
    ]
    assert rows(con, "select client_id, site from clients order by client_id") == [("D1", "North"), ("D2", "North")]


def test_import_log_and_stored_rejects(con, write_file):
    text = lines("client_id,prior_treatments", "L1,1", "L2,2", "L3,-1")
    path = write_file("tmp123.csv", text)
    report = import_file(con, path, name="clinic export.csv")
    assert report.file == "clinic export.csv"
    assert rows(
        con,
        "select import_id, file_name, sha256, kind, rows_read, records_read, imported, rejected, "
        "unchanged_duplicates, replaced, status from import_log",
    ) == [
        (
            report.import_id,
            "clinic export.csv",
            hashlib.sha256(text.encode()).hexdigest(),
            "clients",
            3,
            3,
            2,
            1,
            0,
            0,
            "partly imported",
        ),
    ]
    assert rows(con, "select import_id, line, column_name, reason, value_masked from import_rejects") == [
        (
            report.import_id,
            4,
            "prior_treatments",
            "prior_treatments must be a whole number of treatments (0 or more)",
            "-1",
        ),
    ]


@pytest.mark.parametrize("value", ["nan", "inf", "1e12"])
def test_non_finite_or_huge_prior_treatments_is_rejected_not_a_crash(con, write_file, value):
    report = import_file(con, write_file("c.csv", lines("client_id,prior_treatments", f"L4,{value}")))
    assert rejects(report) == [
        (2, "prior_treatments", "prior_treatments must be a whole number of treatments (0 or more)", value)
    ]


def test_line_numbers_count_physical_lines(con, write_file):
    path = write_file(
        "c.csv",
        (
            "client_id,site,condition\n"  # line 1
            'A,"North\nWing",TRD\n'  # lines 2-3: one row with a line break in a quoted cell
            "\n"  # line 4: blank, not a row
            "B,North,TRD,extra\n"  # line 5: one field too many
            ",North,TRD\r\n"  # line 6: no client_id
            "C,South,TRD\n"  # line 7
        ),
    )
    report = import_file(con, path)
    assert counts(report) == (4, 1, 3, 0)
    assert rejects(report) == [
        # a label may not hold a line break
        (2, "site", "site may hold only letters, digits, spaces and - _ . , / + & ( ) ' % < > ≥ ≤ : #", "•••••\n••••"),
        (5, None, "the row has 4 fields but the header has 3", None),
        (6, "client_id", "missing client_id", None),
    ]
    assert rows(con, "select client_id, site from clients order by client_id") == [("C", "South")]


def test_a_csv_cut_off_inside_a_quoted_cell_is_not_silently_imported(con, write_file):
    report = import_file(con, write_file("c.csv", 'client_id,site\nZ1,North\nZ2,"Nor'))
    assert report.status in ("unreadable", "refused") or report.rejected == 1
    assert ("Z2", "Nor") not in rows(con, "select client_id, site from clients")


# --- masking ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row, reason, value",
    [
        ("ab" + "c" * 70 + ",2025-01-01,PHQ-9,3", "client_id longer than 64 characters", "•" * 40),
        ("M1,2099-03-15,PHQ-9,3", "date is in the future", "2099-••-••"),
        ("M1,2025-03-15T25:00,PHQ-9,3", DATE_HINT, "2025-••-••T••:••"),
        ("M1,2025-03-01,PHQ-9,12345678", None, "••••••••"),  # 7+ digits: identifier-shaped
        ("M1,2025-03-01,Zung SDS,3", None, "•••• •••"),  # a rejected word could be a name: its shape only
    ],
)
def test_rejected_values_are_masked_where_identifying(con, write_file, row, reason, value):
    report = import_file(con, write_file("m.csv", lines(SCORES_HEADER, row)))
    ((_line, _column, got_reason, got_value),) = rejects(report)
    assert got_value == value
    if reason is not None:
        assert got_reason == reason
    assert rows(con, "select value_masked from import_rejects") == [(value,)]


def test_a_masked_value_is_not_repeated_in_the_reason(con, write_file):
    report = import_file(con, write_file("m.csv", lines(SCORES_HEADER, "M2,2025-03-01,PHQ-9,12345678")))
    ((_line, _column, reason, value),) = rejects(report)
    assert value == "••••••••"
    assert "12345678" not in reason


# --- identifiers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column",
    [
        "Name",
        "Patient Name",
        "First_Name",
        "E-mail",
        "Phone Number",
        "Home Address",
        "ZIP",
        "Post Code",
        "Date of Birth",
        "DOB",
        "MRN",
        "SSN",
        "Social Security Number",
    ],
)
def test_a_column_carrying_direct_identifiers_refuses_the_file(con, write_file, column):
    path = write_file("ids.csv", lines(f"client_id,site,{column}", "C1,North,", "C2,South,"))
    report = import_file(con, path)
    assert report.status == "refused"
    assert report.message == (
        f"ids.csv: column '{column}' carries direct identifiers; remove it (and any other "
        "identifying column) before import. Nothing was imported."
    )
    assert counts(report) == (2, 0, 2, 0)
    assert [count(con, t) for t in DATA_TABLES] == [0, 0, 0]
    assert rows(con, "select file_name, status, rejected from import_log") == [("ids.csv", "refused", 2)]


@pytest.mark.parametrize("column", ["Mobile number", "Fax number", "DOB (dd/mm/yyyy)"])
def test_more_identifier_column_names_refuse_the_file(con, write_file, column):
    report = import_file(con, write_file("ids.csv", lines(f"client_id,{column}", "C1,")))
    assert report.status == "refused"


@pytest.mark.parametrize(
    "row, column, what, masked",
    [
        ("C2,North,jane.doe@example.org", "notes", "an e-mail address", "••••.•••@•••••••.•••"),
        ("C2,North,(555) 123-4567", "notes", "a phone number", "(•••) •••-••••"),
        ("C2,North,+44 7700 900123", "notes", "a phone number", "+•• •••• ••••••"),
        ("C2,North,123-45-6789", "notes", "a social security number", "•••-••-••••"),
        ("C2,555.123.4567,", "site", "a phone number", "•••.•••.••••"),
        ("5551234567,North,", "client_id", "a phone number", "••••••••••"),
    ],
)
def test_identifier_looking_values_refuse_the_whole_file(con, write_file, row, column, what, masked):
    path = write_file("vals.csv", lines("client_id,site,notes", "C1,North,", row))
    report = import_file(con, path)
    assert report.status == "refused"
    assert report.message == (
        f"vals.csv: line 3, column '{column}' holds what looks like {what} ({masked}); "
        "files must be anonymised before import. Nothing was imported."
    )
    assert counts(report) == (2, 0, 2, 0)
    reason = "file refused: " + report.message.removeprefix("vals.csv: ")
    assert rejects(report) == [(2, None, reason, None), (3, column, reason, masked)]
    assert [count(con, t) for t in DATA_TABLES] == [0, 0, 0]  # not even the clean line 2


def test_an_email_in_the_date_column_refuses_the_file(con, write_file):
    path = write_file("s.csv", lines(SCORES_HEADER, "A1,2025-03-01,PHQ-9,5", "A1,jo@example.org,PHQ-9,8"))
    report = import_file(con, path)
    assert report.status == "refused"
    assert count(con, "scores") == 0


# --- unreadable files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, status, message",
    [
        ("empty.csv", b"", "unreadable", "empty.csv: the file is empty"),
        ("blank.csv", "  \n\n", "unreadable", "blank.csv: the file is empty"),
        (
            "binary.csv",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "unreadable",
            "binary.csv: this is a binary file, not a CSV text file",
        ),
        (
            "latin1.csv",
            "client_id,site\nC1,Gen\xe8ve\n".encode("latin-1"),
            "unreadable",
            "latin1.csv: not UTF-8 text (byte 0xE8 on line 2); save the file as UTF-8 CSV",
        ),
        ("no_names.csv", ",,\nC1,x,y\n", "unreadable", "no_names.csv: the first row has no column names"),
        (
            "data.json",
            '{"client_id": "C1"}',
            "unreadable",
            "data.json: unsupported file type '.json'; use .csv, .xlsx or .parquet",
        ),
        (
            "export",
            "client_id\nC1\n",
            "unreadable",
            "export: unsupported file type '(none)'; use .csv, .xlsx or .parquet",
        ),
        (
            "fake.xlsx",
            "client_id\nC1\n",
            "unreadable",
            "fake.xlsx: not a readable Excel .xlsx file (BadZipFile); it may be truncated",
        ),
        ("fake.parquet", "client_id\nC1\n", "unreadable", "fake.parquet: not a readable Parquet file"),
        ("nokind.csv", "foo,bar\n1,2\n", "refused", "nokind.csv: cannot tell what kind of file this is"),
    ],
)
def test_unusable_files_give_a_one_line_error_naming_the_file(con, write_file, name, content, status, message):
    report = import_file(con, write_file(name, content))
    assert report.status == status
    assert report.message.startswith(message)
    assert "\n" not in report.message
    records, imported, rejected, duplicates = counts(report)
    assert (imported, duplicates, rejected) == (0, 0, records)
    assert [count(con, t) for t in DATA_TABLES] == [0, 0, 0]
    assert rows(con, "select file_name, status from import_log") == [(name, status)]


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
def test_truncated_excel_and_parquet_files_are_unreadable(con, tmp_path, suffix):
    whole = tmp_path / f"whole{suffix}"
    frame = pd.DataFrame({"client_id": [f"C{i}" for i in range(50)], "site": ["North"] * 50})
    if suffix == ".xlsx":
        frame.to_excel(whole, index=False)
    else:
        frame.to_parquet(whole, index=False)
    assert import_file(con, whole).imported == 50  # the file itself is fine
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    before = snapshot(con)
    report = import_file(con, cut)
    assert report.status == "unreadable"
    assert report.message.startswith(f"cut{suffix}: not a readable ")
    assert {t: v for t, v in snapshot(con).items() if t != "import_log"} == {
        t: v for t, v in before.items() if t != "import_log"
    }


# --- custom instruments -------------------------------------------------------------------------------

CES_D = """
[instruments."CES-D"]
min = 0
max = 60
remission_max = 15
aliases = ["cesd", "ces_d"]
"""


def test_custom_instruments_are_stored_and_known_to_later_imports(tmp_path, write_file):
    db = tmp_path / "clinic.duckdb"
    toml = write_file("mine.toml", CES_D)
    first = write_file("a.csv", lines(SCORES_HEADER, "Z1,2025-05-10,CES-D,31", "Z1,2025-06-09,cesd,61"))
    con = store.connect(db)
    try:
        (report,) = import_files(con, [first], instrument_file=toml)
        assert counts(report) == (2, 1, 1, 0)
        assert rejects(report) == [(3, "score", "score 61 outside the CES-D range 0–60", "61")]
    finally:
        con.close()

    con = store.connect(db)  # a new session, without the TOML file
    try:
        later = import_file(con, write_file("b.csv", lines(SCORES_HEADER, "Z1,2025-07-01,ces_d,14")))
        assert counts(later) == (1, 1, 0, 0)
        assert rows(con, "select assessed_at, instrument, score from scores order by assessed_at") == [
            (datetime(2025, 5, 10), "CES-D", 31.0),
            (datetime(2025, 7, 1), "CES-D", 14.0),
        ]
        assert rows(
            con, "select min_score, max_score, remission_max, is_builtin from instruments where name = 'CES-D'"
        ) == [(0.0, 60.0, 15.0, False)]
    finally:
        con.close()


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("instruments = [", "not a valid TOML file"),
        ('title = "none here"\n', 'no [instruments."NAME"] tables found'),
        ('[instruments."X"]\nmin = 0\n', "instrument 'X': 'max' is required"),
        ('[instruments."X"]\nmin = 5\nmax = 5\n', "min (5) must be below max (5)"),
        ('[instruments."X"]\nmin = 0\nmax = "ten"\n', "'max' must be a number"),
        ('[instruments."X"]\nmin = 0\nmax = 10\ncolour = "red"\n', "unknown field(s) colour"),
        ('[instruments."PHQ-9"]\nmin = 0\nmax = 30\n', "instrument 'PHQ-9' is built in and cannot be redefined"),
        ('[instruments."X"]\nmin = 0\nmax = 10\naliases = ["phq9"]\n', "label 'phq9' already names 'PHQ-9'"),
    ],
)
def test_a_bad_instrument_file_is_a_clear_error_and_nothing_is_imported(con, write_file, text, fragment):
    toml = write_file("bad.toml", text)
    scores = write_file("s.csv", lines(SCORES_HEADER, "A1,2025-03-01,PHQ-9,12"))
    before = snapshot(con)
    with pytest.raises(InstrumentError) as excinfo:
        import_files(con, [scores], instrument_file=toml)
    assert fragment in str(excinfo.value)
    assert snapshot(con) == before


def test_a_missing_instrument_file_is_a_clear_error(con, tmp_path):
    with pytest.raises(InstrumentError, match="no such file"):
        import_files(con, [], instrument_file=tmp_path / "absent.toml")


# --- atomicity ----------------------------------------------------------------------------------------


def test_a_failure_before_commit_leaves_the_database_unchanged(con, write_file):
    import_file(con, write_file("clients.csv", lines("client_id,site", "C1,North", "C2,South")))
    import_file(con, write_file("s1.csv", lines(SCORES_HEADER, "C1,2025-03-01,PHQ-9,12")))
    before = snapshot(con)
    path = write_file(
        "s2.csv", lines(SCORES_HEADER, "C1,2025-03-01,PHQ-9,12", "C1,2025-03-08,PHQ-9,9", "C2,2025-03-01,PHQ-9,99")
    )
    seen = []

    def fail(c):
        seen.append(count(c, "scores"))  # the new row is visible inside the transaction ...
        raise RuntimeError("derived tables failed")

    with pytest.raises(RuntimeError, match="derived tables failed"):
        import_file(con, path, after_import=fail)
    assert seen == [2]
    assert snapshot(con) == before  # ... and gone after the rollback, with no log or rejects written
    assert store.check_integrity(con) == []
    assert counts(import_file(con, path)) == (3, 1, 1, 1)  # the same file imports once the failure is gone


def test_a_failure_during_replace_keeps_the_old_values(con, write_file):
    import_file(con, write_file("a.csv", lines("client_id,site", "K1,North")))
    before = snapshot(con)

    def fail(c):
        assert rows(c, "select site from clients") == [("East",)]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        import_file(con, write_file("b.csv", lines("client_id,site", "K1,East")), replace=True, after_import=fail)
    assert snapshot(con) == before


def test_after_import_is_not_called_when_nothing_was_imported(con, write_file):
    calls = []
    path = write_file("a.csv", lines("client_id,site", "K1,North"))
    import_file(con, path, after_import=calls.append)
    import_file(con, path, after_import=calls.append)  # unchanged: nothing to rebuild
    assert len(calls) == 1


# --- property tests -----------------------------------------------------------------------------------

INSTRUMENT_LABELS = ["PHQ-9", "phq9", "GAD-7", "gad 7", "PCL-5", "MADRS", "QIDS", "BDI-II", "CES-D", "XYZ", ""]
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
RECENT = st.dates(min_value=date(2020, 1, 1), max_value=date(2025, 12, 31))


def mostly(valid, junk):
    """Three cells in four from `valid`, so that files mix imported, duplicate and rejected rows."""
    return st.integers(0, 3).flatmap(lambda i: junk if i == 0 else valid)


def _dates():
    day = st.dates(min_value=date(1950, 1, 1), max_value=date(2035, 12, 31))
    return st.one_of(
        day.map(date.isoformat),
        st.tuples(day, st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0].isoformat()}T{t[1]:02}:{t[2]:02}"),
        st.tuples(day, st.sampled_from(["+02:00", "Z", "-05:00", "+14:00"])).map(lambda t: f"{t[0]}T10:00{t[1]}"),
        day.map(lambda d: d.strftime("%d/%m/%Y")),
        day.map(lambda d: d.strftime("%Y%m%d")),
        st.just(""),
        TEXT,
    )


def _numbers(lo: int, hi: int):
    return st.one_of(
        st.integers(lo, hi).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.just(""),
        TEXT,
    )


CLIENT = mostly(st.sampled_from(["C1", "C2", "C3"]), st.sampled_from(["", " "]) | TEXT)
WHEN = mostly(RECENT.map(date.isoformat), _dates())
INSTRUMENT = mostly(
    st.sampled_from(["PHQ-9", "phq9", "GAD-7", "PCL-5", "MADRS"]), st.sampled_from(INSTRUMENT_LABELS) | TEXT
)
ITEM_CELL = mostly(
    st.integers(0, 3).map(str),
    st.one_of(
        st.integers(-1000, 10**12).map(str), st.sampled_from(["", "x", "1.5", " 2 ", "3.0", "-1", "nan", "inf"]), TEXT
    ),
)


@st.composite
def scores_files(draw):
    n_items = draw(st.sampled_from([0, 0, 3, 7, 9, 9, 10]))
    header = [*SCORES_HEADER.split(","), *(f"item_{i}" for i in range(1, n_items + 1))]
    score = (
        mostly(st.just(""), _numbers(-5, 100)) if n_items else mostly(st.integers(0, 20).map(str), _numbers(-5, 100))
    )
    body = []
    for _ in range(draw(st.integers(1, 8))):
        row = [draw(CLIENT), draw(WHEN), draw(INSTRUMENT), draw(score), *(draw(ITEM_CELL) for _ in range(n_items))]
        if draw(st.integers(0, 9)) == 0:
            row.append("extra")  # now and then a row with one field too many
        body.append(row)
    if len(body) > 1 and draw(st.booleans()):
        body.append(list(body[0]))  # the same key twice, to exercise duplicates within the file
    return header, body


def _csv_bytes(header, body) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)  # CRLF endings, so a bare \r or \n inside a cell is quoted
    writer.writerow(header)
    writer.writerows(body)
    return buf.getvalue().encode("utf-8")


def _check_accounting(con, reports) -> None:
    for r in reports:
        assert r.status in STATUSES
        assert r.records_read == r.imported + r.rejected + r.unchanged_duplicates
        assert len(r.rejects) == r.rejected
        assert all(line >= 2 for line in r.rejects["line"])
        assert all(isinstance(reason, str) and reason for reason in r.rejects["reason"])
    stored = sum(count(con, t) for t in DATA_TABLES)
    assert stored == sum(r.imported - r.replaced for r in reports)
    assert count(con, "import_rejects") == sum(r.rejected for r in reports)
    assert store.check_integrity(con) == []


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scores_files())
def test_property_malformed_score_rows_are_accounted_for(file):
    header, body = file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scores.csv"
        path.write_bytes(_csv_bytes(header, body))
        con = store.connect(Path(tmp) / "p.duckdb")
        try:
            first = import_file(con, path)
            stored = snapshot(con)
            second = import_file(con, path)  # re-importing the same file changes nothing
            event(f"first import: {first.status}")
            _check_accounting(con, [first, second])
            assert second.imported == 0
            assert {t: stored[t] for t in DATA_TABLES} == {t: snapshot(con)[t] for t in DATA_TABLES}
        finally:
            con.close()


@st.composite
def wide_files(draw):
    header = ["client_id", "date", "phq9", "gad7", "pcl5"]
    score = mostly(mostly(st.integers(0, 21).map(str), st.just("")), _numbers(-3, 90))
    body = [[draw(CLIENT), draw(WHEN), draw(score), draw(score), draw(score)] for _ in range(draw(st.integers(1, 6)))]
    return header, body


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide_files())
def test_property_wide_files_count_each_score_value_once(file):
    header, body = file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.csv"
        path.write_bytes(_csv_bytes(header, body))
        con = store.connect(Path(tmp) / "p.duckdb")
        try:
            report = import_file(con, path)
            event(f"import: {report.status}")
            _check_accounting(con, [report])
            rows_in_file = [row for row in body if any(c.strip() for c in row)]  # blank lines are not rows
            if report.status == "unreadable":  # e.g. a NUL character made it a binary file
                assert report.records_read == 0
            elif report.message.endswith("Nothing was imported."):  # identifier-looking text: refused whole
                assert report.records_read == report.rows_read == len(rows_in_file)
            else:
                # each non-empty score cell is one record, and a row with none is one record too
                assert report.kind == "scores_wide"
                assert report.records_read == sum(max(1, sum(1 for c in row[2:] if c.strip())) for row in rows_in_file)
        finally:
            con.close()


# --- the plain-CSV fast path: DuckDB's reader, numbers typed, the same outcome as the careful reader ------------


def test_a_plain_csv_takes_the_fast_path_and_a_rejected_number_keeps_its_text(con, write_file):
    from dashboard.ingest.read import attach, detach, read_file

    path = write_file(
        "s.csv",
        lines(
            f"{SCORES_HEADER},{ITEMS_9}",
            "F1,2025-03-01T09:00,PHQ-9,21.0,3,3,3,3,3,3,3,0,0",  # 21.0 is not the items' sum (21 - 3 + 0 ... = 21? no)
            "F2,2025-03-01T09:00,PHQ-9,,3.0,2,2,2,2,2,2,2,2",  # a whole 3.0 is a valid item: total 19
            "F3,2025-03-01T09:00,PHQ-9,1e1,1,1,1,1,1,1,1,1,2",  # score written 1e1 = 10 = the items' sum
            "F4,2025-03-01T09:00,PHQ-9,,+4,0,0,0,0,0,0,0,0",  # item_1 4 is out of range 0-3: shown as written
        ),
    )
    raw = read_file(path)
    assert raw.table is None and raw.csv is not None  # no quotes, no NUL: DuckDB's reader takes it
    attached = attach(con, raw, frozenset(range(3, 13)))
    assert attached.table is None and attached.n_rows == 4
    detach(con)
    report = import_file(con, path)
    # F1: items 3*7 + 0 + 0 = 21, so 21.0 agrees; F2 total 3 + 2*8 = 19; F3 1*8 + 2 = 10 agrees with 1e1
    assert counts(report) == (4, 3, 1, 0)
    assert rejects(report) == [(5, "item_1", "item_1 must be a whole number from 0 to 3", "+4")]
    assert rows(con, "select client_id, score, items from scores order by client_id") == [
        ("F1", 21.0, [3, 3, 3, 3, 3, 3, 3, 0, 0]),
        ("F2", 19.0, [3, 2, 2, 2, 2, 2, 2, 2, 2]),
        ("F3", 10.0, [1, 1, 1, 1, 1, 1, 1, 1, 2]),
    ]


def test_fast_path_line_numbers_hold_across_a_file_read_in_parallel(con, write_file):
    # about 28 MB, read by DuckDB in several parallel chunks: rows must keep their lines
    n = 700_000
    bad = {2: "99", 350_001: "-1", n + 1: "28"}  # PHQ-9's range is 0-27
    body = "".join(f"P{line},2025-01-01T10:00,PHQ-9,{bad.get(line, line % 28)}\n" for line in range(2, n + 2))
    report = import_file(con, write_file("big.csv", SCORES_HEADER + "\n" + body))
    assert counts(report) == (n, n - 3, 3, 0)
    assert [(line, column, value) for line, column, _, value in rejects(report)] == [
        (2, "score", "99"),
        (350_001, "score", "-1"),
        (n + 1, "score", "28"),
    ]
    assert rows(
        con, "select score from scores where client_id = 'P350000' or client_id = 'P350002' order by client_id"
    ) == [(350_000 % 28,), (350_002 % 28,)]


def test_an_empty_line_in_a_plain_file_keeps_the_line_numbers(con, write_file):
    report = import_file(
        con,
        write_file(
            "e.csv",
            lines(SCORES_HEADER, "E1,2025-01-01,PHQ-9,3", "", "E2,2025-01-01,PHQ-9,30", "E3,2025-01-01,PHQ-9,4"),
        ),
    )
    assert counts(report) == (3, 2, 1, 0)
    assert rejects(report) == [(4, "score", "score 30 outside the PHQ-9 range 0–27", "30")]


@pytest.mark.parametrize("value", ["5551234567", "+15551234567", "555.123.4567", "(555) 123-4567"])
def test_a_phone_number_in_a_number_column_refuses_the_file_whichever_reader(con, write_file, value):
    # the first two are numbers DuckDB's reader reads (and too large to pass as scores: the careful reader reads
    # the file), the others are not numbers at all
    report = import_file(
        con, write_file("p.csv", lines(SCORES_HEADER, "Q1,2025-01-01,PHQ-9,3", f"Q2,2025-01-01,PHQ-9,{value}"))
    )
    assert (
        report.status == "refused" and "line 3, column 'score' holds what looks like a phone number" in report.message
    )
    assert count(con, "scores") == 0


def test_a_number_written_in_the_shape_of_a_phone_number_is_never_shown(con, write_file):
    # 123456.7890 is the number 123456.789 to DuckDB's reader (a score out of range, rejected); its text is a
    # phone number's shape, so the rejected value is hidden, as the careful reader would have refused it
    report = import_file(
        con, write_file("p.csv", lines(SCORES_HEADER, "Q1,2025-01-01,PHQ-9,3", "Q2,2025-01-01,PHQ-9,123456.7890"))
    )
    assert rejects(report) == [(3, "score", "score 123456.789 outside the PHQ-9 range 0–27", "••••••.••••")]
    assert "123456.7890" not in repr(rows(con, "select * from import_rejects"))


def test_text_that_is_not_utf8_late_in_a_plain_file_is_named_with_its_line(con, write_file):
    body = "".join(f"U{i},2025-01-01,PHQ-9,3\n" for i in range(2, 600)).encode()
    data = SCORES_HEADER.encode() + b"\n" + body + "U600,2025-01-01,café,3\n".encode("latin-1")
    report = import_file(con, write_file("u.csv", data))
    assert report.status == "unreadable"
    assert report.message == "u.csv: not UTF-8 text (byte 0xE9 on line 600); save the file as UTF-8 CSV"
    assert count(con, "scores") == 0


def _plain(cell: str) -> str:
    """A cell with nothing that makes a CSV need quotes (or reads differently across readers)."""
    return "".join(ch for ch in cell if ch not in '",\r\n\x00')


def _is_number(cell: str) -> bool:
    """A number DuckDB's reader keeps (read.attach hands files with huge, odd or long numbers to the other)."""
    try:
        value = float(cell)
    except ValueError:
        return False
    return math.isfinite(value) and abs(value) < 1e6 and round(value, 3) == value


def _outcome(con, report) -> tuple:
    stored = {t: sorted(rows(con, f"select * exclude (import_id) from {t}"), key=repr) for t in DATA_TABLES}
    return (report.status, report.kind, counts(report), report.message, rejects(report), stored)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scores_files(), st.booleans())
def test_property_the_fast_and_the_careful_reader_give_the_same_outcome(file, numbers_only):
    from unittest.mock import patch

    from dashboard.ingest import read

    header, body = file
    body = [[_plain(c) for c in row] for row in body]
    if numbers_only:  # so that DuckDB's reader keeps more of the files: no ragged rows, numbers or nothing
        body = [
            [c if j < 3 or _is_number(c) else "" for j, c in enumerate(row)] for row in body if len(row) == len(header)
        ]
        body = body or [["C1", "2025-01-01", "PHQ-9", "3", *[""] * (len(header) - 4)]]
    outcomes = []
    for fast in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "scores.csv"
            path.write_text(lines(*(",".join(r) for r in [header, *body])), encoding="utf-8")
            con = store.connect(Path(tmp) / "p.duckdb")
            try:
                with patch.object(read, "FAST_PATH_MAX_COLUMNS", 10_000 if fast else 0):
                    first = import_file(con, path)
                    outcomes.append(_outcome(con, first))
                    second = import_file(con, path)  # every key now stored: the comparing path
                    outcomes.append(_outcome(con, second))
            finally:
                con.close()
    assert outcomes[:2] == outcomes[2:]
    with tempfile.TemporaryDirectory() as tmp:  # which reader the fast run used, for the statistics
        path = Path(tmp) / "scores.csv"
        path.write_text(lines(*(",".join(r) for r in [header, *body])), encoding="utf-8")
        try:
            raw = read.read_file(path)
            probe = duckdb.connect()
            event(
                "DuckDB's reader"
                if read.attach(probe, raw, frozenset(range(3, len(header)))).table is None
                else "careful reader"
            )
            probe.close()
        except read.FileError:
            event("unreadable")
