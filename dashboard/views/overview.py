"""Overview: who started, who responded and remitted at the primary timepoint, and how they got there."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, definitions
from dashboard.escape import md
from dashboard.outcomes import rate_rows, timepoint_label
from dashboard.settings import load
from dashboard.views import common

state = common.page("Overview", "How many clients started, how many responded and remitted, and the path there.")
if common.no_data(state):
    st.stop()
s = load()
inst = data.instrument(state.instrument)
primary = (s.primary_day, s.window_for(s.primary_day))
when = timepoint_label(f"day_{s.primary_day:g}")
cohort = state.cohort()

flow = data.flow_table(cohort.grouped("none"))
if common.empty_note(flow):
    st.stop()
f = flow.iloc[0]

# The flow chart is drawn before the tiles above it are filled: it needs no statistics library, so on a cold start
# the browser loads its charting code while the rates and their intervals are computed. The containers keep the
# page's order.
tiles = st.container()
chart_row = st.empty()
with chart_row.container():
    left, right = st.columns(2)
with left:
    common.subheader("Flow")
    stages = pd.DataFrame(
        {
            "stage": ["First dose", "Baseline", "Completed induction", f"Score at {when.lower()}", "Included"],
            "n": [f.n_first_dose, f.n_with_baseline, f.n_completed_induction, f.n_followup_in_window, f.n_included],
        }
    )
    common.chart(
        charts.flow_chart(stages),
        f"Clients at each step, {state.filters.describe(quote=md)}. The flow follows completers; the response "
        f"tile counts everyone with a baseline and a score at {when.lower()}, whatever their number of "
        "doses.",
        definitions.flow_rule(s),
        stages,
        key="overview_flow",
    )

# as the charts' headings ask for it (common.heading): computed once per cohort, for both
table = data.outcomes_table(cohort.grouped("none"), timepoints=[tuple(map(float, primary))], include_last=False)
if table.empty:
    chart_row.empty()
    with tiles:
        common.empty_note(table)
    st.stop()
at = table[table.timepoint != "last"].iloc[0]
with tiles:  # above the tiles: the first thing read on a page of hidden figures
    common.small_cells_notice([f.n_first_dose, at.n_evaluable], s.min_cell)
doses = data.doses_to_response(cohort.grouped("none"))
si = data.suicidal_ideation(cohort.grouped("none"))

den_label = "all who started" if state.itt else "evaluable clients"
row1, row2 = tiles.columns(3), tiles.columns(3)
common.count_tile(
    row1[0],
    "Clients started",
    f.n_first_dose,
    "first dose of a first course (any baseline)",
    definitions.course_rule(s),
)
common.count_tile(
    row1[1],
    "With baseline",
    f.n_with_baseline,
    f"{state.instrument} baseline at or before dose 1",
    definitions.baseline_rule(s),
)
r = rate_rows(table, "response", state.rates).query("label == @when")
m = rate_rows(table, "remission").query("label == @when")
for cell, rows, what, denominator in (
    (row1[2], r, "Response", den_label),
    (row2[0], m, "Remission", "evaluable clients not remitted at baseline"),
):
    if rows.empty:  # nobody has a score in the window yet (say, only baselines imported so far)
        cell.info(
            f"**{what} at {when.lower()}**: no client with a baseline has a {md(state.instrument)} score at "
            f"{when.lower()} (day {s.primary_day:g} ± {primary[1]:g}) yet."
        )
        continue
    x = rows.iloc[0]
    common.rate_tile(
        cell,
        f"{what} at {when.lower()}",
        x.numerator,
        x.denominator,
        x.rate,
        x.ci_low,
        x.ci_high,
        f"{definitions.response_rule(inst, s)} Denominator: {denominator}.",
    )
d = doses.iloc[0] if len(doses) else None
common.value_tile(
    row2[1],
    "Median doses to response",
    None if d is None or d.suppressed else f"{d.median_doses:g}",
    None
    if d is None or d.suppressed
    else f"IQR {d.q1_doses:g}–{d.q3_doses:g} · {int(d.n_responders):,} clients who responded at any time",
    "Among responders: dosing sessions given before the first score with a ≥50% reduction.",
)
if len(si) and not pd.isna(si.iloc[0].n_with_safety_item) and si.iloc[0].n_with_safety_item:
    x = si.iloc[0]
    common.rate_tile(
        row2[2],
        "Suicidal ideation resolved",
        x.n_si_resolved,
        x.n_si_followed,
        x.resolved_rate,
        x.resolved_ci_low,
        x.resolved_ci_high,
        definitions.safety_rule(),
    )
else:
    row2[2].info(common.safety_note(inst, si, s.min_cell))

with right:
    common.subheader("Trajectory")
    traj = data.trajectory(cohort.grouped("none"), bin_days=7, max_day=182)
    common.chart(
        charts.trajectory_with_ci(traj.assign(x=traj.x / 7), "Weeks since first dose", f"Mean {state.instrument}"),
        f"Mean {md(state.instrument)} by week since the first dose (baseline at 0), 95% CI; n per point in "
        "the hover; weeks with fewer than the minimum cell size are left out.",
        definitions.baseline_rule(s),
        traj,
        key="overview_trajectory",
    )
