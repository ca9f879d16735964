"""Rapid onset: the first week on a dose-anchored axis, response at 24 h, 72 h and day 7, improvement by dose,
and time to first response."""

import streamlit as st

from dashboard import charts, data, definitions, filters
from dashboard.escape import md
from dashboard.outcomes import KM_SHOWN, rate_rows, timepoint_label
from dashboard.settings import load
from dashboard.views import common

# The first time a session opens this view without an instrument in its link: open on an instrument with scores
# in the first hours after a dose (the view's point) when the sidebar's has none and another has enough clients.
if not st.session_state.get("_rapid_opened"):
    st.session_state["_rapid_opened"] = True
    hours = data.hours_instruments()
    hours = hours[hours.n_clients >= load().min_cell]
    current = filters.current().instrument
    if "instrument" not in st.query_params and len(hours) and current not in set(hours.instrument):
        st.session_state["_rapid_switched"] = (current, hours.instrument.iloc[0])
        filters.open_on_instrument(hours.instrument.iloc[0])
state = common.page("Rapid onset", "How fast: hours to days after the first dose.")
switched = st.session_state.pop("_rapid_switched", None)
if switched:
    st.info(
        f"Opened on **{md(switched[1])}**, which has scores in the first 24 hours after a dose; "
        f"{md(switched[0])} has none here. Choose another instrument in the sidebar.",
        icon=":material/bolt:",
    )
if common.no_data(state):
    st.stop()
s = load()
inst = data.instrument(state.instrument)
by = common.group_by_control(key="rapid_by")
cohort = state.cohort(by)
warning = definitions.recall_warning(inst, 7)
if warning:
    st.warning(md(warning), icon=":material/schedule:")

tabs, shown = common.sections("rapid_section")

if shown == "First 7 days":
    with tabs[shown]:
        traj = data.trajectory(cohort, bin_days=0.5, max_day=7)
        if not common.empty_note(traj):
            common.chart(
                charts.trajectory_with_ci(
                    traj.assign(x=traj.x * 24), "Hours since first dose", f"Mean {state.instrument}"
                ),
                f"Mean {md(state.instrument)} in 12-hour bins since the first dose (baseline at 0), 95% CI; each "
                "client counted once per bin; bins under the minimum cell size left out.",
                definitions.baseline_rule(s),
                traj,
                key="rapid_trajectory",
                cohort=cohort,
            )

if shown == "Response at 24 h to day 7":
    with tabs[shown]:
        table = data.outcomes_table(cohort, timepoints=[(1, 1), (3, 1), (7, 3)])
        rows = rate_rows(table[table.timepoint != "last"], "response", state.rates)
        missing = [lab for lab in ("24 h", "72 h", "Day 7") if lab not in set(rows.label)]
        if missing:
            st.caption(
                f"No {md(state.instrument)} scores at {', '.join(missing)} for these clients"
                + (" (its recall period is longer than that; see above)." if warning else ".")
            )
        if not common.empty_note(rows):
            # each published figure at its own timepoint, for the same denominator as the chart
            refs = [
                ref
                for day in (1, 3, 7)
                for ref in definitions.references(
                    state.instrument, "response", day, state.rates, at_label=timepoint_label(f"day_{day:g}")
                )
            ]
            common.chart(
                charts.rates_with_ci(rows, "Response rate", references=refs or None),
                f"Clients with ≥50% reduction / {'all who started' if state.itt else 'evaluable clients'} at "
                "each timepoint, Wilson 95% CI.",
                f"{definitions.response_rule(inst, s)} {definitions.timepoint_rule(s)} {definitions.denominators(s)}",
                rows,
                key="rapid_response",
                cohort=cohort,
            )

if shown == "Improvement by dose":
    with tabs[shown]:
        dose = data.improvement_by_dose(cohort, max_dose=6)
        if not common.empty_note(dose):
            common.chart(
                charts.improvement_by_dose(dose),
                f"Share with ≥{s.early_improvement_pct:g}% reduction at the first score after each dose / clients "
                "with such a score, Wilson 95% CI.",
                definitions.rapid_rule(s),
                dose,
                key="rapid_by_dose",
                cohort=cohort,
            )

if shown == "Time to response":
    with tabs[shown]:
        km = data.kaplan_meier_table(cohort, event="response")
        if not common.empty_note(km):
            km = km.assign(survival=1 - km.survival, ci_low=1 - km.ci_high, ci_high=1 - km.ci_low)
            common.chart(
                charts.km_curve(km, "Share responded (1 − KM)"),
                "Kaplan–Meier: cumulative share of clients with a first response, censored at the last "
                "assessment; numbers at risk below.",
                definitions.durability_rule(s),
                km[KM_SHOWN],
                key="rapid_km",
                cohort=cohort,
            )
