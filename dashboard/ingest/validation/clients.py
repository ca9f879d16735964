"""Rules of a clients file (after the common ones)."""

from __future__ import annotations

from dashboard.ingest.contract import Mapping
from dashboard.ingest.validation import common
from dashboard.ingest.validation.rules import Plan, Rule, RuleSet, col, ref, with_columns

RULES = RuleSet("clients")


@RULES.rule("prior_treatments_invalid")
def _prior_treatments(m: Mapping) -> Rule:
    prior = col(m, "prior_treatments")
    num = f"try_cast({prior} as double)"
    return Rule(
        ref(m, "prior_treatments"),
        f"{prior} is not null and ({num} is null or {num} <> round({num}) or {num} < 0 or {num} > 100)",
        "'prior_treatments must be a whole number of treatments (0 or more)'",
        prior,
    )


def plan(con, mapping: Mapping) -> Plan:
    shared = common.Common(mapping, None)
    select, pre = shared.columns()
    select += [f"{shared.text(f)} as {f}" for f in ("site", "condition", "age_band", "sex")]
    select.append(f"try_cast(try_cast({col(mapping, 'prior_treatments')} as double) as integer) as prior_treatments")
    rules = common.RULES.build(shared) + RULES.build(mapping)
    return Plan(select, rules, with_columns("_raw", pre))
