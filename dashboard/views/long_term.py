"""Long-term: the course over weeks and months, response and remission at weeks 4, 12 and 26, durability
(time to relapse among responders) with maintenance doses, and severity-band transitions; one section at a time."""

import streamlit as st

from dashboard import charts, data, definitions, filters
from dashboard.escape import md
from dashboard.outcomes import KM_SHOWN, rate_rows, timepoint_label
from dashboard.settings import load
from dashboard.views import common

state = common.page("Long-term", "How long: weeks to months after the first dose, durability and relapse.")
if common.no_data(state):
    st.stop()
s = load()
inst = data.instrument(state.instrument)
by = common.group_by_control(key="long_by")
cohort = state.cohort(by)
tabs, shown = common.sections("long_section")

if shown == "Trajectory":
    with tabs[shown]:
        traj = data.trajectory(cohort, bin_days=7, max_day=364)
        if not common.empty_note(traj):
            common.chart(
                charts.trajectory_with_ci(
                    traj.assign(x=traj.x / 7), "Weeks since first dose", f"Mean {state.instrument}"
                ),
                f"Mean {md(state.instrument)} by week since the first dose (baseline at 0), 95% CI; weeks with "
                "fewer than the minimum cell size left out.",
                definitions.baseline_rule(s),
                traj,
                key="long_trajectory",
                cohort=cohort,
            )

if shown == "Response and remission":
    with tabs[shown]:
        points = [(d, w) for d, w in s.timepoints if d >= 28]
        table = data.outcomes_table(cohort, timepoints=points)
        table = table[table.timepoint != "last"]
        cols = st.columns(2)
        for col, measure in zip(cols, ("response", "remission"), strict=True):
            with col:
                rows = rate_rows(table, measure, state.rates)
                if not common.empty_note(rows):
                    common.chart(
                        charts.rates_with_ci(rows, f"{measure.title()} rate"),
                        f"{measure.title()}: clients meeting it / "
                        f"{'all who started' if state.itt and measure == 'response' else 'evaluable clients'}"
                        " at each timepoint, Wilson 95% CI.",
                        f"{definitions.response_rule(inst, s)} {definitions.denominators(s)}",
                        rows,
                        key=f"long_{measure}",
                        cohort=cohort,
                        title=f"{measure.title()} by timepoint",
                    )

if shown == "Durability":
    with tabs[shown]:
        km = data.kaplan_meier_table(cohort, event="relapse")
        if not common.empty_note(km, "Too few responders with follow-up for these filters."):
            common.chart(
                charts.km_curve(km, "Still in response (KM)", x_title="Days since first response"),
                "Kaplan–Meier: share of responders not yet relapsed, censored at the last assessment.",
                definitions.durability_rule(s),
                km[KM_SHOWN],
                key="long_relapse",
                cohort=cohort,
            )
        maint = data.maintenance_by_week(state.cohort())
        if len(maint):
            st.markdown("**Maintenance doses**")
            common.chart(
                charts.maintenance_bars(maint),
                "Maintenance doses per week since the first dose (doses after "
                f"the first {s.induction_days} days); weeks with doses to fewer than the minimum cell size of "
                "clients left out.",
                definitions.course_rule(s),
                maint,
                key="long_maintenance",
                title="Maintenance doses",
            )

if shown == "Severity bands":
    with tabs[shown]:
        if inst and inst.bands:
            days = [d for d, _ in s.timepoints if d >= 7]
            filters.bind("long_band_day", days, s.primary_day)
            day = st.select_slider(
                "Timepoint", days, format_func=lambda d: timepoint_label(f"day_{d:g}"), key="long_band_day"
            )
            bands = data.band_transitions(state.cohort(), target_day=day, window_days=s.window_for(day))
            if not common.empty_note(bands):
                common.chart(
                    charts.band_sankey(bands, to_label=timepoint_label(f"day_{day:g}")),
                    "Clients by severity band at baseline and at the timepoint; flows under the minimum cell size "
                    "are suppressed (with a second flow from the same band where needed).",
                    f"Bands: {', '.join(label for _, label in inst.bands)}. {definitions.timepoint_rule(s)}",
                    bands,
                    key="long_bands",
                )
        else:
            st.info(f"{md(state.instrument)} has no validated severity bands, so none are drawn (DOMAIN.md §2).")
