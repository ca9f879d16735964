"""Rules of a scores file, long (instrument, score, item_1 ...) or wide (one column per instrument), after the
common ones.

A file may have hundreds of item columns, so the item cells are typed once and summarised once (how many given,
how many numbers, their sum, lowest, highest, fractional parts, which ones are given) as plain columns beneath the
rules: the item rules share one all-pass condition over that summary (ITEMS_PASS), and their careful per-item
checks run only on the records it does not pass."""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboard.ingest.contract import Mapping
from dashboard.ingest.validation import common
from dashboard.ingest.validation.rules import Plan, Rule, RuleSet, col, lit, ref

INSTRUMENT = "l.instrument"  # the vocabulary join made in plan; i.* is the instrument's definition


@dataclass
class Scores:
    """What the scores rules read: SQL for the instrument and score as given, the score as a number, the item
    summary, and the total (the score, or the sum of the items when no score is given)."""

    mapping: Mapping
    known: dict
    inst_raw: str
    score_raw: str
    inst_ref: str
    score_ref: str
    items: dict[int, str] = field(default_factory=dict)  # item number -> column
    score_num: str = "_score_num"
    n_given: str = "0"
    item_sum: str = "null"
    complete: str = ""  # every one of the instrument's items given, and no other

    @property
    def wide(self) -> bool:
        return self.mapping.kind == "scores_wide"

    @property
    def top(self) -> int:
        """The highest item number the file has a column for."""
        return max(self.items) if self.items else 0

    @property
    def cells(self) -> dict[int, str | None]:
        """Item number -> column, for 1 to top; None for a gap in the file's item columns."""
        return {n: self.items.get(n) for n in range(1, self.top + 1)}

    @property
    def most(self) -> int:
        """The most items any instrument has: a rule that needs n <= i.n_items never fails beyond it."""
        return max((i.n_items or 0) for i in self.known.values())

    def num(self, n: int) -> str:
        return f"_item_{n}" if self.items.get(n) else "null::double"

    @property
    def total(self) -> str:
        return f"coalesce({self.score_num}, {self.item_sum})" if self.items else self.score_num

    @property
    def items_pass(self) -> str:
        """No item rule fails: every item of the instrument given (and no other), each a number in its range and
        whole (the fractional parts add up to 0), and the score, if given, their sum. Or no item given."""
        return (
            f"{self.n_given} = 0 or ({self.complete} "
            f"and _n_parsed = {self.n_given} and _item_low >= i.item_min and _item_high <= i.item_max "
            f"and _item_frac = 0 and ({self.score_num} is null or {self.score_num} = {self.item_sum}))"
        )


RULES = RuleSet("scores")


@RULES.rule("wide_no_score")
def _wide_no_score(s: Scores) -> Rule | None:
    if not s.wide:
        return None
    reason = lit(f"no score in any instrument column ({', '.join(sorted(s.mapping.wide))})")
    return Rule("null", "r._instrument_raw is null", reason)


@RULES.rule("instrument_missing")
def _instrument_missing(s: Scores) -> Rule:
    return Rule(s.inst_ref, f"nullif(trim({s.inst_raw}), '') is null", "'missing instrument'")


@RULES.rule("instrument_unknown")
def _instrument_unknown(s: Scores) -> Rule:
    reason = lit(
        f"unknown instrument; known: {', '.join(sorted(s.known))}. To add one, define it on the Data page "
        "(Instruments) or in a TOML file (see data/examples/instruments.toml) imported with --instruments FILE"
    )
    return Rule(s.inst_ref, f"{INSTRUMENT} is null", reason, s.inst_raw)


@RULES.rule("score_not_a_number")
def _score_not_a_number(s: Scores) -> Rule:
    fails = f"{s.score_raw} is not null and ({s.score_num} is null or not isfinite({s.score_num}))"
    return Rule(s.score_ref, fails, "'score is not a number'", s.score_raw)


@RULES.rule("item_not_a_number")
def _item_not_a_number(s: Scores) -> list[Rule]:
    return [
        Rule(
            lit(c),
            f"{c} is not null and ({s.num(n)} is null or not isfinite({s.num(n)}))",
            lit(f"item_{n} is not a number"),
            c,
            passes=s.items_pass,
        )
        for n, c in s.items.items()
    ]


@RULES.rule("item_definition_missing")
def _item_definition_missing(s: Scores) -> Rule | None:
    if not s.items:
        return None
    reason = "i.name || ' has no item definition, so item columns cannot be used'"
    return Rule("null", f"{s.n_given} > 0 and i.n_items is null", reason, passes=s.items_pass)


def _needs(missing: str) -> str:
    return f"i.name || ' needs ' || i.n_items || ' items (item_1 to item_' || i.n_items || '); {missing}'"


@RULES.rule("item_column_missing", "item_empty")
def _item_missing(s: Scores) -> list[Rule]:
    """An item of the instrument not given, in item order: the file has no column for it (a gap such as no
    item_4 between item_3 and item_5, or fewer item columns than the instrument has items) or the cell is
    empty. One declaration for both, so that the lowest such item is the one reported."""
    if not s.items:
        return []
    out = []
    for n, c in s.cells.items():
        if n > s.most:
            continue
        if c is None:
            out.append(_no_column(s, n, f"{n} <= i.n_items"))
        else:
            out.append(
                Rule(
                    lit(c),
                    f"{s.n_given} > 0 and {n} <= i.n_items and {c} is null",
                    _needs(f"item_{n} is empty"),
                    passes=s.items_pass,
                    name="item_empty",
                )
            )
    out.append(_no_column(s, s.top + 1, f"{s.top} < i.n_items"))
    return out


def _no_column(s: Scores, n: int, needed: str) -> Rule:
    """item_column_missing for item n: items are given, the instrument has item n (`needed`), the file has no
    column for it."""
    return Rule(
        lit(f"item_{n}"),
        f"{s.n_given} > 0 and {needed}",
        _needs(f"the file has no item_{n} column"),
        passes=s.items_pass,
        name="item_column_missing",
    )


@RULES.rule("item_beyond_instrument")
def _item_beyond_instrument(s: Scores) -> list[Rule]:
    reason = "i.name || ' has ' || i.n_items || ' items; item_{n} should be empty'"
    return [
        Rule(lit(c), f"{n} > i.n_items and {c} is not null", reason.format(n=n), c, passes=s.items_pass)
        for n, c in s.items.items()
    ]


@RULES.rule("item_out_of_range")
def _item_out_of_range(s: Scores) -> list[Rule]:
    reason = "'item_{n} must be a whole number from ' || fmtnum(i.item_min) || ' to ' || fmtnum(i.item_max)"
    return [
        Rule(
            lit(c),
            f"{s.num(n)} is not null and {n} <= i.n_items and ({s.num(n)} < i.item_min or {s.num(n)} > i.item_max "
            f"or {s.num(n)} <> round({s.num(n)}))",
            reason.format(n=n),
            c,
            passes=s.items_pass,
        )
        for n, c in s.items.items()
        if n <= s.most
    ]


@RULES.rule("score_disagrees_with_items")
def _score_disagrees_with_items(s: Scores) -> Rule | None:
    if not s.items:
        return None
    return Rule(
        s.score_ref,
        f"{s.n_given} > 0 and {s.score_num} is not null and {s.score_num} <> {s.item_sum}",
        f"'score ' || fmtnum({s.score_num}) || ' disagrees with the sum of its items (' || fmtnum({s.item_sum}) || ')'",
        s.score_raw,
        passes=s.items_pass,
    )


@RULES.rule("score_missing")
def _score_missing(s: Scores) -> Rule:
    return Rule(s.score_ref, f"{s.total} is null", "'missing score'")


@RULES.rule("score_out_of_range")
def _score_out_of_range(s: Scores) -> Rule:
    return Rule(
        s.score_ref,
        f"{s.total} < i.min_score or {s.total} > i.max_score",
        f"'score ' || fmtnum({s.total}) || ' outside the ' || i.name || ' range ' || fmtnum(i.min_score) || "
        "'–' || fmtnum(i.max_score)",
        s.score_raw,
    )


def _tree_sum(terms: list[str]) -> str:
    """terms added as a balanced tree: a chain of + over hundreds of item columns exceeds DuckDB's expression
    depth limit."""
    if len(terms) == 1:
        return terms[0]
    mid = len(terms) // 2
    return f"({_tree_sum(terms[:mid])} + {_tree_sum(terms[mid:])})"


def _summarised(s: Scores, source: str, pre: list[str], typed: frozenset[int]) -> tuple[str, str]:
    """The records with the item cells typed and summarised beneath the rules (setting s.n_given, s.item_sum and
    s.complete), and the SQL of the stored items: a list as long as the instrument's, built only for the
    lengths instruments have."""
    items, top = s.items, s.top
    numbers = ", ".join(f"_item_{n}" for n in items)
    typed_items = all(int(c[1:]) in typed for c in items.values())  # each given cell is a number
    if top <= 62:
        # which item cells are given, as the bits of one number: all of the instrument's, and no other, when it
        # is 2^n_items - 1 (one sum, where a count and the last one given took two)
        given = [
            _tree_sum([f"({c} is not null)::bigint * {1 << (n - 1)}" for n, c in items.items()]) + " as _given_mask"
        ]
        counted = ["bit_count(_given_mask) as _n_given"]
        s.complete = f"i.n_items <= {top} and _given_mask = (1::bigint << i.n_items) - 1"
    else:
        last = ", ".join(f"case when {c} is not null then {n} end" for n, c in items.items())
        given = [
            _tree_sum([f"({c} is not null)::int" for c in items.values()]) + " as _n_given",
            f"greatest({last}) as _last_given",
        ]
        counted = []
        s.complete = "_n_given = i.n_items and _last_given = i.n_items"
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
    s.n_given, s.item_sum = "_n_given", "_item_sum"
    small = {n: f"try_cast(_item_{n} as smallint)" if c else "null::smallint" for n, c in s.cells.items()}
    lengths = sorted({i.n_items for i in s.known.values() if i.n_items and i.n_items <= top})
    by_length = " ".join(f"when {k} then [{', '.join(small[n] for n in range(1, k + 1))}]" for k in lengths)
    items_sql = f"case when {s.n_given} > 0 then case i.n_items {by_length} end end" if lengths else "null::smallint[]"
    return source, items_sql


def plan(con, mapping: Mapping, known: dict, typed: frozenset[int]) -> Plan:
    con.execute("create or replace temp table _labels (label varchar, instrument varchar)")
    from dashboard.instruments import resolver

    con.executemany("insert into _labels values (?, ?)", list(resolver(known).items()))
    shared = common.Common(mapping, "assessed_at")
    select, pre = shared.columns()
    if mapping.kind == "scores_wide":
        source = base = _wide_source(mapping)
        s = Scores(mapping, known, "_instrument_raw", "_score_raw", "r._score_col", "r._score_col")
    else:
        source = base = "_raw"
        s = Scores(
            mapping,
            known,
            col(mapping, "instrument"),
            col(mapping, "score"),
            ref(mapping, "instrument"),
            ref(mapping, "score"),
            items=mapping.items,
        )
    pre += [f"try_cast({s.score_raw} as double) as _score_num"]
    pre += [f"try_cast({c} as double) as _item_{n}" for n, c in s.items.items()]
    if s.items:
        source, items_sql = _summarised(s, source, pre, typed)
        pre = []
    else:
        items_sql = "null::smallint[]"
    select += [
        f"{INSTRUMENT} as instrument",
        f"{s.total} as score",
        f"{items_sql} as items",
        f"{shared.text('session_id')} as session_id",
    ]
    rules = common.RULES.build(shared) + RULES.build(s)
    labels = common.vocabulary(con, "_labels", "instrument", s.inst_raw, base, "l")
    source = f"(select r_.*, {', '.join(pre)} from {source} r_)" if pre else source
    return Plan(select, rules, source, labels + " left join instruments i on i.name = l.instrument")


def _wide_source(mapping: Mapping) -> str:
    """Melt the one-column-per-instrument form into records; a row with no score at all is one record too."""
    base = [f"{c} as {c}" for c in mapping.fields.values()]
    base_sql = ", ".join(["_line", *base])
    parts = [
        f"select {base_sql}, {lit(inst)} as _instrument_raw, {c} as _score_raw, {lit(c)} as _score_col "
        f"from _raw where {c} is not null"
        for inst, c in mapping.wide.items()
    ]
    all_empty = " and ".join(f"{c} is null" for c in mapping.wide.values())
    parts.append(
        f"select {base_sql}, null as _instrument_raw, null as _score_raw, null as _score_col "
        f"from _raw where {all_empty}"
    )
    return "(" + " union all ".join(parts) + ")"
