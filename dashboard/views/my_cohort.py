"""My cohort: a clinician's clients against the rest of the practice, and who needs attention."""

from dataclasses import replace

import pandas as pd
import streamlit as st

from dashboard import charts, data, definitions
from dashboard.cohort import Cohort
from dashboard.escape import md
from dashboard.outcomes import rate_rows
from dashboard.settings import load
from dashboard.views import common

state = common.page("My cohort", "How my clients are doing against the rest of the practice, and who needs a look.")
if common.no_data(state):
    st.stop()
s = load()
inst = data.instrument(state.instrument)
clinicians = data.filter_options().query("dimension == 'clinician_id'").value.tolist()
clinician = st.selectbox("Clinician", clinicians, key="my_clinician")
filters = replace(state.filters, clinicians=None, focus=clinician)
cohort = Cohort(state.instrument, filters, "clinician_vs_rest", s)

tabs, shown = common.sections("my_section")

if shown == "Against the practice":
    with tabs[shown]:
        traj = data.trajectory(cohort, bin_days=7, max_day=182)
        if not common.empty_note(traj, "Too few clients for a trajectory with these filters."):
            common.chart(
                charts.trajectory_with_ci(
                    traj.assign(x=traj.x / 7), "Weeks since first dose", f"Mean {state.instrument}"
                ),
                f"Mean {md(state.instrument)} by week: this clinician's clients (by the clinician of their first "
                "dose) and the rest of the practice, 95% CI.",
                definitions.baseline_rule(s),
                traj,
                key="my_trajectory",
            )
        table = data.outcomes_table(cohort, timepoints=[(d, w) for d, w in s.timepoints if d >= 7])
        rows = rate_rows(table[table.timepoint != "last"], "response", state.rates)
        if not common.empty_note(rows):
            common.chart(
                charts.rates_with_ci(rows, "Response rate"),
                "Response: this clinician's clients and the rest of the practice, Wilson 95% CI.",
                f"{definitions.response_rule(inst, s)} {definitions.denominators(s)}",
                rows,
                key="my_response",
            )

if shown == "Off track":
    with tabs[shown]:
        mine = tuple(data.client_list(clinician=clinician).client_id)
        everyone = replace(
            state.cohort("none"), filters=replace(state.filters, clinicians=None)
        )  # the model: the whole clinic
        off = data.off_track(everyone, mine) if mine else None
        st.caption(
            f"This clinician's clients whose latest score after the second dose lies above the expected upper "
            f"{100 * s.expected_quantile:.0f}% for clients of their baseline and modality (from the clinic's other "
            "clients), furthest above first. Open a client on the Client timeline to see the line."
        )
        if off is None or off.empty:
            st.success("No client of this clinician is off track.")
        else:
            off = off.assign(link=[f"/client-timeline?client={c}" for c in off.client_id])
            common.table(
                off[["client_id", "reason", "excess", "link"]],
                hide_index=True,
                width="stretch",
                column_config={
                    "client_id": "Client",
                    "reason": "Reason",
                    "excess": st.column_config.NumberColumn("Above expected (points)", format="%.1f"),
                    "link": st.column_config.LinkColumn("Timeline", display_text="open"),
                },
            )
        quality = data.alert_quality(everyone)
        if quality is not None:
            st.caption(
                "Is the alert worth acting on? On the clinic's past first courses: of clients flagged off track by "
                "dose 4 or day 14, how many had no response at week 4 (PPV); of the non-responders, how many had "
                "been flagged (sensitivity). Wilson 95% CI."
            )
            common.table(
                quality[["measure", "numerator", "denominator", "rate", "ci_low", "ci_high"]],
                hide_index=True,
                width="stretch",
                column_config={
                    "measure": "Measure",
                    "numerator": "Clients",
                    "denominator": "Of",
                    "rate": st.column_config.NumberColumn("Share", format="percent"),
                    "ci_low": st.column_config.NumberColumn("95% CI low", format="percent"),
                    "ci_high": st.column_config.NumberColumn("95% CI high", format="percent"),
                },
            )
        with st.expander("How is this calculated?"):
            st.write(definitions.expected_rule(s))

if shown == "Needs attention":
    with tabs[shown]:
        attention = data.needs_attention(clinician=clinician, instrument=state.instrument)
        st.caption(
            "Suicidal ideation emerging (safety item above 0 after none at baseline), reliable deterioration, or "
            f"less than {s.early_improvement_pct:g}% improvement after dose 4. Pseudonymous ids only; open a client "
            "on the Client timeline."
        )
        if attention.empty:
            st.success("No client of this clinician meets a needs-attention rule.")
        else:
            common.table(
                pd.DataFrame(attention),
                hide_index=True,
                width="stretch",
                column_config={
                    "client_id": "Client",
                    "reason": "Reason",
                    "day": st.column_config.NumberColumn("Day", format="%.0f"),
                    "pct_change": st.column_config.NumberColumn(
                        "Change from baseline (%)", format="%.0f", help="Negative is improvement"
                    ),
                },
            )
