"""Charts layer: pure functions, DataFrame in, plotly Figure out (no Streamlit, no queries, no I/O).

One module per chart family; this package re-exports their public names, so callers write
`from dashboard import charts; charts.rates_with_ci(...)`.

- palette:    OKABE_ITO, MODALITY_COLOURS, ALL_COLOUR, colour_for (and rgba for translucent fills)
- layout:     the shared style, the "No data for this selection" figure, suppression and other notes
- values:     plain numbers for plotly (None for a gap) and the hover text forms
- common:     frame checks, `shown_mask`, `per_group` (every per-group chart) and `error_bars` (Wilson CIs)
- trajectory: trajectory_with_ci              - rates:    rates_with_ci (+ reference lines)
- survival:   km_curve (numbers at risk)      - funnel:   funnel_plot
- flow:       flow_chart                      - bands:    band_sankey
- timeline:   client_timeline                 - dose:     improvement_by_dose, maintenance_bars

Conventions shared by every chart:
- Groups are coloured through `colour_for`, so a modality has one colour on every chart; charts with one
  trace per group go through `common.per_group` for their order, colours, rows and the groups left empty.
- A row is suppressed when its value is None/NaN or its optional `suppressed` column is True. Suppressed
  rows are left out of every trace; a small note says how many were dropped ("N groups suppressed (fewer
  than k clients)"). `k` is the clinic's small-cell setting and only feeds that sentence (and the
  numbers-at-risk table, whose counts are shown through `privacy.count_label`).
- An empty frame gives a figure with the centred note "No data for this selection" instead of raising.
- Trace data are plain Python lists (None for gaps), so `fig.to_dict()` holds no base64 arrays.
- Time is always days/weeks since the first dose; calendar dates are never drawn.
- Text from the frame (group, label, stage and band names, titles) is escaped with `escape.plot` where it is
  put on the figure, so plotly shows it as the characters it holds: no <a href>, <b> or entity from the data is
  ever live. Callers pass plain text.
"""

from __future__ import annotations

from dashboard.charts.bands import band_sankey
from dashboard.charts.dose import improvement_by_dose, maintenance_bars
from dashboard.charts.flow import flow_chart
from dashboard.charts.funnel import funnel_plot
from dashboard.charts.funnel import positions as funnel_positions
from dashboard.charts.layout import NO_DATA_TEXT
from dashboard.charts.palette import ALL_COLOUR, MODALITY_COLOURS, OKABE_ITO, colour_for
from dashboard.charts.rates import rates_with_ci
from dashboard.charts.survival import DEFAULT_AT_RISK_TIMES, km_curve
from dashboard.charts.timeline import client_timeline
from dashboard.charts.trajectory import trajectory_with_ci

__all__ = [
    "ALL_COLOUR",
    "DEFAULT_AT_RISK_TIMES",
    "MODALITY_COLOURS",
    "NO_DATA_TEXT",
    "OKABE_ITO",
    "band_sankey",
    "client_timeline",
    "colour_for",
    "flow_chart",
    "funnel_plot",
    "funnel_positions",
    "improvement_by_dose",
    "km_curve",
    "maintenance_bars",
    "rates_with_ci",
    "trajectory_with_ci",
]
