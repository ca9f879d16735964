"""Each validation rule, one parametrised test: a row that breaks it (and no rule before it) is rejected with the
rule's column, reason and masked value; rows close to it break no rule; and the rule's cheap gate is never looser
than its careful check.

The rows, columns, reasons and values below are written out by hand from the rules' wording in the README, not
taken from the code's output. A rule declared without an example here fails `test_every_rule_has_an_example`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import instruments as registry
from dashboard.ingest import import_file, validation
from dashboard.ingest.contract import map_columns
from dashboard.ingest.read import attach, detach, read_file
from dashboard.ingest.validation.rules import all_pass, failure, first_failing, lit

ITEMS_9 = ",".join(f"item_{i}" for i in range(1, 10))
SCORES = "client_id,assessed_at,instrument,score"
ITEMS = f"{SCORES},{ITEMS_9}"
SESSIONS = "client_id,session_at,session_type,modality,dose_mg,clinician_id"
CLIENTS = "client_id,site,condition,prior_treatments"
WIDE = "client_id,date,phq9,gad7"
DATE_HINT = "unparseable date; use ISO 8601, e.g. 2024-03-01 or 2024-03-01T14:30"
KNOWN = "BDI-II, GAD-7, MADRS, PCL-5, PHQ-9, QIDS-SR16"
LATER = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()


@dataclass(frozen=True)
class Example:
    """A file of `header`, the rows in `passes` (each breaks no rule) and then `fails`, which breaks the rule
    (and no rule checked before it): its reject names `column` (the file's header, None for none), `reason`
    and the masked `value`."""

    header: str
    fails: str
    column: str | None
    reason: str
    value: str | None
    passes: tuple[str, ...]


def ex(header, fails, column, reason, value, *passes) -> Example:
    return Example(header, fails, column, reason, value, passes)


EXAMPLES: dict[str, list[Example]] = {
    # --- common: every kind of file, checked first
    "client_id_missing": [
        ex(SCORES, " ,2025-01-10,PHQ-9,5", "client_id", "missing client_id", None, "A,2025-01-10,PHQ-9,5"),
        ex(CLIENTS, ",S1,MDD,2", "client_id", "missing client_id", None, "A,S1,MDD,2"),
    ],
    "client_id_too_long": [
        ex(
            SCORES,
            f"{'x' * 65},2025-01-10,PHQ-9,5",
            "client_id",
            "client_id longer than 64 characters",
            "•" * 40,  # its shape only, at most 40 characters
            f"{'x' * 64},2025-01-10,PHQ-9,5",
        ),
    ],
    "time_missing": [
        ex(SCORES, "A,,PHQ-9,5", "assessed_at", "missing assessed_at", None, "A,2025-01-10,PHQ-9,5"),
        ex(SESSIONS, "A,,dosing,iv,35,C1", "session_at", "missing session_at", None, "A,2025-01-10,dosing,iv,35,C1"),
    ],
    "time_unparseable": [
        ex(SCORES, "A,2025-02-30,PHQ-9,5", "assessed_at", DATE_HINT, "2025-••-••", "A,2025-02-28,PHQ-9,5"),
        # words in a time column are not shown (they could be a name): their shape only
        ex(SCORES, "A,epoch,PHQ-9,5", "assessed_at", DATE_HINT, "•••••", "A,2025-01-10T14:30,PHQ-9,5"),
        ex(
            SESSIONS,
            "A,03/01/2025,dosing,iv,35,C1",
            "session_at",
            DATE_HINT,
            "••/••/2025",
            "A,2025-03-01T09:00+02:00,dosing,iv,35,C1",
        ),
    ],
    "time_in_future": [
        ex(
            SCORES,
            f"A,{LATER},PHQ-9,5",
            "assessed_at",
            "date is in the future",
            f"{LATER[:4]}-••-••",
            f"A,{datetime.now(UTC).date().isoformat()},PHQ-9,5",
        ),
    ],
    "time_before_1970": [
        ex(SCORES, "A,1969-12-31,PHQ-9,5", "assessed_at", "date before 1970", "1969-••-••", "A,1970-01-01,PHQ-9,5"),
    ],
    "formula": [
        ex(
            CLIENTS,
            "A,=HYPERLINK(1),MDD,2",
            "site",
            "starts with =, which a spreadsheet would run as a formula; remove the =",
            "'=•••••••••(•)",  # not a label's form, so its shape only, with the apostrophe a spreadsheet needs
            "A,HYPERLINK(1),MDD,2",
        ),
        ex(
            SESSIONS,
            "A,2025-01-10,dosing,iv,35, =1+1",
            "clinician_id",
            "starts with =, which a spreadsheet would run as a formula; remove the =",
            "'=•+•",  # not a code's form, so its shape only
            "A,2025-01-10,dosing,iv,35,C1",
        ),
    ],
    "code_form": [
        ex(
            SCORES,
            "Jane Doe,2025-01-10,PHQ-9,5",
            "client_id",
            "client_id must be a code: letters and digits, with . _ : # / - inside and no spaces",
            "•••• •••",
            "K-001/a.b_c:d#1,2025-01-10,PHQ-9,5",
            "Ｋ００１,2025-01-10,PHQ-9,5",  # full-width: stored as K001
        ),
        ex(
            SESSIONS,
            "A,2025-01-10,dosing,iv,35,Dr Jane Smith",
            "clinician_id",
            "clinician_id must be a code: letters and digits, with . _ : # / - inside and no spaces",
            "•• •••• •••••",
            "A,2025-01-10,dosing,iv,35,CL-01",
        ),
        ex(
            SESSIONS,
            "A,2025-01-10,dosing,iv,35,-C1",
            "clinician_id",
            "clinician_id must be a code: letters and digits, with . _ : # / - inside and no spaces",
            "-••",
            "A,2025-01-10,dosing,iv,35,C-1",
        ),
    ],
    "code_too_long": [
        ex(
            SESSIONS,
            f"A,2025-01-10,dosing,iv,35,{'c' * 65}",
            "clinician_id",
            "clinician_id longer than 64 characters",
            "•" * 40,
            f"B,2025-01-10,dosing,iv,35,{'c' * 64}",
        ),
    ],
    "label_too_long": [
        ex(
            CLIENTS,
            f"A,{'s' * 81},MDD,2",
            "site",
            "site longer than 80 characters",
            "•" * 40,  # too long to be a label, so it could be a note: its shape only
            f"A,{'s' * 80},MDD,2",
        ),
    ],
    "label_characters": [
        ex(
            CLIENTS,
            "A,North [x](evil),MDD,2",
            "site",
            "site may hold only letters, digits, spaces and - _ . , / + & ( ) ' % < > ≥ ≤ : #",
            "••••• [•](••••)",
            "B,North (Wing 2) & co.,Major depressive disorder - recurrent,2",
            "C,Zürich ≥65 50%,MDD,2",
        ),
        ex(
            SESSIONS,
            "A,2025-01-10,dosing,IV;drop,35,C1",
            "modality",
            "modality may hold only letters, digits, spaces and - _ . , / + & ( ) ' % < > ≥ ≤ : #",
            "••;••••",
            "A,2025-01-10,dosing,Ketamine IV 0.5mg/kg,35,C1",
        ),
    ],
    # --- clients
    "prior_treatments_invalid": [
        ex(
            CLIENTS,
            "A,S1,MDD,2.5",
            "prior_treatments",
            "prior_treatments must be a whole number of treatments (0 or more)",
            "2.5",
            "A,S1,MDD,0",
            "B,S1,MDD,100",
            "C,S1,MDD,",
        ),
        ex(
            CLIENTS,
            "A,S1,MDD,101",
            "prior_treatments",
            "prior_treatments must be a whole number of treatments (0 or more)",
            "101",
        ),
    ],
    # --- sessions
    "session_type_unknown": [
        ex(
            SESSIONS,
            "A,2025-01-10,massage,,,C1",
            "session_type",
            "unknown session_type; use one of dosing, integration, preparation, assessment",
            "•••••••",  # a rejected word could be a name: its shape only
            "A,2025-01-11,Integration Therapy,,,C1",
            "A,2025-01-12,,iv,35,C1",
        ),
    ],
    "dosing_without_modality": [
        ex(
            SESSIONS,
            "A,2025-01-10,dosing, ,35,C1",
            "modality",
            "dosing session without a modality",
            None,
            "A,2025-01-10,integration,,,C1",
            "A,2025-01-11,dosing,Ketamine lollipop,35,C1",
        ),
    ],
    "dose_mg_invalid": [
        ex(
            SESSIONS,
            "A,2025-01-10,dosing,iv,-5,C1",
            "dose_mg",
            "dose_mg must be a number of milligrams (0 or more)",
            "-5",
            "A,2025-01-11,dosing,iv,0,C1",
            "A,2025-01-12,dosing,iv,10000,C1",
            "A,2025-01-13,dosing,iv,,C1",
        ),
        ex(
            SESSIONS,
            "A,2025-01-10,dosing,iv,inf,C1",
            "dose_mg",
            "dose_mg must be a number of milligrams (0 or more)",
            "inf",
        ),
    ],
    # --- scores, long and wide
    "wide_no_score": [
        ex(
            WIDE,
            "A,2025-01-10,,",
            None,
            "no score in any instrument column (GAD-7, PHQ-9)",
            None,
            "A,2025-01-10,5,",
            "A,2025-01-11,,3",
        ),
    ],
    "instrument_missing": [
        ex(SCORES, "A,2025-01-10, ,5", "instrument", "missing instrument", None, "A,2025-01-10,phq 9,5"),
    ],
    "instrument_unknown": [
        ex(
            SCORES,
            "A,2025-01-10,CES-D,31",
            "instrument",
            f"unknown instrument; known: {KNOWN}. To add one, define it on the Data page "
            "(Instruments) or in a TOML file (see data/examples/instruments.toml) imported with --instruments FILE",
            "•••-•",
            "A,2025-01-10,gad_7,3",
        ),
    ],
    "score_not_a_number": [
        # text in a number's field is shown by its shape only (it could be a name)
        ex(SCORES, "A,2025-01-10,PHQ-9,abc", "score", "score is not a number", "•••", "A,2025-01-10,PHQ-9,5.0"),
        ex(SCORES, "A,2025-01-10,PHQ-9,nan", "score", "score is not a number", "nan"),
    ],
    "item_not_a_number": [
        ex(
            ITEMS,
            "A,2025-01-10,PHQ-9,,0,0,x,0,0,0,0,0,0",
            "item_3",
            "item_3 is not a number",
            "•",
            "A,2025-01-10,PHQ-9,,0,0,1,0,0,0,0,0,0",
        ),
    ],
    "item_definition_missing": [
        ex(
            ITEMS,
            "A,2025-01-10,QIDS,,1,1,1,1,1,1,1,1,1",
            None,
            "QIDS-SR16 has no item definition, so item columns cannot be used",
            None,
            "A,2025-01-10,QIDS,9,,,,,,,,,",
        ),
    ],
    "item_column_missing": [
        ex(
            "client_id,assessed_at,instrument,score,item_1,item_2,item_3,item_5,item_6,item_7",
            "A,2025-01-10,GAD-7,,1,1,1,1,1,1",
            "item_4",
            "GAD-7 needs 7 items (item_1 to item_7); the file has no item_4 column",
            None,
            "A,2025-01-10,GAD-7,6,,,,,,",
        ),
        ex(
            "client_id,assessed_at,instrument,item_1,item_2,item_3,item_4,item_5,item_6,item_7",
            "A,2025-01-10,PHQ-9,1,1,1,1,1,1,1",
            "item_8",
            "PHQ-9 needs 9 items (item_1 to item_9); the file has no item_8 column",
            None,
            "A,2025-01-10,GAD-7,1,1,1,1,1,1,1",
        ),
    ],
    "item_empty": [
        ex(
            ITEMS,
            "A,2025-01-10,PHQ-9,,3,3,3,3,,3,3,3,",
            "item_5",
            "PHQ-9 needs 9 items (item_1 to item_9); item_5 is empty",
            None,
            "A,2025-01-10,PHQ-9,24,3,3,3,3,0,3,3,3,3",
            "A,2025-01-11,GAD-7,,3,3,3,3,3,3,3,,",
        ),
    ],
    "item_beyond_instrument": [
        ex(
            ITEMS,
            "A,2025-01-10,GAD-7,,1,1,1,1,1,1,1,,0",
            "item_9",
            "GAD-7 has 7 items; item_9 should be empty",
            "0",
            "A,2025-01-10,GAD-7,7,1,1,1,1,1,1,1,,",
        ),
    ],
    "item_out_of_range": [
        ex(
            ITEMS,
            "A,2025-01-10,PHQ-9,,0,0,0,0,0,0,0,0,4",
            "item_9",
            "item_9 must be a whole number from 0 to 3",
            "4",
            "A,2025-01-10,PHQ-9,,0,0,0,0,0,0,0,0,3",
        ),
        ex(
            ITEMS,
            "A,2025-01-10,PHQ-9,,0,-1,0,0,0,0,0,0,0",
            "item_2",
            "item_2 must be a whole number from 0 to 3",
            "-1",
        ),
        ex(
            ITEMS,
            "A,2025-01-10,PHQ-9,,0,0,0,1.5,0,0,0,0,0",
            "item_4",
            "item_4 must be a whole number from 0 to 3",
            "1.5",
        ),
    ],
    "score_disagrees_with_items": [
        ex(
            ITEMS,
            "A,2025-01-10,PHQ-9,10,1,1,1,1,1,1,1,1,1",
            "score",
            "score 10 disagrees with the sum of its items (9)",
            "10",
            "A,2025-01-10,PHQ-9,9,1,1,1,1,1,1,1,1,1",
        ),
    ],
    "score_missing": [
        ex(SCORES, "A,2025-01-10,PHQ-9,", "score", "missing score", None, "A,2025-01-10,PHQ-9,0"),
        ex(ITEMS, "A,2025-01-10,PHQ-9,,,,,,,,,,", "score", "missing score", None, "A,2025-01-10,PHQ-9,4,,,,,,,,,"),
    ],
    "score_out_of_range": [
        ex(
            SCORES,
            "A,2025-01-10,PHQ-9,28",
            "score",
            "score 28 outside the PHQ-9 range 0–27",
            "28",
            "A,2025-01-10,PHQ-9,27",
            "A,2025-01-10,MADRS,60",
        ),
        ex(WIDE, "A,2025-01-10,5,22", "gad7", "score 22 outside the GAD-7 range 0–21", "22", "A,2025-01-11,0,21"),
    ],
}


def file_text(e: Example) -> str:
    return "".join(f"{r}\n" for r in (e.header, *e.passes, e.fails))


def cases():
    return [pytest.param(name, e, id=f"{name}-{i}") for name, es in EXAMPLES.items() for i, e in enumerate(es)]


def test_every_rule_has_an_example():
    declared = validation.rule_names()
    assert sorted(set(declared) - EXAMPLES.keys()) == [], "a declared rule needs an example in EXAMPLES"
    assert sorted(EXAMPLES.keys() - set(declared)) == [], "an example for a rule that is not declared"


def test_the_readme_lists_every_rule_in_the_checking_order():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = [
        n for line in readme.splitlines() if line.startswith("| `") for n in re.findall(r"`(\w+)`", line.split("|")[1])
    ]
    declared = validation.rule_names()
    # common first, then the kinds in the order clients, sessions, scores
    assert [n for n in table if n in declared] == declared


@pytest.mark.parametrize("name, example", cases())
def test_a_row_breaking_the_rule_is_rejected_with_its_column_reason_and_value(con, write_file, name, example):
    suffix = "wide.csv" if example.header == WIDE else "file.csv"
    report = import_file(con, write_file(suffix, file_text(example)))
    frame = report.rejects.astype(object).where(report.rejects.notna(), None)
    got = [tuple(r) for r in frame[["line", "column", "reason", "value"]].itertuples(index=False)]
    line = 2 + len(example.passes)
    assert got == [(line, example.column, example.reason, example.value)]
    assert report.imported == _records(example) - 1


def _records(e: Example) -> int:
    """Records in the example: one per row, but one per score value in a wide file (a row with none is one)."""
    if e.header != WIDE:
        return 1 + len(e.passes)
    return sum(max(1, sum(1 for v in r.split(",")[2:] if v)) for r in (*e.passes, e.fails))


def evaluated(con, path, typed_reader: bool):
    """Per record: the name of the first rule it breaks (ungated), that under the gate, whether the all-pass gate
    holds, and per rule (name, gate holds, check fails). With `typed_reader`, the plain-CSV reader types the number
    columns as the importer does; otherwise every cell is text."""
    raw = read_file(path)
    known = registry.load(con)
    mapping = map_columns(path.name, raw.headers, registry.resolver(known))
    typed = validation.numeric_columns(mapping) if typed_reader else frozenset()
    raw = attach(con, raw, typed)
    if raw.table is not None:
        typed = frozenset()
    try:
        plan = validation.plan(con, mapping, known, typed)
        rules = plan.rules
        named = "case " + " ".join(f"when {r.fails} then {lit(r.name)}" for r in rules) + " end"
        per_rule = [f"[{lit(r.name)}, (({r.gate}) is true)::varchar, (({r.fails}) is true)::varchar]" for r in rules]
        gate = all_pass(rules) or "true"
        columns = [
            f"{named} as first_name",
            f"{first_failing(rules)} as ungated",
            f"{failure(rules)} as gated",
            f"({gate}) is true as gate",
            f"[{', '.join(per_rule)}] as per_rule",
        ]
        return con.execute(f"select * exclude (_line), _line from ({plan.query(columns)}) order by _line").fetchall()
    finally:
        detach(con)


@pytest.mark.parametrize("typed_reader", [True, False], ids=["typed", "text"])
@pytest.mark.parametrize("name, example", cases())
def test_the_rule_is_first_to_fail_and_its_gate_never_passes_a_failing_record(
    con, write_file, name, example, typed_reader
):
    records = evaluated(
        con, write_file("wide.csv" if example.header == WIDE else "f.csv", file_text(example)), typed_reader
    )
    # the failing row is the last line; a wide row is one record per score value, in no set order
    *passes, failing = [[r for r in records if r[5] == line] for line in sorted({r[5] for r in records})]
    assert sorted((r[0] for r in failing), key=str) == sorted([name, *[None] * (len(failing) - 1)], key=str)
    for first, ungated, gated, _gate, _per_rule, _line in (r for line in passes for r in line):
        assert (first, ungated, gated) == (None, None, None)
    for first, ungated, gated, gate, per_rule, _line in records:
        assert gated == ungated  # the gate changes nothing but the work done
        assert not (gate and first is not None)
        for rule, rule_gate, rule_fails in per_rule:
            assert not (rule_gate == "true" and rule_fails == "true"), f"{rule}'s gate passes a record it fails"


CELL = st.sampled_from(["", "0", "1", "3", "4", "-1", "1.5", "x", "nan", "27", "28", "9", " "])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["PHQ-9", "GAD-7", "QIDS", "MADRS", "CES-D", ""]),
            CELL,
            st.lists(CELL, min_size=9, max_size=9),
        ),
        min_size=1,
        max_size=12,
    ),
    typed_reader=st.booleans(),
)
def test_property_gated_and_careful_checks_agree_on_any_item_row(tmp_path_factory, rows, typed_reader):
    """Random item rows: the all-pass gate never passes a record some rule fails, and the gated result is the
    careful one."""
    from dashboard import store

    folder = tmp_path_factory.mktemp("gate")
    con = store.connect(folder / "o.duckdb")
    try:
        text = ITEMS + "\n" + "".join(f"A,2025-01-10,{i},{s},{','.join(c)}\n" for i, s, c in rows)
        (folder / "s.csv").write_text(text, encoding="utf-8")
        for first, ungated, gated, gate, per_rule, _line in evaluated(con, folder / "s.csv", typed_reader):
            assert gated == ungated
            assert not (gate and first is not None)
            for rule, rule_gate, rule_fails in per_rule:
                assert not (rule_gate == "true" and rule_fails == "true"), rule
    finally:
        con.close()
