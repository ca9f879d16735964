"""Rules every kind of file checks first: the client id, the time column, and formula-looking free text."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.ingest.contract import Mapping
from dashboard.ingest.validation.identifiers import (
    CODE_PUNCTUATION,
    CODE_SQL,
    CODES,
    LABEL_SQL,
    LABELS,
    MAX_LABEL_LENGTH,
)
from dashboard.ingest.validation.rules import Rule, RuleSet, col, lit, ref

NORMALISE_SQL = "lower(regexp_replace({x}, '[\\s\\-_/]+', '', 'g'))"
FUTURE_SLACK = "interval 1 day"  # naive local times of clinics east of UTC may read as slightly ahead
MAX_ID_LENGTH = 64
# fields stored as the file gives them (no vocabulary, not numbers or times): a value starting with = would be run
# as a formula by a spreadsheet that opens any export of them, so the row is rejected
FREE_TEXT = ("client_id", "site", "condition", "age_band", "sex", "modality", "clinician_id", "session_id")
FORMULA_REASON = "starts with =, which a spreadsheet would run as a formula; remove the ="
# A time in one of these shapes has no UTC offset or zone, so DuckDB's cheap TIMESTAMP cast reads it exactly as the
# TIMESTAMPTZ cast (in UTC) does; any other text takes the ISO check and the zone-aware cast
# A time of hours and minutes with an offset or Z (2025-03-04T09:30+02:00) gets its seconds: DuckDB's TIMESTAMPTZ cast
# reads an offset only after seconds
NO_SECONDS = "regexp_replace({x}, '^(\\d{{4}}-\\d{{2}}-\\d{{2}}[T ]\\d{{2}}:\\d{{2}})([Zz+-])', '\\1:00\\2')"
PLAIN_TIMES = ("____-__-__", "____-__-__T__:__", "____-__-__ __:__", "____-__-__T__:__:__", "____-__-__ __:__:__")


@dataclass(frozen=True)
class Common:
    """What the common rules read: the file's columns and its kind's time field (none for clients). The rules
    use two columns computed once beneath them (see columns): _cid, the trimmed client id, and _t, the time."""

    mapping: Mapping
    time_field: str | None

    @property
    def tcol(self) -> str:
        return col(self.mapping, self.time_field)

    def text(self, field: str) -> str:
        """A stored text field's value as stored: trimmed, NFKC-normalised, null when empty (see columns)."""
        if field == "client_id":
            return "_cid"
        return f"_t_{field}" if field in self.mapping.fields else "null::varchar"

    def columns(self) -> tuple[list[str], list[str]]:
        """(the select list, the columns computed once beneath the rules)."""
        pre = [f"nfkc_text(nullif(trim({col(self.mapping, 'client_id')}), '')) as _cid"]
        pre += [
            f"nfkc_text(nullif(trim({x}), '')) as _t_{f}"
            for f in (*CODES, *LABELS)
            if f != "client_id" and (x := self.mapping.fields.get(f)) is not None
        ]
        select = ["_cid as client_id"]
        if self.time_field:
            tcol = self.tcol
            plain = " or ".join(f"{tcol} like '{shape}'" for shape in PLAIN_TIMES)
            # ISO 8601 only: DuckDB would also read words such as 'epoch' or 'infinity' as times
            iso = f"regexp_full_match(trim({tcol}), '\\d{{4}}-\\d{{2}}-\\d{{2}}([T ].*)?')"
            pre.append(
                f"case when {plain} then try_cast({tcol} as timestamp) "
                f"when {iso} then try_cast({NO_SECONDS.format(x=f'trim({tcol})')} as timestamptz)::timestamp end as _t"
            )
            select.append(f"_t as {self.time_field}")
        return select, pre


RULES = RuleSet("common")


@RULES.rule("client_id_missing")
def _client_id_missing(c: Common) -> Rule:
    return Rule(ref(c.mapping, "client_id"), "_cid is null", "'missing client_id'")


@RULES.rule("client_id_too_long")
def _client_id_too_long(c: Common) -> Rule:
    return Rule(
        ref(c.mapping, "client_id"),
        f"length(_cid) > {MAX_ID_LENGTH}",
        f"'client_id longer than {MAX_ID_LENGTH} characters'",
        col(c.mapping, "client_id"),
    )


@RULES.rule("time_missing")
def _time_missing(c: Common) -> Rule | None:
    if c.time_field:
        return Rule(ref(c.mapping, c.time_field), f"{c.tcol} is null", f"'missing {c.time_field}'")
    return None


@RULES.rule("time_unparseable")
def _time_unparseable(c: Common) -> Rule | None:
    if c.time_field:
        reason = "'unparseable date; use ISO 8601, e.g. 2024-03-01 or 2024-03-01T14:30'"
        return Rule(ref(c.mapping, c.time_field), "_t is null", reason, c.tcol)
    return None


@RULES.rule("time_in_future")
def _time_in_future(c: Common) -> Rule | None:
    if c.time_field:
        fails = f"_t > now()::timestamp + {FUTURE_SLACK}"
        return Rule(ref(c.mapping, c.time_field), fails, "'date is in the future'", c.tcol)
    return None


@RULES.rule("time_before_1970")
def _time_before_1970(c: Common) -> Rule | None:
    if c.time_field:
        return Rule(ref(c.mapping, c.time_field), "_t < timestamp '1970-01-01'", "'date before 1970'", c.tcol)
    return None


@RULES.rule("formula")
def _formula(c: Common) -> list[Rule]:
    """One per free-text field the file has; the gate looks for an = at all, not for a leading one."""
    return [
        Rule(
            ref(c.mapping, f),
            f"contains({x}, '=') and regexp_matches({x}, '^\\s*=')",
            lit(FORMULA_REASON),
            x,
            passes=f"{x} is null or not contains({x}, '=')",
        )
        for f in FREE_TEXT
        if (x := c.mapping.fields.get(f)) is not None
    ]


CODE_REASON = f"must be a code: letters and digits, with {' '.join(CODE_PUNCTUATION)} inside and no spaces"
LABEL_CHARACTERS = "letters, digits, spaces and - _ . , / + & ( ) ' % < > ≥ ≤ : #"


@RULES.rule("code_too_long")
def _code_too_long(c: Common) -> list[Rule]:
    """The other codes (clinician_id, session_id) have client_id's limit."""
    return [
        Rule(
            ref(c.mapping, f),
            f"length({c.text(f)}) > {MAX_ID_LENGTH}",
            lit(f"{f} longer than {MAX_ID_LENGTH} characters"),
            x,
        )
        for f in CODES
        if f != "client_id" and (x := c.mapping.fields.get(f)) is not None
    ]


@RULES.rule("code_form")
def _code_form(c: Common) -> list[Rule]:
    """A code (client_id, clinician_id, session_id) is a pseudonym, not a name: no spaces, no other punctuation."""
    return [
        Rule(ref(c.mapping, f), f"not regexp_full_match({c.text(f)}, '{CODE_SQL}')", lit(f"{f} {CODE_REASON}"), x)
        for f in CODES
        if (x := c.mapping.fields.get(f)) is not None
    ]


@RULES.rule("label_too_long")
def _label_too_long(c: Common) -> list[Rule]:
    return [
        Rule(
            ref(c.mapping, f),
            f"length({c.text(f)}) > {MAX_LABEL_LENGTH}",
            lit(f"{f} longer than {MAX_LABEL_LENGTH} characters"),
            x,
        )
        for f in LABELS
        if (x := c.mapping.fields.get(f)) is not None
    ]


@RULES.rule("label_characters")
def _label_characters(c: Common) -> list[Rule]:
    return [
        Rule(
            ref(c.mapping, f),
            f"not regexp_full_match({c.text(f)}, '{LABEL_SQL}')",
            lit(f"{f} may hold only {LABEL_CHARACTERS}"),
            x,
        )
        for f in LABELS
        if (x := c.mapping.fields.get(f)) is not None
    ]


def vocabulary(con, lookup: str, value: str, raw: str, source: str, alias: str) -> str:
    """A left join giving `alias.value`, the vocabulary term for the text in `raw`. The text is normalised once
    per distinct value (a file has a handful of them), not once per row."""
    con.execute(
        f"""create or replace temp table {lookup}_map as
            select d.raw, t.{value} from (select distinct {raw} as raw from {source}) d
            left join {lookup} t on t.label = {NORMALISE_SQL.format(x="d.raw")}"""
    )
    return f" left join {lookup}_map {alias} on {alias}.raw = {raw}"
