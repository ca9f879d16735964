"""Row validation as SQL: identifier-looking values refuse a file (identifiers), and each record is typed or
given its first failing rule.

Each rule is declared once (rules.Rule, in a RuleSet): common (every kind, checked first), clients, sessions and
scores. From a file's rules come both the per-record first failing rule and the cheap all-pass gate that lets
most records skip it (rules.failure)."""

from __future__ import annotations

import duckdb

from dashboard.ingest.contract import Mapping
from dashboard.ingest.validation import clients, common, scores, sessions
from dashboard.ingest.validation.common import (
    FORMULA_REASON,
    FREE_TEXT,
    FUTURE_SLACK,
    MAX_ID_LENGTH,
    NORMALISE_SQL,
    PLAIN_TIMES,
)
from dashboard.ingest.validation.identifiers import (
    DETECTORS,
    WHERE_SCAN_MAX_COLUMNS,
    detect,
    field_of,
    find_identifier_value,
    mask,
    mask_all,
    mask_text,
    numeric_columns,
    register,
    shown_file_name,
    shown_header,
)
from dashboard.ingest.validation.rules import Plan, Rule, RuleSet

__all__ = [
    "DETECTORS",
    "FORMULA_REASON",
    "FREE_TEXT",
    "FUTURE_SLACK",
    "MAX_ID_LENGTH",
    "NORMALISE_SQL",
    "PLAIN_TIMES",
    "RULE_SETS",
    "WHERE_SCAN_MAX_COLUMNS",
    "Plan",
    "Rule",
    "RuleSet",
    "build_checked",
    "detect",
    "field_of",
    "find_identifier_value",
    "mask",
    "mask_all",
    "mask_text",
    "numeric_columns",
    "plan",
    "rule_names",
    "shown_file_name",
    "shown_header",
]

# every declared rule, by the kinds of file it applies to (common: all of them, before the kind's own)
RULE_SETS: dict[str, RuleSet] = {
    "common": common.RULES,
    "clients": clients.RULES,
    "sessions": sessions.RULES,
    "scores": scores.RULES,
}


def rule_names() -> list[str]:
    """The name of every declared rule; each is unique across the kinds."""
    names = [n for rules in RULE_SETS.values() for n in rules.names]
    if len(names) != len(set(names)):
        raise ValueError(f"a rule name is declared twice: {sorted(n for n in names if names.count(n) > 1)}")
    return names


def plan(con: duckdb.DuckDBPyConnection, mapping: Mapping, known: dict, typed: frozenset[int] = frozenset()) -> Plan:
    """How _checked is computed for this file over temp table _raw (creating the lookup tables and macros its
    SQL uses). Columns in `typed` the reader has read as numbers."""
    con.execute(
        "create or replace temp macro fmtnum(x) as case when x = round(x) and abs(x) < 1e15 "
        "then cast(cast(x as bigint) as varchar) else cast(x as varchar) end"
    )
    # a rejected cell as text: a file's text as given, a number the reader typed (read.attach) as a CSV has it
    con.execute(
        "create or replace temp macro rawtext(x) as case when typeof(x) = 'DOUBLE' "
        "then fmtnum(try_cast(x as double)) else cast(x as varchar) end"
    )
    register(con)  # nfkc_text(), which the rules read every stored text field through
    if mapping.kind == "clients":
        return clients.plan(con, mapping)
    if mapping.kind == "sessions":
        return sessions.plan(con, mapping)
    return scores.plan(con, mapping, known, typed)


def build_checked(
    con: duckdb.DuckDBPyConnection, mapping: Mapping, known: dict, typed: frozenset[int] = frozenset()
) -> None:
    """Create temp table _checked: one row per input record, typed, with _column/_reason/_raw of the
    first failing rule (null when the record is valid). Columns in `typed` the reader has read as numbers."""
    con.execute(plan(con, mapping, known, typed).create_checked())
