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
WHERE_SCAN_MAX_COLUMNS = 200  # beyond this, one filter over every column binds slowly (see find_identifier_value)
FORMULA_REASON = "starts with =, which a spreadsheet would run as a formula; remove the ="


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
    if value is None or (isinstance(value, float) and pd.isna(value)):
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
        f"when {cond} then struct_pack(col := {col}, reason := {reason}, raw := rawtext({raw}))"
        for cond, col, reason, raw in checks
    )
    return f"case {whens} else null end"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# A time in one of these shapes has no UTC offset or zone, so DuckDB's cheap TIMESTAMP cast reads it exactly as the
# TIMESTAMPTZ cast (in UTC) does; any other text takes the ISO check and the zone-aware cast
PLAIN_TIMES = ("____-__-__", "____-__-__T__:__", "____-__-__ __:__", "____-__-__T__:__:__", "____-__-__ __:__:__")


def _common(mapping: Mapping, time_field: str | None) -> tuple[list[str], list, list[str], list[str]]:
    """What every kind checks: the client id and the time column. Returns the select list, the checks, columns
    computed once beneath them (_cid, the time as _t) and conditions that together mean these checks all pass."""
    cid = _col(mapping, "client_id")
    pre = [f"nullif(trim({cid}), '') as _cid"]
    select = ["_cid as client_id"]
    checks = [
        ("_cid is null", _ref(mapping, "client_id"), "'missing client_id'", "null"),
        (
            f"length(_cid) > {MAX_ID_LENGTH}",
            _ref(mapping, "client_id"),
            f"'client_id longer than {MAX_ID_LENGTH} characters'",
            cid,
        ),
    ]
    gate = ["_cid is not null", f"length(_cid) <= {MAX_ID_LENGTH}"]
    if time_field:
        tcol = _col(mapping, time_field)
        plain = " or ".join(f"{tcol} like '{shape}'" for shape in PLAIN_TIMES)
        # ISO 8601 only: DuckDB would also read words such as 'epoch' or 'infinity' as times
        iso = f"regexp_full_match(trim({tcol}), '\\d{{4}}-\\d{{2}}-\\d{{2}}([T ].*)?')"
        pre.append(
            f"case when {plain} then try_cast({tcol} as timestamp) "
            f"when {iso} then try_cast(trim({tcol}) as timestamptz)::timestamp end as _t"
        )
        select.append(f"_t as {time_field}")
        checks += [
            (f"{tcol} is null", _ref(mapping, time_field), f"'missing {time_field}'", "null"),
            (
                "_t is null",
                _ref(mapping, time_field),
                "'unparseable date; use ISO 8601, e.g. 2024-03-01 or 2024-03-01T14:30'",
                tcol,
            ),
            (f"_t > now()::timestamp + {FUTURE_SLACK}", _ref(mapping, time_field), "'date is in the future'", tcol),
            ("_t < timestamp '1970-01-01'", _ref(mapping, time_field), "'date before 1970'", tcol),
        ]
        gate.append(f"_t between timestamp '1970-01-01' and now()::timestamp + {FUTURE_SLACK}")
    for f in FREE_TEXT:
        if f in mapping.fields:
            c = mapping.fields[f]
            checks.append(
                (f"contains({c}, '=') and regexp_matches({c}, '^\\s*=')", _ref(mapping, f), _lit(FORMULA_REASON), c)
            )
            gate.append(f"({c} is null or not contains({c}, '='))")
    return select, checks, pre, gate


def build_checked(
    con: duckdb.DuckDBPyConnection, mapping: Mapping, known: dict, typed: frozenset[int] = frozenset()
) -> None:
    """Create temp table _checked: one row per input record, typed, with _column/_reason/_raw of the
    first failing check (null when the record is valid). Columns in `typed` the reader has read as numbers."""
    con.execute(
        "create or replace temp macro fmtnum(x) as case when x = round(x) and abs(x) < 1e15 "
        "then cast(cast(x as bigint) as varchar) else cast(x as varchar) end"
    )
    # a rejected cell as text: a file's text as given, a number the reader typed (read.attach) as a CSV has it
    con.execute(
        "create or replace temp macro rawtext(x) as case when typeof(x) = 'DOUBLE' "
        "then fmtnum(try_cast(x as double)) else cast(x as varchar) end"
    )
    if mapping.kind == "clients":
        _clients(con, mapping)
    elif mapping.kind == "sessions":
        _sessions(con, mapping)
    else:
        _scores(con, mapping, known, typed)


def _finish(
    con,
    select: list[str],
    checks: list,
    source: str = "_raw",
    joins: str = "",
    pre: list[str] = (),
    gate: list[str] = (),
) -> None:
    """Write _checked. `pre`: columns computed once beneath the checks. `gate`: conditions that together imply
    that no check fails, cheaper than the checks; the checks then run only on the rows it does not pass, which
    are few in a usual file (a gate may be stricter than the checks, never looser)."""
    if pre:
        source = f"(select r_.*, {', '.join(pre)} from {source} r_)"
    fail = _case(checks)
    if gate and checks:
        fail = f"case when {' and '.join(f'({g})' for g in gate)} then null else {fail} end"
    con.execute(
        f"""create temp table _checked as
        select * exclude (_fail), _fail.col as _column, _fail.reason as _reason, _fail.raw as _raw
        from (select r._line as _line, {", ".join(select)}, {fail} as _fail
              from {source} r {joins})"""
    )


def _tree_sum(terms: list[str]) -> str:
    """terms added as a balanced tree: a chain of + over hundreds of item columns exceeds DuckDB's expression
    depth limit."""
    if len(terms) == 1:
        return terms[0]
    mid = len(terms) // 2
    return f"({_tree_sum(terms[:mid])} + {_tree_sum(terms[mid:])})"


def _clients(con, mapping: Mapping) -> None:
    select, checks, pre, gate = _common(mapping, None)
    prior = _col(mapping, "prior_treatments")
    prior_num = f"try_cast({prior} as double)"
    for f in ("site", "condition", "age_band", "sex"):
        select.append(f"nullif(trim({_col(mapping, f)}), '') as {f}")
    select.append(f"try_cast({prior_num} as integer) as prior_treatments")
    checks += [
        (
            f"{prior} is not null and ({prior_num} is null or {prior_num} <> round({prior_num}) "
            f"or {prior_num} < 0 or {prior_num} > 100)",
            _ref(mapping, "prior_treatments"),
            "'prior_treatments must be a whole number of treatments (0 or more)'",
            prior,
        ),
    ]
    gate.append(f"{prior} is null or ({prior_num} = round({prior_num}) and {prior_num} between 0 and 100)")
    _finish(con, select, checks, pre=pre, gate=gate)


def _sessions(con, mapping: Mapping) -> None:
    select, checks, pre, gate = _common(mapping, "session_at")
    stype, modality, dose = (_col(mapping, f) for f in ("session_type", "modality", "dose_mg"))
    con.execute("create or replace temp table _stypes (label varchar, session_type varchar)")
    con.executemany("insert into _stypes values (?, ?)", list(SESSION_TYPE_LOOKUP.items()))
    con.execute("create or replace temp table _modalities (label varchar, modality varchar)")
    con.executemany("insert into _modalities values (?, ?)", list(MODALITY_LOOKUP.items()))
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
        (
            f"({stype_sql}) is null",
            _ref(mapping, "session_type"),
            _lit(f"unknown session_type; use one of {', '.join(SESSION_TYPES)}"),
            stype,
        ),
        (
            f"({stype_sql}) = 'dosing' and nullif(trim({modality}), '') is null",
            _ref(mapping, "modality"),
            "'dosing session without a modality'",
            "null",
        ),
        (
            f"{dose} is not null and ({dose_num} is null or not isfinite({dose_num}) or {dose_num} < 0 "
            f"or {dose_num} > 10000)",
            _ref(mapping, "dose_mg"),
            "'dose_mg must be a number of milligrams (0 or more)'",
            dose,
        ),
    ]
    gate += [
        f"({stype_sql}) is not null",
        f"(({stype_sql}) <> 'dosing' or nullif(trim({modality}), '') is not null)",
        f"({dose} is null or (isfinite({dose_num}) and {dose_num} between 0 and 10000))",
    ]
    joins = _vocabulary(con, "_stypes", "session_type", stype, "_raw", "st") + _vocabulary(
        con, "_modalities", "modality", modality, "_raw", "m"
    )
    _finish(con, select, checks, joins=joins, pre=pre, gate=gate)


def _vocabulary(con, lookup: str, value: str, raw: str, source: str, alias: str) -> str:
    """A left join giving `alias.value`, the vocabulary term for the text in `raw`. The text is normalised once
    per distinct value (a file has a handful of them), not once per row."""
    con.execute(
        f"""create or replace temp table {lookup}_map as
            select d.raw, t.{value} from (select distinct {raw} as raw from {source}) d
            left join {lookup} t on t.label = {NORMALISE_SQL.format(x="d.raw")}"""
    )
    return f" left join {lookup}_map {alias} on {alias}.raw = {raw}"


def _scores(con, mapping: Mapping, known: dict, typed: frozenset[int]) -> None:
    con.execute("create or replace temp table _labels (label varchar, instrument varchar)")
    from dashboard.instruments import resolver

    con.executemany("insert into _labels values (?, ?)", list(resolver(known).items()))
    known_list = ", ".join(sorted(known))
    select, checks, pre, gate = _common(mapping, "assessed_at")
    if mapping.kind == "scores_wide":
        source = base = _wide_source(mapping)
        inst_raw, score_raw, items = "_instrument_raw", "_score_raw", {}
        inst_ref = score_ref = "r._score_col"
        wide_cols = ", ".join(sorted(mapping.wide))
        checks.append(
            ("r._instrument_raw is null", "null", _lit(f"no score in any instrument column ({wide_cols})"), "null")
        )
    else:
        source = base = "_raw"
        inst_raw, score_raw = _col(mapping, "instrument"), _col(mapping, "score")
        inst_ref, score_ref = _ref(mapping, "instrument"), _ref(mapping, "score")
        items = mapping.items
    instrument = "l.instrument"
    # Numbers are typed once, and the item cells summarised once (how many given, how many numbers, their sum,
    # lowest, highest, fractional parts, the last one given) as plain columns beneath the checks: a file may
    # have hundreds of item columns (999 took 90 s when each check re-cast the text), and list functions over
    # them cost several times these scalar expressions
    top = max(items) if items else 0
    cells = {n: items.get(n) for n in range(1, top + 1)}
    nums = {n: (f"_item_{n}" if c else "null::double") for n, c in cells.items()}
    pre += [f"try_cast({score_raw} as double) as _score_num"]
    pre += [f"try_cast({c} as double) as _item_{n}" for n, c in items.items()]
    score_num = "_score_num"
    if items:
        numbers = ", ".join(f"_item_{n}" for n in items)
        typed_items = all(int(c[1:]) in typed for c in items.values())  # each given cell is a number
        if top <= 62:
            # which item cells are given, as the bits of one number: all of the instrument's, and no other, when it
            # is 2^n_items - 1 (one sum, where a count and the last one given took two)
            given = [
                _tree_sum([f"({c} is not null)::bigint * {1 << (n - 1)}" for n, c in items.items()]) + " as _given_mask"
            ]
            counted = ["bit_count(_given_mask) as _n_given"]
            complete = f"i.n_items <= {top} and _given_mask = (1::bigint << i.n_items) - 1"
        else:
            last = ", ".join(f"case when {c} is not null then {n} end" for n, c in items.items())
            given = [
                _tree_sum([f"({c} is not null)::int" for c in items.values()]) + " as _n_given",
                f"greatest({last}) as _last_given",
            ]
            counted = []
            complete = "_n_given = i.n_items and _last_given = i.n_items"
        parsed = None if typed_items else _tree_sum([f"(_item_{n} is not null)::int" for n in items])
        summary = [
            *given,
            *([f"{parsed} as _n_parsed"] if parsed else []),
            _tree_sum([f"coalesce(_item_{n}, 0)" for n in items]) + " as _item_total",
            _tree_sum([f"coalesce(_item_{n} - floor(_item_{n}), 0)" for n in items]) + " as _item_frac",
            f"least({numbers}) as _item_low",
            f"greatest({numbers}) as _item_high",
        ]
        later = [
            *counted,
            *(["_n_given as _n_parsed"] if not parsed else []),
            "case when _n_parsed > 0 then _item_total end as _item_sum",
        ]
        source = f"(select r1.*, {', '.join(pre)} from {source} r1)"
        source = f"(select r2.*, {', '.join(summary)} from {source} r2)"
        source = f"(select r3.*, {', '.join(later[:-1])} from {source} r3)" if later[:-1] else source
        source = f"(select r4.*, {later[-1]} from {source} r4)"
        pre = []
        n_given, item_sum = "_n_given", "_item_sum"
        # the stored items: a list as long as the instrument's, built only for the lengths instruments have
        small = {n: f"try_cast(_item_{n} as smallint)" if c else "null::smallint" for n, c in cells.items()}
        lengths = sorted({i.n_items for i in known.values() if i.n_items and i.n_items <= top})
        by_length = " ".join(f"when {k} then [{', '.join(small[n] for n in range(1, k + 1))}]" for k in lengths)
        items_sql = (
            f"case when {n_given} > 0 then case i.n_items {by_length} end end" if lengths else "null::smallint[]"
        )
    else:
        n_given, item_sum, items_sql = "0", "null", "null::smallint[]"
    total = f"coalesce({score_num}, {item_sum})" if items else score_num
    select += [
        f"{instrument} as instrument",
        f"{total} as score",
        f"{items_sql} as items",
        f"nullif(trim({_col(mapping, 'session_id')}), '') as session_id",
    ]
    checks += [
        (f"nullif(trim({inst_raw}), '') is null", inst_ref, "'missing instrument'", "null"),
        (
            f"{instrument} is null",
            inst_ref,
            _lit(
                f"unknown instrument; known: {known_list}. To add one, define it in a TOML file "
                "(see data/examples/instruments.toml) and import with --instruments FILE"
            ),
            inst_raw,
        ),
        (
            f"{score_raw} is not null and ({score_num} is null or not isfinite({score_num}))",
            score_ref,
            "'score is not a number'",
            score_raw,
        ),
    ]
    gate += [
        f"{instrument} is not null",
        f"({score_raw} is null or isfinite({score_num}))",
        f"{total} between i.min_score and i.max_score",
    ]
    if items:
        # checks that need n <= i.n_items can never fail for an item number beyond every instrument's count
        most = max((i.n_items or 0) for i in known.values())
        for n, c in items.items():
            num = nums[n]
            checks.append(
                (
                    f"{c} is not null and ({num} is null or not isfinite({num}))",
                    _lit(c),
                    _lit(f"item_{n} is not a number"),
                    c,
                )
            )
        checks.append(
            (
                f"{n_given} > 0 and i.n_items is null",
                "null",
                "i.name || ' has no item definition, so item columns cannot be used'",
                "null",
            )
        )
        for n, c in cells.items():
            if c is None:  # a gap in the file's item columns (item_1 to item_3, item_5 to item_9: no item_4)
                if n <= most:
                    checks.append(
                        (
                            f"{n_given} > 0 and {n} <= i.n_items",
                            _lit(f"item_{n}"),
                            f"i.name || ' needs ' || i.n_items || ' items (item_1 to item_' || i.n_items || "
                            f"'); the file has no item_{n} column'",
                            "null",
                        )
                    )
                continue
            if n <= most:
                checks.append(
                    (
                        f"{n_given} > 0 and {n} <= i.n_items and {c} is null",
                        _lit(c),
                        f"i.name || ' needs ' || i.n_items || ' items (item_1 to item_' || i.n_items || "
                        f"'); item_{n} is empty'",
                        "null",
                    )
                )
            checks.append(
                (
                    f"{n} > i.n_items and {c} is not null",
                    _lit(c),
                    f"i.name || ' has ' || i.n_items || ' items; item_{n} should be empty'",
                    c,
                )
            )
        # fewer item columns in the file than the instrument has items
        checks.append(
            (
                f"{n_given} > 0 and {top} < i.n_items",
                _lit(f"item_{top + 1}"),
                f"i.name || ' needs ' || i.n_items || ' items (item_1 to item_' || i.n_items || "
                f"'); the file has no item_{top + 1} column'",
                "null",
            )
        )
        for n, c in items.items():
            num = nums[n]
            if n > most:
                continue
            checks.append(
                (
                    f"{num} is not null and {n} <= i.n_items and ({num} < i.item_min or {num} > i.item_max "
                    f"or {num} <> round({num}))",
                    _lit(c),
                    f"'item_{n} must be a whole number from ' || fmtnum(i.item_min) || ' to ' || fmtnum(i.item_max)",
                    c,
                )
            )
        checks.append(
            (
                f"{n_given} > 0 and {score_num} is not null and {score_num} <> {item_sum}",
                score_ref,
                f"'score ' || fmtnum({score_num}) || ' disagrees with the sum of its items (' || "
                f"fmtnum({item_sum}) || ')'",
                score_raw,
            )
        )
        # every item of the instrument given (and no other), each a number in its
        # range and whole (the fractional parts add up to 0), and the score, if given, their sum
        gate.append(
            f"({n_given} = 0 or ({complete} "
            f"and _n_parsed = {n_given} and _item_low >= i.item_min and _item_high <= i.item_max "
            f"and _item_frac = 0 and ({score_num} is null or {score_num} = {item_sum})))"
        )
    checks += [
        (f"{total} is null", score_ref, "'missing score'", "null"),
        (
            f"{total} < i.min_score or {total} > i.max_score",
            score_ref,
            f"'score ' || fmtnum({total}) || ' outside the ' || i.name || ' range ' || fmtnum(i.min_score) || "
            "'–' || fmtnum(i.max_score)",
            score_raw,
        ),
    ]
    labels = _vocabulary(con, "_labels", "instrument", inst_raw, base, "l")
    _finish(
        con,
        select,
        checks,
        source=source,
        pre=pre,
        gate=gate,
        joins=labels + " left join instruments i on i.name = l.instrument",
    )


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
    parts.append(
        f"select {base_sql}, null as _instrument_raw, null as _score_raw, null as _score_col "
        f"from _raw where {all_empty}"
    )
    return "(" + " union all ".join(parts) + ")"
