"""A validation rule, declared once, and the two SQL expressions made from a list of them: the record's first
failing rule (a CASE) and the cheap all-pass gate that lets most records skip the CASE.

Column references in the generated SQL are positional names (c0, c1, ...) that the reader assigned and canonical
field names from the contract, never text taken from a file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from dashboard.ingest.contract import Mapping

NO_FAILURE = "null::struct(col varchar, reason varchar, raw varchar)"


@dataclass(frozen=True)
class Rule:
    """One rule as SQL over one file's records.

    column: SQL for the column a failure names (a literal: the file's positional column, or a field's name).
    fails:  SQL condition, true when the record breaks the rule (null counts as passing, as in CASE WHEN).
    reason: SQL for the message; raw: SQL for the value shown ("null" for none).
    passes: optional SQL condition, cheaper than `fails`, true only when the rule passes (it may be false or
            null for some records that pass: those just take the careful check). Several rules may share one
            passes condition; the gate holds it once. Absent, the gate uses `(fails) is not true`, which is exact.
    name:   the declared rule's name (see RuleSet)."""

    column: str
    fails: str
    reason: str
    raw: str = "null"
    passes: str | None = None
    name: str = ""

    @property
    def gate(self) -> str:
        """A condition whose truth implies this rule passes (never looser than `fails`)."""
        return self.passes if self.passes is not None else f"({self.fails}) is not true"


def first_failing(rules: list[Rule]) -> str:
    """SQL: the first rule a record fails, as struct(col, reason, raw), or null when it fails none."""
    if not rules:
        return NO_FAILURE
    whens = "\n".join(
        f"when {r.fails} then struct_pack(col := {r.column}, reason := {r.reason}, raw := rawtext({r.raw}))"
        for r in rules
    )
    return f"case {whens} else null end"


def all_pass(rules: list[Rule]) -> str | None:
    """SQL: true only when the record passes every rule (each distinct gate condition once, in rule order)."""
    gates = list(dict.fromkeys(r.gate for r in rules))
    return " and ".join(f"({g})" for g in gates) if gates else None


def failure(rules: list[Rule]) -> str:
    """SQL: the record's first failing rule; the careful CASE runs only for records the gate does not pass."""
    gate = all_pass(rules)
    fail = first_failing(rules)
    return f"case when {gate} then null else {fail} end" if gate else fail


Built = Rule | Iterable[Rule] | None


class RuleSet:
    """The rules of one kind of file, declared in the order they are checked: a record reports the first one
    it fails, so the order is part of the behaviour."""

    def __init__(self, kind: str):
        self.kind = kind
        self._declared: list[tuple[tuple[str, ...], Callable[..., Built]]] = []

    def rule(self, *names: str):
        """Declare a rule: decorates a function from the kind's SQL context to the rule's SQL for one file (a
        Rule, several, e.g. one per item column, or none when the file lacks the column). A function may build
        a few named rules whose instances interleave (each Rule then carries its name)."""
        taken = set(self.names)
        for n in names:
            if n in taken or names.count(n) > 1:
                raise ValueError(f"rule {n!r} declared twice in {self.kind}")

        def register(build: Callable[..., Built]) -> Callable[..., Built]:
            self._declared.append((names, build))
            return build

        return register

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for names, _ in self._declared for n in names)

    def build(self, context) -> list[Rule]:
        """Every declared rule's SQL for one file, in the declared order."""
        out: list[Rule] = []
        for names, build in self._declared:
            made = build(context)
            for r in [made] if isinstance(made, Rule) else made or ():
                if not r.name and len(names) == 1:
                    r = replace(r, name=names[0])
                if r.name not in names:
                    raise ValueError(f"{build.__name__} built rule {r.name!r}, not one of {names}")
                out.append(r)
        return out


@dataclass(frozen=True)
class Plan:
    """How _checked is computed for one file: the typed columns, the rules, and the records they run over."""

    select: list[str]
    rules: list[Rule]
    source: str  # the records, with any columns computed once beneath the rules
    joins: str = ""

    def query(self, columns: list[str]) -> str:
        """SQL: one row per record, its _line and `columns` (which may use the rules' column names)."""
        return f"select r._line as _line, {', '.join(columns)}\n              from {self.source} r {self.joins}"

    def create_checked(self) -> str:
        return f"""create temp table _checked as
        select * exclude (_fail), _fail.col as _column, _fail.reason as _reason, _fail.raw as _raw
        from ({self.query([*self.select, f"{failure(self.rules)} as _fail"])})"""


def with_columns(source: str, columns: list[str]) -> str:
    """`source` with `columns` computed once beneath whatever reads it."""
    return f"(select r_.*, {', '.join(columns)} from {source} r_)" if columns else source


def col(mapping: Mapping, field: str) -> str:
    """The file's column holding `field`, or a null when the file has none."""
    return mapping.fields.get(field, "null::varchar")


def ref(mapping: Mapping, field: str) -> str:
    """The column a check reports: the file's column when the field is there, else the field's name."""
    return lit(mapping.fields.get(field, field))


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
