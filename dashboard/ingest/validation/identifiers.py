"""Values that look like identifiers (refusing the whole file), and rejected values as they may be shown.

Column references in the generated SQL are positional names (c0, c1, ...) that the reader assigned, never text
taken from a file."""

from __future__ import annotations

import re

import duckdb
import pandas as pd

from dashboard.ingest.contract import TIME_FIELD, Mapping

EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
SSN = r"\d{3}-\d{2}-\d{4}"
# North-American style 3-3-4 with or without separators, or an international number starting with +.
PHONE = r"(\+?1[\s.\-]?)?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}|\+\d{1,3}[\s.\-]?\d[\d\s.\-]{7,14}\d"
WHERE_SCAN_MAX_COLUMNS = 200  # beyond this, one filter over every column binds slowly (see find_identifier_value)


def numeric_columns(mapping: Mapping) -> frozenset[int]:
    """Positions of the columns whose every valid value is a number (scores, items, doses, prior treatments):
    a plain CSV file's reader may read them as numbers (read.attach)."""
    cols = [mapping.fields[f] for f in ("score", "dose_mg", "prior_treatments") if f in mapping.fields]
    cols += list(mapping.items.values()) + list(mapping.wide.values())
    return frozenset(int(c[1:]) for c in cols)


def find_identifier_value(
    con: duckdb.DuckDBPyConnection, mapping: Mapping, headers: list[str], typed: frozenset[int] = frozenset()
):
    """The first cell (line, header, what, masked value) that looks like an e-mail, SSN or phone number.
    Time columns are searched for e-mail addresses and SSNs only (a compact date-time has phone-like digits).
    Columns in `typed` hold numbers the reader has checked cannot be any of these (read.attach)."""
    time_cols = sorted(mapping.fields[f] for f in TIME_FIELD.values() if f in mapping.fields)
    text = [j for j in range(len(headers)) if j not in typed]
    if not text:
        return None
    params = {"email": EMAIL, "ssn": SSN, "phone": PHONE, "time_cols": time_cols}
    where = ""
    if len(text) <= WHERE_SCAN_MAX_COLUMNS:
        # a plain filter finds the first line with a hit, with no row per cell; the UNPIVOT below then names the
        # cell on that line only
        hits = " or ".join(_identifier_test(f"c{j}", f"c{j}" in time_cols) for j in text)
        used = {k: v for k, v in params.items() if f"${k}" in hits}
        line = con.execute(f"select min(_line) from _raw where {hits}", used).fetchone()[0]
        if line is None:
            return None
        where, params["line"] = "where _line = $line", line
    cols = ", ".join(f"c{j}" for j in text)
    # one UNPIVOT (nulls dropped), not a union of one select per column: that grew super-linearly with the
    # number of columns (1,000 columns took a minute, 5,000 exhausted memory)
    row = con.execute(
        f"""select _line, col, v,
                case when regexp_full_match(v, $email) then 'an e-mail address'
                     when regexp_full_match(v, $ssn) then 'a social security number'
                     else 'a phone number' end as what
            from (unpivot (select _line, {cols} from _raw {where}) on {cols} into name col value v)
            where {_identifier_test("v", "list_contains($time_cols, col)")}
            order by _line, cast(substr(col, 2) as integer) limit 1""",
        params,
    ).fetchone()
    if row is None:
        return None
    line, col, value, what = row
    return line, headers[int(col[1:])], what, mask_all(value)


def _identifier_test(v: str, is_time: bool | str) -> str:
    """SQL: `v` looks like an e-mail address, an SSN or (unless `is_time`) a phone number. Cheap tests on the
    length and an @ go first: most cells are far from any of these."""
    phone = (
        ""
        if is_time is True
        else (
            f" or (length({v}) <= 24 and regexp_full_match({v}, $phone))"
            if is_time is False
            else f" or (length({v}) <= 24 and not {is_time} and regexp_full_match({v}, $phone))"
        )
    )
    return (
        f"(length({v}) >= 9 and ((contains({v}, '@') and regexp_full_match({v}, $email)) "
        f"or (length({v}) = 11 and regexp_full_match({v}, $ssn)){phone}))"
    )


def mask_all(value: str) -> str:
    """Hide every letter and digit, keeping the shape (j.doe@x.org -> •••••@•.•••)."""
    return re.sub(r"[A-Za-z0-9]", "•", value)[:40]


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
    text = re.sub(EMAIL, lambda m: mask_all(m.group()), text)
    return re.sub(r"\d{7,}", lambda m: "•" * len(m.group()), text)


def mask(field: str | None, value) -> str | None:
    """A rejected raw value as it may be shown: numbers and vocabularies as given, identifiers and dates
    partly hidden (only the year of a date is kept), anything identifier-shaped hidden whole."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value)
    if re.search(r"@|\d{7,}", text) or re.fullmatch(PHONE, text.strip()) or re.fullmatch(SSN, text.strip()):
        return mask_all(text)
    if field in ("session_at", "assessed_at"):
        # keep a four-digit year (no finer than Safe Harbor allows), hide every other digit
        return re.sub(r"(?<!\d)((?:19|20)\d\d)(?!\d)|\d", lambda m: m.group(1) or "•", text[:32])
    if field in ("client_id", "clinician_id", "session_id"):
        return text[:2] + "•" * min(len(text) - 2, 20) if len(text) > 2 else text
    return text[:40] + ("…" if len(text) > 40 else "")
