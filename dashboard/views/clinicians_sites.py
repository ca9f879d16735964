"""Clinicians and sites: funnel plots of response against n with 95% and 99.8% limits, never a league table."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, definitions, filters, stats
from dashboard.cohort import OutcomeError
from dashboard.escape import md
from dashboard.outcomes import timepoint_label
from dashboard.settings import load
from dashboard.views import common

state = common.page("Clinicians and sites", "Is any clinician's or site's response rate unusual for its size?")
if common.no_data(state):
    st.stop()
s = load()
inst = data.instrument(state.instrument)
days = [d for d, _ in s.timepoints]
filters.bind("funnel_by", ["clinician", "site"], "clinician")
filters.bind("funnel_day", days, s.primary_day)
c1, c2 = st.columns(2)
by = (
    c1.segmented_control(
        "Compare",
        ["clinician", "site"],
        key="funnel_by",
        format_func={"clinician": "Clinicians", "site": "Sites"}.get,
    )
    or "clinician"
)
day = c2.select_slider("Timepoint", days, format_func=lambda d: timepoint_label(f"day_{d:g}"), key="funnel_day")
points, limits, p0 = data.funnel(state.cohort(by), target_day=day, window_days=s.window_for(day))
if p0 is None or common.empty_note(points):
    st.stop()
common.chart(
    charts.funnel_plot(points, limits, p0),
    f"Response rate at {timepoint_label(f'day_{day:g}').lower()} against evaluable clients per "
    f"{by}; the line is the overall rate ({100 * p0:.1f}%), with 95% (dashed) and 99.8% (dotted) limits.",
    "Funnel plot (Spiegelhalter 2005): exact binomial limits around the overall rate for each n. A point "
    "outside the 99.8% limits is unlikely to differ by chance alone; inside them, differences are "
    "compatible with chance. Response is the fairest comparison (it depends least on baseline severity; "
    f"Coley 2020). Groups are not ranked. {definitions.response_rule(inst, s)} {definitions.denominators(s)}",
    points,
    key=f"funnel_{by}",
)
hidden = int(points.suppressed.sum())
if hidden:
    st.caption(f"{hidden} {by}(s) with fewer evaluable clients than the minimum cell size are not plotted.")
common.funnel_table(charts.funnel_positions(points[~points.suppressed], limits), by, "Response rate")

filters.bind("funnel_adjusted", (False, True), False)
if st.toggle(
    "Adjusted for case mix",
    key="funnel_adjusted",
    help="Observed over expected responders, expected from the clinic's own clients of the same baseline, "
    "condition, prior treatments and age band; limits around 1.",
):
    try:
        adj, model = data.adjusted(state.cohort(by), float(day), float(s.window_for(day)))
    except OutcomeError as exc:
        st.info(md(str(exc)), icon=":material/info:")
    else:
        shown = adj.dropna(subset=["expected", "oe"])
        points_oe = adj.drop(columns="n").rename(columns={"expected": "n", "oe": "rate"})[
            ["group", "n", "rate", "suppressed"]
        ]
        e_max = float(pd.to_numeric(shown.expected, errors="coerce").max()) if len(shown) else 1.0
        grid = stats.ratio_funnel_limits(e_max)
        at_points = stats.ratio_funnel_limits_at(pd.to_numeric(shown.expected, errors="coerce").tolist())
        limits_oe = pd.concat([grid, at_points]).rename(columns={"expected": "n"}).sort_values("n")
        common.chart(
            charts.funnel_plot(
                points_oe,
                limits_oe,
                1.0,
                "Observed / expected responders",
                x_title="Expected responders (E)",
                ratio=True,
            ),
            f"Observed over expected responders at {timepoint_label(f'day_{day:g}').lower()} per {by}, against the "
            "expected number; the line is 1 (as the clinic's clients of the same case mix), with 95% (dashed) and "
            f"99.8% (dotted) Poisson limits. Model fitted on the whole clinic's {model['n_clients']} evaluable "
            "clients. Adjustment covers only what was measured.",
            definitions.case_mix_rule(s, model),
            adj,
            key=f"funnel_adjusted_{by}",
        )
        shown_oe = points_oe[~points_oe.suppressed.astype(bool)].dropna(subset=["n", "rate"])
        common.funnel_table(charts.funnel_positions(shown_oe, limits_oe), by, "O/E", ratio=True)
