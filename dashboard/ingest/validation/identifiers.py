"""Values that look like identifiers (refusing the whole file), the form a stored text field must have, and any
file text as it may be shown or stored in a message.

Every check reads text after Unicode NFKC normalisation (full-width digits and ＠ become 0-9 and @). Each detector
is declared once (DETECTORS) in the part of regular-expression syntax that DuckDB's RE2 and Python's `re` read
alike (ASCII classes, case-insensitive), so the same pattern scans millions of cells in SQL and checks one header,
file name or rejected value in Python (tests/test_identifiers.py holds them to agreeing).

Column references in the generated SQL are positional names (c0, c1, ...) that the reader assigned, never text
taken from a file."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import duckdb
import pandas as pd

from dashboard.ingest.contract import TIME_FIELD, Mapping

# The stored text fields, by the form their values must have (the rules in common.py):
CODES = ("client_id", "clinician_id", "session_id")  # pseudonymous codes
LABELS = ("site", "condition", "age_band", "sex", "modality")  # short labels (vocabulary or the clinic's own)
VOCABULARY = ("session_type", "instrument")  # looked up in a vocabulary; never stored as given
NUMERIC = ("score", "dose_mg", "prior_treatments")
MAX_LABEL_LENGTH = 80
CODE_PUNCTUATION = "._:#/-"
LABEL_PUNCTUATION = " _.,/+&()'%<>≥≤:#-"
CODE_SQL = "^[\\p{L}\\p{N}][\\p{L}\\p{N}" + re.escape(CODE_PUNCTUATION).replace("'", "''") + "]*$"
LABEL_SQL = "^[\\p{L}\\p{N}" + re.escape(LABEL_PUNCTUATION).replace("'", "''") + "]+$"

# Where a detector looks: every text cell ("any"), the stored code and label fields and the vocabulary fields
# ("stored"), or the stored label and vocabulary fields only ("label": a code such as 10023 is not a ZIP code).
# Time columns are searched by the "any" detectors that cannot match a time (e-mail, SSN, address), not for phones.
_MONTH = "(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\\.?"
_STREET = "(street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|terrace|crescent|highway|hwy|parkway|drive)"


@dataclass(frozen=True)
class Detector:
    """One kind of identifier. A cell (NFKC, trimmed) is a hit when its length is within `lengths`, it holds one of
    `needs` (if any; letters compared in lower case), its digits number within `digits`, and `pattern` is found in
    it (matches all of it, if `full`). The first three are cheap tests that spare most cells the pattern."""

    name: str
    what: str  # "holds what looks like {what}"
    pattern: str
    where: str  # any | stored | labels
    full: bool = False
    in_times: bool = True  # also looked for in the time columns
    lengths: tuple[int, int] = (1, 10**9)
    needs: tuple[str, ...] = ()
    digits: tuple[int, int] | None = None


DETECTORS = (
    Detector(
        "email",
        "an e-mail address",
        "[^\\s@<>()\\[\\],;:\"']+@[^\\s@<>()\\[\\],;:\"']+\\.[^\\s@<>()\\[\\],;:\"'.]{2,}",
        "any",
        lengths=(6, 10**9),
        needs=("@",),
    ),
    Detector(
        "email_spelled",
        "an e-mail address",
        "[a-z0-9]\\s*[(\\[{]\\s*at\\s*[)\\]}]\\s*[a-z0-9]",
        "any",
        lengths=(6, 10**9),
        needs=("(", "[", "{"),
    ),
    Detector("mailto", "an e-mail address", "mailto:", "any", needs=("mailto:",)),
    Detector(
        "ssn", "a social security number", "\\d{3}[ .\\-]?\\d{2}[ .\\-]?\\d{4}", "any", full=True, lengths=(9, 11)
    ),
    Detector(
        "phone",
        "a phone number",
        "\\+?[\\d\\s().\\-]*\\d[\\d\\s().\\-]*((x|ext\\.?|extension)\\s*\\d{1,6})?",
        "any",
        full=True,
        in_times=False,
        lengths=(9, 40),
        digits=(9, 20),
    ),
    Detector(
        "address",
        "a street address",
        f"\\b\\d+[a-z]?\\s+([a-z'.\\-]+\\s+){{0,3}}{_STREET}\\b|\\b(flat|apt|apartment)\\s+#?\\s*\\d"
        "|\\bp\\.?\\s?o\\.?\\s+box\\b",
        "any",
        lengths=(6, 10**9),
        needs=(" ",),
    ),
    Detector(
        "date",
        "a full date",
        "\\b\\d{4}[/.\\-]\\d{1,2}[/.\\-]\\d{1,2}(\\b|t)|\\b\\d{1,2}[/.\\-]\\d{1,2}[/.\\-](\\d{4}|\\d{2})\\b"
        f"|\\b\\d{{1,2}}(st|nd|rd|th)?\\s+{_MONTH},?\\s+\\d{{4}}\\b|\\b{_MONTH}\\s+\\d{{1,2}}(st|nd|rd|th)?,?\\s+\\d{{4}}\\b",
        "stored",
        lengths=(6, 10**9),
        needs=("-", "/", ".", " "),
    ),
    Detector(
        "zip",
        "a ZIP code or postcode",
        "\\d{5}(-\\d{4})?|[a-z]{1,2}\\d[a-z\\d]?\\s*\\d[a-z]{2}",
        "label",
        full=True,
        lengths=(5, 10),
    ),
)
_COMPILED = {d.name: re.compile(d.pattern, re.ASCII | re.IGNORECASE) for d in DETECTORS}
WHERE_SCAN_MAX_COLUMNS = 200  # beyond this, one filter over every column binds slowly (see find_identifier_value)


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def register(con) -> None:
    """Give the connection's database SQL macro nfkc_text(x): x after NFKC normalisation (ASCII text, which NFKC
    leaves as it is, skips the Python call)."""
    # registered once per database (a function belongs to the database, not the connection or cursor), so
    # another connection or an earlier import may have done it
    try:
        con.create_function("_nfkc", nfkc, ["VARCHAR"], "VARCHAR", side_effects=False)
    except duckdb.Error as error:
        if "already" not in str(error).lower():
            raise
    con.execute("create or replace temp macro nfkc_text(x) as case when strlen(x) = length(x) then x else _nfkc(x) end")


def detect(text: str | None, where: str = "any", is_time: bool = False) -> str | None:
    """What `text` looks like (Detector.what) in a cell of that kind (where: 'any', 'code' or 'label'; a time
    column's cells are 'any' with is_time), or None."""
    if text is None:
        return None
    v = nfkc(str(text)).strip()
    for d in DETECTORS:
        if _applies(d, where, is_time) and _hit(d, v):
            return d.what
    return None


def _hit(d: Detector, v: str) -> bool:
    if not d.lengths[0] <= len(v) <= d.lengths[1]:
        return False
    if d.needs and not any(n in (v.lower() if n.lower() != n.upper() else v) for n in d.needs):
        return False
    if d.digits and not d.digits[0] <= sum(c in "0123456789" for c in v) <= d.digits[1]:
        return False
    return bool(_COMPILED[d.name].fullmatch(v) if d.full else _COMPILED[d.name].search(v))


def _applies(d: Detector, where: str, is_time: bool) -> bool:
    if is_time and not d.in_times:
        return False
    return d.where == "any" or (d.where == "stored" and where in ("code", "label")) or (d.where == where == "label")


def _sql_hit(d: Detector, v: str) -> str:
    """SQL: `_hit` on the NFKC text `v`."""
    lo, hi = d.lengths
    parts = [f"length({v}) >= {lo}" if hi >= 10**9 else f"length({v}) between {lo} and {hi}"]
    if d.needs:
        parts.append(
            "("
            + " or ".join(
                f"contains({'lower(' + v + ')' if n.lower() != n.upper() else v}, '{n.replace(chr(39), chr(39) * 2)}')"
                for n in d.needs
            )
            + ")"
        )
    if d.digits:
        parts.append(f"length(regexp_replace({v}, '[^0-9]', '', 'g')) between {d.digits[0]} and {d.digits[1]}")
    pattern = "(?i)" + d.pattern.replace("'", "''")
    parts.append(f"regexp_full_match({v}, '{pattern}')" if d.full else f"regexp_matches({v}, '{pattern}')")
    return "(" + " and ".join(parts) + ")"


def sql_detectors(v: str, where: str, is_time: bool) -> list[tuple[str, str]]:
    """(what, SQL condition on the NFKC text `v`) for each detector that applies to a cell of this kind."""
    return [(d.what, _sql_hit(d, v)) for d in DETECTORS if _applies(d, where, is_time)]


def numeric_columns(mapping: Mapping) -> frozenset[int]:
    """Positions of the columns whose every valid value is a number (scores, items, doses, prior treatments):
    a plain CSV file's reader may read them as numbers (read.attach)."""
    cols = [mapping.fields[f] for f in NUMERIC if f in mapping.fields]
    cols += list(mapping.items.values()) + list(mapping.wide.values())
    return frozenset(int(c[1:]) for c in cols)


def _role(mapping: Mapping, column: str) -> tuple[str, bool]:
    """(where a detector looks: code, label or any; whether it is a time column) for a positional column."""
    field = field_of(mapping, column)
    if field in CODES:
        return "code", False
    if field in LABELS or field in VOCABULARY:
        return "label", False
    return "any", field in TIME_FIELD.values()


def find_identifier_value(
    con: duckdb.DuckDBPyConnection, mapping: Mapping, headers: list[str], typed: frozenset[int] = frozenset()
):
    """The first cell (line, column as shown, what, masked value) that looks like an identifier (DETECTORS).
    Columns in `typed` hold numbers the reader has checked cannot be any of these (read.attach)."""
    register(con)
    text = [j for j in range(len(headers)) if j not in typed]
    if not text:
        return None
    tests = {j: _cell_test(f"nfkc_text(c{j})", *_role(mapping, f"c{j}")) for j in text}
    where, params = "", {}
    if len(text) <= WHERE_SCAN_MAX_COLUMNS:
        # a plain filter finds the first line with a hit, with no row per cell; the UNPIVOT below then names the
        # cell on that line only
        hits = " or ".join(f"({tests[j]})" for j in text)
        line = con.execute(f"select min(_line) from _raw where {hits}").fetchone()[0]
        if line is None:
            return None
        where, params = "where _line = $line", {"line": line}
    # one UNPIVOT per role (nulls dropped), not a union of one select per column: that grew super-linearly with
    # the number of columns (1,000 columns took a minute, 5,000 exhausted memory)
    found = []
    for role in sorted({_role(mapping, f"c{j}") for j in text}):
        cols = ", ".join(f"c{j}" for j in text if _role(mapping, f"c{j}") == role)
        cases = " ".join(f"when {sql} then '{what}'" for what, sql in sql_detectors("nfkc_text(v)", *role))
        if not cases:
            continue
        row = con.execute(
            f"""select _line, cast(substr(col, 2) as integer) as j, v, case {cases} end as what
                from (unpivot (select _line, {cols} from _raw {where}) on {cols} into name col value v)
                where {_cell_test("nfkc_text(v)", *role)}
                order by _line, j limit 1""",
            params,
        ).fetchone()
        if row is not None:
            found.append(row)
    if not found:
        return None
    line, j, value, what = min(found, key=lambda r: (r[0], r[1]))
    return line, shown_header(headers[j], j, mapping), what, mask_all(value)


def _cell_test(v: str, where: str, is_time: bool) -> str:
    return " or ".join(sql for _, sql in sql_detectors(v, where, is_time)) or "false"


def mask_all(value: str) -> str:
    """Hide every letter and digit, keeping the shape (j.doe@x.org -> •••••@•.•••), at most 40 characters."""
    return re.sub(r"\w", "•", nfkc(str(value)))[:40]


def field_of(mapping: Mapping, col) -> str | None:
    """The contract field a positional column (c3) holds, for choosing how to mask it."""
    if not isinstance(col, str):
        return None
    for f, c in mapping.fields.items():
        if c == col:
            return f
    for n, c in mapping.items.items():
        if c == col:
            return f"item_{n}"
    for _, c in mapping.wide.items():
        if c == col:
            return "score"
    return None


def mask_text(text: str) -> str:
    """A reason or message with anything identifier-shaped in it hidden (long digit runs, e-mail addresses)."""
    text = re.sub(_COMPILED["email"], lambda m: mask_all(m.group()), text)
    return re.sub(r"\d{7,}", lambda m: "•" * len(m.group()), text)


def is_code(text: str) -> bool:
    """The form of a stored code (client_id, clinician_id, session_id): letters and digits, with . _ : # / -
    inside, no spaces (CODE_SQL)."""
    return bool(text) and text[0].isalnum() and all(c.isalnum() or c in CODE_PUNCTUATION for c in text)


def is_label(text: str) -> bool:
    """The form of a stored label: at most MAX_LABEL_LENGTH letters, digits, spaces and LABEL_PUNCTUATION."""
    return 0 < len(text) <= MAX_LABEL_LENGTH and all(c.isalnum() or c in LABEL_PUNCTUATION for c in text)


def mask(field: str | None, value) -> str | None:
    """A rejected raw value as it may be stored and shown: a number in a number column as it is; a time made only of
    digits and separators with every digit but a four-digit year hidden (no finer than Safe Harbor allows); anything
    else, and anything a detector flags or with a run of 7 or more digits, as its shape (every letter and digit
    hidden: "Jane Doe" is "•••• •••"). Text is never shown as given: a rejected label, code or vocabulary word could
    be a name."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = nfkc(str(value)).strip()
    where = "code" if field in CODES else "label" if field in LABELS or field in VOCABULARY else "any"
    is_time = field in TIME_FIELD.values()
    if detect(text, where, is_time) or re.search(r"\d{7,}", text):
        return mask_all(text)
    if is_time and re.fullmatch(r"[\d\s:T.+\-/Z]+", text):
        return re.sub(r"(?<!\d)((?:19|20)\d\d)(?!\d)|\d", lambda m: m.group(1) or "•", text[:32])
    if (field in NUMERIC or (field or "").startswith("item_")) and re.fullmatch(
        r"[+\-]?(\d*\.?\d+(e[+\-]?\d+)?|nan|inf|infinity)", text, re.I
    ):
        return text
    return mask_all(text)


def safe_text(text: str) -> bool:
    """Whether file text (a header, a file name) may be shown and stored as given: a label's form, and nothing a
    detector would refuse as a stored label."""
    t = nfkc(str(text)).strip()
    return is_label(t) and detect(t, "label") is None


def shown_header(header: str, j: int, mapping: Mapping | None = None) -> str:
    """A file's column as a message names it: its header when the contract recognised it or it is safe text,
    else its position ("column 3")."""
    if mapping is not None and f"c{j}" in {*mapping.fields.values(), *mapping.items.values(), *mapping.wide.values()}:
        return header
    return header if safe_text(header) else f"column {j + 1}"


def shown_file_name(name: str) -> str:
    """A file's name as it is stored and shown: as given unless it holds what looks like an e-mail address, phone
    number, SSN or street address (a file name may hold dates), else its extension only."""
    stem, dot, ext = str(name).rpartition(".")
    if not dot:
        stem, ext = str(name), ""
    spaced = re.sub(r"[_+]", " ", stem)
    if any(detect(s) for s in (stem, spaced)) or re.search(r"\d{9,}", stem):
        return "(file name withheld: it looks like it holds an identifier)" + (f".{ext}" if ext else "")
    return str(name)
