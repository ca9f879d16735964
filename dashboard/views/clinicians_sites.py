"""Clinicians and sites: funnel plots of response against n with 95% and 99.8% limits, never a league table."""

import streamlit as st

from dashboard import charts, data, definitions
from dashboard.outcomes import timepoint_label
from dashboard.settings import load
from dashboard.views import common

state = common.page("Clinicians and sites", "Is any clinician's or site's response rate unusual for its size?")
if common.no_data(state):
    st.stop()
s = load()
inst = data.instrument(state.instrument)
c1, c2 = st.columns(2)
by = (
    c1.segmented_control(
        "Compare",
        ["clinician", "site"],
        default="clinician",
        key="funnel_by",
        format_func={"clinician": "Clinicians", "site": "Sites"}.get,
    )
    or "clinician"
)
day = c2.select_slider(
    "Timepoint",
    [d for d, _ in s.timepoints],
    value=s.primary_day,
    format_func=lambda d: timepoint_label(f"day_{d:g}"),
    key="funnel_day",
)
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
