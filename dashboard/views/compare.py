"""Compare cohorts: response, remission and mean change per group, evaluable and intention-to-treat side by
side, with optional published reference figures."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, definitions, filters
from dashboard.cohort import OutcomeError
from dashboard.escape import md
from dashboard.outcomes import ADJUSTED_LABELS, GROUP_BY, rate_rows, timepoint_label
from dashboard.settings import load
from dashboard.views import common

state = common.page("Compare cohorts", "How groups differ: modality, integration therapy, condition, site and more.")
if common.no_data(state):
    st.stop()
s = load()
inst = data.instrument(state.instrument)
dims = ["modality", "integration", "condition", "site", "age_band", "cohort_quarter"]
days = [d for d, _ in s.timepoints]
filters.bind("compare_by", dims, "modality")
filters.bind("compare_day", days, s.primary_day)
filters.bind("compare_refs", (False, True), False)
c1, c2, c3 = st.columns([2, 2, 1])
by = c1.selectbox("Compare by", dims, format_func=GROUP_BY.get, key="compare_by")
day = c2.select_slider("Timepoint", days, format_func=lambda d: timepoint_label(f"day_{d:g}"), key="compare_day")
show_refs = c3.toggle("Published figures", key="compare_refs", help="Reference markers from DOMAIN.md §6")
table = data.outcomes_table(state.cohort(by), timepoints=[(day, s.window_for(day))])
table = table[table.timepoint != "last"]
if common.empty_note(table):
    st.stop()

refs = (
    definitions.references(state.instrument, "response", day, "evaluable", at_label="Evaluable")
    + definitions.references(state.instrument, "response", day, "itt", at_label="All who started")
    if show_refs
    else None
)
if show_refs and not refs:
    st.caption(f"No published {md(state.instrument)} figures at {timepoint_label(f'day_{day:g}').lower()} to show.")
both = [
    rate_rows(table, "response", "evaluable").assign(label="Evaluable"),
    rate_rows(table, "response", "itt").assign(label="All who started"),
]
rows = pd.concat(both, ignore_index=True)
common.chart(
    charts.rates_with_ci(rows, "Response rate", references=refs or None),
    "Response per group: over evaluable clients and over all who started (missing = non-response), Wilson 95% CI.",
    f"{definitions.response_rule(inst, s)} {definitions.denominators(s)}",
    rows,
    key="compare_response",
    cohort=state.cohort(by),
    title=f"Response at {timepoint_label(f'day_{day:g}').lower()} by {GROUP_BY.get(by, by).lower()}",
)
rem = rate_rows(table, "remission").assign(label="Evaluable, not remitted at baseline")
rem_refs = (
    definitions.references(
        state.instrument, "remission", day, "evaluable", at_label="Evaluable, not remitted at baseline"
    )
    if show_refs
    else None
)
common.chart(
    charts.rates_with_ci(rem, "Remission rate", references=rem_refs or None),
    "Remission per group over evaluable clients not in remission at baseline, Wilson 95% CI.",
    definitions.response_rule(inst, s),
    rem,
    key="compare_remission",
    cohort=state.cohort(by),
    title=f"Remission at {timepoint_label(f'day_{day:g}').lower()} by {GROUP_BY.get(by, by).lower()}",
)

common.subheader("Table")
shown = table[
    [
        "group",
        "n_started",
        "n_evaluable",
        "n_responders",
        "response_rate",
        "response_ci_low",
        "response_ci_high",
        "response_rate_itt",
        "n_remission_eligible",
        "n_remitters",
        "remission_rate",
        "mean_baseline",
        "mean_score",
        "mean_pct_change",
        "suppressed",
    ]
]
common.table(
    common.compact_rates(shown, filters.current().exact),
    hide_index=True,
    width="stretch",
    column_config=common.compact_rate_columns(by),
)
st.caption("Empty cells are suppressed (fewer than the minimum cell size, or would give a suppressed cell back).")
common.download_csv(shown, "Download the table (CSV)", "compare_cohorts.csv", key="dl_compare_table")

common.subheader("Adjusted for case mix")
filters.bind("compare_adjusted", (False, True), False)
if st.toggle(
    "Show the comparison adjusted for case mix",
    key="compare_adjusted",
    help="Groups whose clients differ in severity, condition, prior treatments or age are compared against what "
    "the clinic's own clients of the same case mix achieved.",
):
    try:
        adj, model = data.adjusted(state.cohort(by), float(day), float(s.window_for(day)))
    except OutcomeError as exc:
        st.info(md(str(exc)), icon=":material/info:")
    else:
        crude = adj.assign(label="Crude", rate=adj.crude_rate, ci_low=adj.crude_ci_low, ci_high=adj.crude_ci_high)
        scale = model["clinic_rate"]
        fitted = adj.assign(
            label="Adjusted for case mix",
            rate=adj.adjusted_rate,
            ci_low=[None if v is None or pd.isna(v) else v * scale for v in adj.oe_ci_low],
            ci_high=[None if v is None or pd.isna(v) else v * scale for v in adj.oe_ci_high],
        )
        names = {"observed": "numerator", "n": "denominator"}
        rows = pd.concat([crude, fitted], ignore_index=True).rename(columns=names)
        rows = rows[["group", "label", "numerator", "denominator", "suppressed", "rate", "ci_low", "ci_high"]]
        common.chart(
            charts.rates_with_ci(rows, "Response rate"),
            f"Response at {md(timepoint_label(f'day_{day:g}').lower())} per group, crude (Wilson 95% CI) and adjusted "
            "for case mix (observed / expected x the clinic's rate, exact 95% CI). Model: baseline score, condition, "
            f"prior treatments, age band; fitted on the whole clinic's {model['n_clients']} evaluable clients. "
            "Adjustment covers only what was measured.",
            definitions.case_mix_rule(s, model),
            adj,
            key="compare_adjusted",
        )
        labels = {"group": "Group", **ADJUSTED_LABELS}
        common.table(
            adj[list(labels)],
            hide_index=True,
            width="stretch",
            column_config={
                c: st.column_config.NumberColumn(label, format="percent")
                if c in ("crude_rate", "adjusted_rate")
                else st.column_config.NumberColumn(label, format="%.2f")
                if c.startswith("oe")
                else st.column_config.NumberColumn(label, format="%.1f")
                if c == "expected"
                else label
                for c, label in labels.items()
            },
        )

common.subheader("Trial-matched estimate")
filters.bind("compare_mmrm", (False, True), False)
if st.toggle(
    "Show the mean change as the trials estimate it",
    key="compare_mmrm",
    help="A mixed model for repeated measures over every standard visit up to this timepoint, beside the completers' "
    "mean: the estimand of TRANSFORM-2 and SUSTAIN-1 (DOMAIN.md §8).",
):
    try:
        est = data.mmrm(state.cohort(by), float(day))
    except OutcomeError as exc:
        st.info(md(str(exc)), icon=":material/info:")
    else:
        labels = {
            "group": "Group",
            "n_started": "Started",
            "n_in_model": "In the model",
            "n_completers": "Completers",
            "mmrm_change": "Mixed model: mean change",
            "mmrm_ci_low": "95% CI low",
            "mmrm_ci_high": "95% CI high",
            "completer_change": "Completers: mean change",
            "completer_ci_low": "CI low",
            "completer_ci_high": "CI high",
        }
        common.table(
            est[list(labels)],
            hide_index=True,
            width="stretch",
            column_config={
                c: st.column_config.NumberColumn(label, format="%.1f", help="points of the instrument")
                if c.endswith(("change", "low", "high"))
                else label
                for c, label in labels.items()
            },
        )
        st.caption(
            f"Mean change from baseline in {md(state.instrument)} points at "
            f"{md(timepoint_label(f'day_{day:g}').lower())}. Set a trial's figure beside the mixed model's, with the "
            "same instrument and timepoint; the completers' mean is higher where those who improved less left early."
        )
        with st.expander("How is this calculated?"):
            st.write(definitions.mmrm_rule(s))
