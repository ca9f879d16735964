"""Row checks as SQL: identifier-looking values, and per kind the typed row or its first failing check.

Column references in the generated SQL are positional names (c0, c1, ...) that the reader assigned and
canonical field names from the contract, never text taken from a file."""

from __future__ import annotations

import re

import duckdb
import pandas as pd

from dashboard.ingest.contract import (
    MODALITY_LOOKUP,
    SESSION_TYPE_LOOKUP,
    SESSION_TYPES,
    TIME_FIELD,
    Mapping,
)

EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
SSN = r"\d{3}-\d{2}-\d{4}"
# North-American style 3-3-4 with or without separators, or an international number starting with +.
PHONE = r"(\+?1[\s.\-]?)?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}|\+\d{1,3}[\s.\-]?\d[\d\s.\-]{7,14}\d"
NORMALISE_SQL = "lower(regexp_replace({x}, '[\\s\\-_/]+', '', 'g'))"
FUTURE_SLACK = "interval 1 day"  # naive local times of clinics east of UTC may read as slightly ahead
MAX_ID_LENGTH = 64
# fields stored as the file gives them (no vocabulary, not numbers or times): a value starting with = would be run
# as a formula by a spreadsheet that opens any export of them, so the row is rejected
FREE_TEXT = ("client_id", "site", "condition", "age_band", "sex", "modality", "clinician_id", "session_id")
FORMULA_REASON = "starts with =, which a spreadsheet would run as a formula; remove the ="


def find_identifier_value(con: duckdb.DuckDBPyConnection, mapping: Mapping, headers: list[str]):
    """The first cell (line, header, what, masked value) that looks like an e-mail, SSN or phone number.
    Time columns are searched for e-mail addresses and SSNs only (a compact date-time has phone-like digits)."""
    time_cols = sorted(mapping.fields[f] for f in TIME_FIELD.values() if f in mapping.fields)
    cols = ", ".join(f"c{j}" for j in range(len(headers)))
    # one UNPIVOT (nulls dropped), not a union of one select per column: that grew super-linearly with the
    # number of columns (1,000 columns took a minute, 5,000 exhausted memory)
    row = con.execute(
        f"""select _line, col, v,
                case when regexp_full_match(v, $email) then 'an e-mail address'
                     when regexp_full_match(v, $ssn) then 'a social security number'
                     else 'a phone number' end as what
            from (unpivot (select _line, {cols} from _raw) on {cols} into name col value v)
            where length(v) >= 9
              and (regexp_full_match(v, $email) or regexp_full_match(v, $ssn)
                   or (not list_contains($time_cols, col) and regexp_full_match(v, $phone)))
            order by _line, cast(substr(col, 2) as integer) limit 1""",
        {"email": EMAIL, "ssn": SSN, "phone": PHONE, "time_cols": time_cols},
    ).fetchone()
    if row is None:
        return None
    line, col, value, what = row
    return line, headers[int(col[1:])], what, mask_all(value)


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
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value)
    if re.search(r"@|\d{7,}", text):
        return mask_all(text)
    if field in ("session_at", "assessed_at"):
        # keep a four-digit year (no finer than Safe Harbor allows), hide every other digit
        return re.sub(r"(?<!\d)((?:19|20)\d\d)(?!\d)|\d", lambda m: m.group(1) or "•", text[:32])
    if field in ("client_id", "clinician_id", "session_id"):
        return text[:2] + "•" * min(len(text) - 2, 20) if len(text) > 2 else text
    return text[:40] + ("…" if len(text) > 40 else "")


def _col(mapping: Mapping, field: str) -> str:
    return mapping.fields.get(field, "null::varchar")


def _ref(mapping: Mapping, field: str) -> str:
    """The column a check reports: the file's column when the field is there, else the field's name."""
    return _lit(mapping.fields.get(field, field))


def _case(checks: list[tuple[str, str, str, str]]) -> str:
    """checks: (condition, column ref literal, reason expression, raw value expression) -> first failing."""
    if not checks:
        return "null::struct(col varchar, reason varchar, raw varchar)"
    whens = "\n".join(
        f"when {cond} then struct_pack(col := {col}, reason := {reason}, raw := {raw}::varchar)"
        for cond, col, reason, raw in checks
    )
    return f"case {whens} else null end"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _common(mapping: Mapping, time_field: str | None) -> tuple[list[str], list]:
    """Select-list items and checks shared by every kind: the client id and the time column."""
    cid = _col(mapping, "client_id")
    select = [f"nullif(trim({cid}), '') as client_id"]
    checks = [
        (f"nullif(trim({cid}), '') is null", _ref(mapping, 'client_id'), "'missing client_id'", "null"),
        (f"length(trim({cid})) > {MAX_ID_LENGTH}", _ref(mapping, 'client_id'),
         f"'client_id longer than {MAX_ID_LENGTH} characters'", cid),
    ]
    if time_field:
        tcol = _col(mapping, time_field)
        # ISO 8601 only: DuckDB would also read words such as 'epoch' or 'infinity' as times
        iso = f"regexp_full_match(trim({tcol}), '\\d{{4}}-\\d{{2}}-\\d{{2}}([T ].*)?')"
        parsed = f"case when {iso} then try_cast(trim({tcol}) as timestamptz)::timestamp end"
        select.append(f"{parsed} as {time_field}")
        checks += [
            (f"{tcol} is null", _ref(mapping, time_field), f"'missing {time_field}'", "null"),
            (f"{parsed} is null", _ref(mapping, time_field),
             "'unparseable date; use ISO 8601, e.g. 2024-03-01 or 2024-03-01T14:30'", tcol),
            (f"{parsed} > now()::timestamp + {FUTURE_SLACK}", _ref(mapping, time_field),
             "'date is in the future'", tcol),
            (f"{parsed} < timestamp '1970-01-01'", _ref(mapping, time_field), "'date before 1970'", tcol),
        ]
    checks += [(f"regexp_matches({mapping.fields[f]}, '^\\s*=')", _ref(mapping, f), _lit(FORMULA_REASON),
                mapping.fields[f]) for f in FREE_TEXT if f in mapping.fields]
    return select, checks


def build_checked(con: duckdb.DuckDBPyConnection, mapping: Mapping, known: dict) -> None:
    """Create temp table _checked: one row per input record, typed, with _column/_reason/_raw of the
    first failing check (null when the record is valid)."""
    con.execute(
        "create or replace temp macro fmtnum(x) as case when x = round(x) and abs(x) < 1e15 "
        "then cast(cast(x as bigint) as varchar) else cast(x as varchar) end"
    )
    if mapping.kind == "clients":
        _clients(con, mapping)
    elif mapping.kind == "sessions":
        _sessions(con, mapping)
    else:
        _scores(con, mapping, known)


def _finish(con, select: list[str], checks: list, source: str = "_raw", joins: str = "") -> None:
    con.execute(
        f"""create temp table _checked as
        select * exclude (_fail), _fail.col as _column, _fail.reason as _reason, _fail.raw as _raw
        from (select r._line as _line, {', '.join(select)}, {_case(checks)} as _fail
              from {source} r {joins})"""
    )


def _clients(con, mapping: Mapping) -> None:
    select, checks = _common(mapping, None)
    prior = _col(mapping, "prior_treatments")
    prior_num = f"try_cast({prior} as double)"
    for f in ("site", "condition", "age_band", "sex"):
        select.append(f"nullif(trim({_col(mapping, f)}), '') as {f}")
    select.append(f"try_cast({prior_num} as integer) as prior_treatments")
    checks += [
        (f"{prior} is not null and ({prior_num} is null or {prior_num} <> round({prior_num}) "
         f"or {prior_num} < 0 or {prior_num} > 100)", _ref(mapping, 'prior_treatments'),
         "'prior_treatments must be a whole number of treatments (0 or more)'", prior),
    ]
    _finish(con, select, checks)


def _sessions(con, mapping: Mapping) -> None:
    select, checks = _common(mapping, "session_at")
    stype, modality, dose = (_col(mapping, f) for f in ("session_type", "modality", "dose_mg"))
    con.execute("create or replace temp table _stypes (label varchar, session_type varchar)")
    con.executemany("insert into _stypes values (?, ?)", list(SESSION_TYPE_LOOKUP.items()))
    con.execute("create or replace temp table _modalities (label varchar, modality varchar)")
    con.executemany("insert into _modalities values (?, ?)", list(MODALITY_LOOKUP.items()))
    norm_type = NORMALISE_SQL.format(x=stype)
    norm_mod = NORMALISE_SQL.format(x=modality)
    stype_sql = f"case when nullif(trim({stype}), '') is null then 'dosing' else st.session_type end"
    dose_num = f"try_cast({dose} as double)"
    select += [
        f"{stype_sql} as session_type",
        f"coalesce(m.modality, nullif(trim({modality}), '')) as modality",
        f"nullif(trim({modality}), '') as modality_label",
        f"{dose_num} as dose_mg",
        f"nullif(trim({_col(mapping, 'clinician_id')}), '') as clinician_id",
        f"nullif(trim({_col(mapping, 'site')}), '') as site",
        f"nullif(trim({_col(mapping, 'session_id')}), '') as session_id",
    ]
    checks += [
        (f"({stype_sql}) is null", _ref(mapping, 'session_type'),
         _lit(f"unknown session_type; use one of {', '.join(SESSION_TYPES)}"), stype),
        (f"({stype_sql}) = 'dosing' and nullif(trim({modality}), '') is null", _ref(mapping, 'modality'),
         "'dosing session without a modality'", "null"),
        (f"{dose} is not null and ({dose_num} is null or not isfinite({dose_num}) or {dose_num} < 0 "
         f"or {dose_num} > 10000)", _ref(mapping, "dose_mg"),
         "'dose_mg must be a number of milligrams (0 or more)'", dose),
    ]
    _finish(con, select, checks, joins=f"left join _stypes st on st.label = {norm_type} "
            f"left join _modalities m on m.label = {norm_mod}")


def _scores(con, mapping: Mapping, known: dict) -> None:
    con.execute("create or replace temp table _labels (label varchar, instrument varchar)")
    from dashboard.instruments import resolver

    con.executemany("insert into _labels values (?, ?)", list(resolver(known).items()))
    known_list = ", ".join(sorted(known))
    select, checks = _common(mapping, "assessed_at")
    if mapping.kind == "scores_wide":
        source = _wide_source(mapping)
        inst_raw, score_raw, items = "_instrument_raw", "_score_raw", {}
        inst_ref = score_ref = "r._score_col"
        wide_cols = ", ".join(sorted(mapping.wide))
        checks.append(("r._instrument_raw is null", "null",
                       _lit(f"no score in any instrument column ({wide_cols})"), "null"))
    else:
        source, inst_raw, score_raw = "_raw", _col(mapping, "instrument"), _col(mapping, "score")
        inst_ref, score_ref = _ref(mapping, "instrument"), _ref(mapping, "score")
        items = mapping.items
    norm_inst = NORMALISE_SQL.format(x=inst_raw)
    instrument = "l.instrument"
    # typed once in inner selects, so the many checks below read columns instead of re-casting text; the item
    # list, its sum and the number of item cells given are columns too (a file may have hundreds of item columns,
    # and each check would otherwise repeat them: 999 item columns took 90 s and a chain of + over them exceeded
    # DuckDB's expression depth limit)
    top = max(items) if items else 0
    cells = {n: items.get(n) for n in range(1, top + 1)}
    nums = {n: (f"_item_{n}" if c else "null::double") for n, c in cells.items()}
    typed = [f"try_cast({score_raw} as double) as _score_num"]
    typed += [f"try_cast({c} as double) as _item_{n}" for n, c in items.items()]
    score_num = "_score_num"
    if items:
        typed.append("list_sum([" + ", ".join(f"({c} is not null)::int" for c in items.values()) + "]) as _n_given")
        source = f"(select r0.*, {', '.join(typed)} from {source} r0)"
        source = f"(select r1.*, [{', '.join(nums.values())}] as _item_list from {source} r1)"
        source = (f"(select r2.*, list_sum(list_filter(r2._item_list, lambda x: x is not null)) as _item_sum "
                  f"from {source} r2)")
        item_list, n_given, item_sum = "_item_list", "_n_given", "_item_sum"
    else:
        source = f"(select r0.*, {', '.join(typed)} from {source} r0)"
        item_list, n_given, item_sum = "null::double[]", "0", "null"
    total = f"coalesce({score_num}, {item_sum})" if items else score_num
    select += [
        f"{instrument} as instrument",
        f"{total} as score",
        f"case when {n_given} > 0 then try_cast(list_slice({item_list}, 1, i.n_items) as smallint[]) end as items"
        if items else "null::smallint[] as items",
        f"nullif(trim({_col(mapping, 'session_id')}), '') as session_id",
    ]
    checks += [
        (f"nullif(trim({inst_raw}), '') is null", inst_ref, "'missing instrument'", "null"),
        (f"{instrument} is null", inst_ref,
         _lit(f"unknown instrument; known: {known_list}. To add one, define it in a TOML file "
              "(see data/examples/instruments.toml) and import with --instruments FILE"), inst_raw),
        (f"{score_raw} is not null and ({score_num} is null or not isfinite({score_num}))", score_ref,
         "'score is not a number'", score_raw),
    ]
    if items:
        # checks that need n <= i.n_items can never fail for an item number beyond every instrument's count
        most = max((i.n_items or 0) for i in known.values())
        for n, c in items.items():
            num = nums[n]
            checks.append((f"{c} is not null and ({num} is null or not isfinite({num}))", _lit(c),
                           _lit(f"item_{n} is not a number"), c))
        checks.append((f"{n_given} > 0 and i.n_items is null", "null",
                       "i.name || ' has no item definition, so item columns cannot be used'", "null"))
        for n, c in cells.items():
            if c is None:  # a gap in the file's item columns (item_1 to item_3, item_5 to item_9: no item_4)
                if n <= most:
                    checks.append((f"{n_given} > 0 and {n} <= i.n_items", _lit(f"item_{n}"),
                                   f"i.name || ' needs ' || i.n_items || ' items (item_1 to item_' || i.n_items || "
                                   f"'); the file has no item_{n} column'", "null"))
                continue
            if n <= most:
                checks.append((f"{n_given} > 0 and {n} <= i.n_items and {c} is null", _lit(c),
                               f"i.name || ' needs ' || i.n_items || ' items (item_1 to item_' || i.n_items || "
                               f"'); item_{n} is empty'", "null"))
            checks.append((f"{n} > i.n_items and {c} is not null", _lit(c),
                           f"i.name || ' has ' || i.n_items || ' items; item_{n} should be empty'", c))
        # fewer item columns in the file than the instrument has items
        checks.append((f"{n_given} > 0 and {top} < i.n_items", _lit(f"item_{top + 1}"),
                       f"i.name || ' needs ' || i.n_items || ' items (item_1 to item_' || i.n_items || "
                       f"'); the file has no item_{top + 1} column'", "null"))
        for n, c in items.items():
            num = nums[n]
            if n > most:
                continue
            checks.append((f"{num} is not null and {n} <= i.n_items and ({num} < i.item_min or {num} > i.item_max "
                           f"or {num} <> round({num}))", _lit(c),
                           f"'item_{n} must be a whole number from ' || fmtnum(i.item_min) || ' to ' || "
                           "fmtnum(i.item_max)", c))
        checks.append((f"{n_given} > 0 and {score_num} is not null and {score_num} <> {item_sum}", score_ref,
                       f"'score ' || fmtnum({score_num}) || ' disagrees with the sum of its items (' || "
                       f"fmtnum({item_sum}) || ')'", score_raw))
    checks += [
        (f"{total} is null", score_ref, "'missing score'", "null"),
        (f"{total} < i.min_score or {total} > i.max_score", score_ref,
         f"'score ' || fmtnum({total}) || ' outside the ' || i.name || ' range ' || fmtnum(i.min_score) || "
         "'–' || fmtnum(i.max_score)", score_raw),
    ]
    _finish(con, select, checks, source=source,
            joins=f"left join _labels l on l.label = {norm_inst} left join instruments i on i.name = l.instrument")


def _wide_source(mapping: Mapping) -> str:
    """Melt the one-column-per-instrument form into records; a row with no score at all is one record too."""
    base = [f"{c} as {c}" for c in mapping.fields.values()]
    base_sql = ", ".join(["_line", *base])
    parts = [
        f"select {base_sql}, {_lit(inst)} as _instrument_raw, {col} as _score_raw, {_lit(col)} as _score_col "
        f"from _raw where {col} is not null"
        for inst, col in mapping.wide.items()
    ]
    all_empty = " and ".join(f"{c} is null" for c in mapping.wide.values())
    parts.append(f"select {base_sql}, null as _instrument_raw, null as _score_raw, null as _score_col "
                 f"from _raw where {all_empty}")
    return "(" + " union all ".join(parts) + ")"
