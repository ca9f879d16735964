"""Attrition: who stops dosing and who stops being assessed, when, after which dose, and how the counts behind
each rate fit together."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, definitions, filters
from dashboard.escape import md
from dashboard.outcomes import ATTRITION_MEASURES, KM_SHOWN, share_at, timepoint_label
from dashboard.settings import load
from dashboard.views import common

state = common.page("Attrition", "Who stops, and when: dosing and assessment after the first dose.")
if common.no_data(state):
    st.stop()
s = load()
labels = {"modality": "Modality", "site": "Site", "clinician": "Clinician", "none": "All clients"}
filters.bind("attr_by", list(labels), "modality")
by = st.segmented_control("Group by", list(labels), format_func=labels.get, key="attr_by")
cohort = state.cohort(by or "modality")
tabs, shown = common.sections("attr_section")
MEASURES = {title: measure for measure, title in ATTRITION_MEASURES.items()}  # a section each, by its title

if shown in MEASURES:
    with tabs[shown]:
        km = data.attrition(cohort)
        measure = MEASURES[shown]
        title = ATTRITION_MEASURES[measure]
        if not common.empty_note(km):
            rows = km[km.measure == measure].drop(columns="measure")
            common.chart(
                charts.km_curve(rows, f"{title} (share of starters)"),
                f"{title}: Kaplan–Meier share of the clients who started, 95% CI; numbers at risk below.",
                definitions.attrition_rule(s),
                rows[KM_SHOWN],
                key=f"attrition_{measure}",
            )

if shown == "Weeks 1–12":
    with tabs[shown]:
        km = data.attrition(cohort)
        if not common.empty_note(km):
            weeks = [7, 14, 21, 28, 56, 84]
            table = None
            for measure, title in ATTRITION_MEASURES.items():
                at = share_at(km[km.measure == measure], weeks)
                at = at.assign(week=at.day / 7, share=at.share.astype(float) * 100)[["group", "week", "share"]]
                at = at.rename(columns={"share": title})
                table = at if table is None else table.merge(at, on=["group", "week"])
            st.caption("Kaplan–Meier share of the clients who started, at the end of weeks 1, 2, 3, 4, 8 and 12.")
            common.table(
                table,
                hide_index=True,
                column_config={
                    "group": st.column_config.TextColumn(labels.get(by or "modality", "Group")),
                    "week": st.column_config.NumberColumn("Week", format="%d", help="Weeks since the first dose."),
                    **{
                        title: st.column_config.NumberColumn(title, format="%.0f%%", help=definitions.attrition_rule(s))
                        for title in ATTRITION_MEASURES.values()
                    },
                },
            )

if shown == "Stopping dose":
    with tabs[shown]:
        stops = data.stopping_dose(cohort)
        ended = stops[stops.n_doses.notna()]
        if not common.empty_note(ended, "No first course has ended yet for these filters."):
            rows = pd.DataFrame(
                {
                    "group": ended["group"],
                    "label": [f"{int(n)}{'+' if n == ended.n_doses.max() else ''}" for n in ended.n_doses],
                    "rate": ended.share,
                    "ci_low": ended.ci_low,
                    "ci_high": ended.ci_high,
                    "numerator": ended.n_clients,
                    "denominator": ended.n_ended,
                    "suppressed": ended.suppressed,
                }
            )
            common.chart(
                charts.rates_with_ci(rows, "Share of ended courses", x_title="Doses in the first course"),
                "Share of the first courses that have ended with each number of doses (the last: that many or "
                "more), Wilson 95% CI.",
                definitions.attrition_rule(s),
                stops,
                key="attrition_stopping_dose",
            )

if shown == "Who each figure counts":
    with tabs[shown]:
        when = timepoint_label(f"day_{s.primary_day:g}")
        st.markdown(f"**Which clients each figure at {md(when.lower())} counts**")
        recon = data.reconciliation(state.cohort())
        recon = recon.assign(n_clients=[common.count_text(n) for n in recon.n_clients])
        recon.columns = ["Clients", "Number", "Who they are", "Where you see this number"]
        st.table(recon.map(md), hide_index=True)  # st.table reads cells as markdown: ours, escaped all the same
        st.caption(
            "Each rate names its denominator: response over evaluable clients, or over all who started (intention "
            "to treat); the flow chart's last stages are the completers (at least "
            f"{s.min_induction_doses} doses before day {s.induction_days})."
        )
