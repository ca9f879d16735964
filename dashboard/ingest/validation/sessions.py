"""Rules of a sessions file (after the common ones)."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.ingest.contract import MODALITY_LOOKUP, SESSION_TYPE_LOOKUP, SESSION_TYPES, Mapping
from dashboard.ingest.validation import common
from dashboard.ingest.validation.rules import Plan, Rule, RuleSet, col, lit, ref, with_columns


@dataclass(frozen=True)
class Sessions:
    """What the sessions rules read: the file's columns, and the session type as the vocabulary gives it
    (st.session_type: the join made in plan)."""

    mapping: Mapping

    @property
    def stype(self) -> str:
        given = f"nullif(trim({col(self.mapping, 'session_type')}), '')"
        return f"case when {given} is null then 'dosing' else st.session_type end"

    @property
    def modality(self) -> str:
        return f"nullif(trim({col(self.mapping, 'modality')}), '')"


RULES = RuleSet("sessions")


@RULES.rule("session_type_unknown")
def _session_type_unknown(s: Sessions) -> Rule:
    reason = lit(f"unknown session_type; use one of {', '.join(SESSION_TYPES)}")
    return Rule(ref(s.mapping, "session_type"), f"({s.stype}) is null", reason, col(s.mapping, "session_type"))


@RULES.rule("dosing_without_modality")
def _dosing_without_modality(s: Sessions) -> Rule:
    fails = f"({s.stype}) = 'dosing' and {s.modality} is null"
    return Rule(ref(s.mapping, "modality"), fails, "'dosing session without a modality'")


@RULES.rule("dose_mg_invalid")
def _dose_mg_invalid(s: Sessions) -> Rule:
    dose = col(s.mapping, "dose_mg")
    num = f"try_cast({dose} as double)"
    return Rule(
        ref(s.mapping, "dose_mg"),
        f"{dose} is not null and ({num} is null or not isfinite({num}) or {num} < 0 or {num} > 10000)",
        "'dose_mg must be a number of milligrams (0 or more)'",
        dose,
    )


def plan(con, mapping: Mapping) -> Plan:
    shared, s = common.Common(mapping, "session_at"), Sessions(mapping)
    select, pre = shared.columns()
    con.execute("create or replace temp table _stypes (label varchar, session_type varchar)")
    # a mapping's values first (dashboard/ingest/mapping.py): they may give a known label another term
    stypes = mapping.values.get("session_type", [])
    stypes += [(k, v) for k, v in SESSION_TYPE_LOOKUP.items() if k not in dict(stypes)]
    con.executemany("insert into _stypes values (?, ?)", stypes)
    con.execute("create or replace temp table _modalities (label varchar, modality varchar)")
    modalities = mapping.values.get("modality", [])
    modalities += [(k, v) for k, v in MODALITY_LOOKUP.items() if k not in dict(modalities)]
    con.executemany("insert into _modalities values (?, ?)", modalities)
    select += [
        f"{s.stype} as session_type",
        f"coalesce(m.modality, {shared.text('modality')}) as modality",
        f"{shared.text('modality')} as modality_label",
        f"try_cast({col(mapping, 'dose_mg')} as double) as dose_mg",
        f"{shared.text('clinician_id')} as clinician_id",
        f"{shared.text('site')} as site",
        f"{shared.text('session_id')} as session_id",
    ]
    joins = common.vocabulary(
        con, "_stypes", "session_type", col(mapping, "session_type"), "_raw", "st"
    ) + common.vocabulary(con, "_modalities", "modality", col(mapping, "modality"), "_raw", "m")
    rules = common.RULES.build(shared) + RULES.build(s)
    return Plan(select, rules, with_columns("_raw", pre), joins)
