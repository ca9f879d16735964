"""Charts: trace types and counts, axis titles, suppression, colours, no mutation, empty frames."""

from __future__ import annotations

import base64
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from dashboard import charts
from dashboard.charts import MODALITY_COLOURS, NO_DATA_TEXT, colour_for, layout
from dashboard.charts.common import error_bars, per_group, shown_mask

IV, IM, SL = "IV infusion", "IM injection", "Sublingual / troche"
PHQ9_BANDS = [(4, "Minimal"), (9, "Mild"), (14, "Moderate"), (19, "Moderately severe"), (27, "Severe")]


# ------------------------------------------------------------------------------------------------ helpers


def decode(value):
    """A trace array as a plain list, whether plotly gave a list, a numpy array or a base64 typed array."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            arr = arr.reshape([int(s) for s in str(value["shape"]).split(",")])
        return arr.tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def leaves(obj):
    """Every scalar in a (decoded) figure spec."""
    obj = decode(obj)
    if isinstance(obj, dict):
        for v in obj.values():
            yield from leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from leaves(v)
    else:
        yield obj


def trace_data(fig: go.Figure) -> list[dict]:
    return fig.to_dict()["data"]


def assert_absent(fig: go.Figure, numbers=(), texts=()):
    """No trace carries any of these numbers (as a value) or texts (as part of a string)."""
    values = list(leaves(trace_data(fig)))
    for number in numbers:
        hits = [
            v
            for v in values
            if isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isclose(v, number, rel_tol=0, abs_tol=1e-9)
        ]
        assert not hits, f"suppressed value {number} found in trace data"
    for text in texts:
        hits = [v for v in values if isinstance(v, str) and text in v]
        assert not hits, f"suppressed text {text!r} found in trace data: {hits[:3]}"


def annotation_texts(fig: go.Figure) -> list[str]:
    """The annotations' texts, a wrapped note read as one line."""
    return [a.text.replace("<br>", " ") if a.text else a.text for a in fig.layout.annotations]


def assert_compact_layout(fig: go.Figure):
    # plotly_white's look (its layout, and its defaults for the traces these charts draw), in a lighter template
    white, template = pio.templates["plotly_white"], fig.layout.template
    assert template == pio.templates[layout.TEMPLATE]
    assert template.layout.plot_bgcolor == white.layout.plot_bgcolor == "white"
    assert template.layout.xaxis == white.layout.xaxis and template.layout.colorway == white.layout.colorway
    assert template.data.scatter == white.data.scatter and template.data.bar == white.data.bar
    assert fig.layout.legend.orientation == "h"
    assert all(m <= 140 for m in (fig.layout.margin.l, fig.layout.margin.r, fig.layout.margin.t))


# ----------------------------------------------------------------------------------------------- fixtures


def trajectory_frame():
    return pd.DataFrame(
        {
            "group": [IV, IV, IV, IM, IM, IM],
            "x": [0, 7, 14, 0, 7, 14],
            "mean": [18.0, 12.0, 77.7, 17.0, 13.0, 11.0],
            "ci_low": [16.0, 10.0, 66.6, 15.0, 11.0, 9.0],
            "ci_high": [20.0, 14.0, 88.8, 19.0, 15.0, 13.0],
            "n_clients": [40, 35, 7, 30, 28, 25],
            "suppressed": [False, False, True, False, False, False],
        }
    )


def rates_frame():
    return pd.DataFrame(
        {
            "group": [IV, IM, IV, IM],
            "label": ["Week 2", "Week 2", "Week 4", "Week 4"],
            "rate": [0.5, 0.4, 0.55, None],
            "ci_low": [0.35, 0.25, 0.4, None],
            "ci_high": [0.65, 0.55, 0.7, None],
            "numerator": [20, 12, 22, None],
            "denominator": [40, 30, 40, None],
        }
    )


def flow_frame():
    return pd.DataFrame(
        {"stage": ["Started", "Has baseline", "Completed induction", "Included"], "n": [200, 150, None, 50]}
    )


def km_frame():
    return pd.DataFrame(
        {
            "group": [IV] * 4 + [IM] * 3,
            "time": [0, 5, 10, 30, 0, 20, 40],
            "survival": [1.0, 0.9, 0.75, 0.5, 1.0, 0.777, 0.6],
            "ci_low": [1.0, 0.8, 0.6, 0.3, 1.0, 0.666, 0.4],
            "ci_high": [1.0, 0.95, 0.85, 0.7, 1.0, 0.888, 0.8],
            "at_risk": [40, 38, 30, 12, 25, 19, 11],
            "suppressed": [False, False, False, False, False, True, False],
        }
    )


def funnel_points():
    return pd.DataFrame(
        {"group": ["Site B", "Site A", "Site C", "Site D"], "n": [50, 20, 9, 40], "rate": [0.3, 0.9, 0.777, 0.5]}
    ).assign(suppressed=[False, False, True, False])


def funnel_limits():
    # Hand-written limits (not computed) so the hover wording can be checked by eye.
    n = [10, 20, 30, 40, 50]
    return pd.DataFrame(
        {
            "n": n,
            "lower_0.95": [0.2, 0.3, 0.32, 0.35, 0.36],
            "upper_0.95": [0.8, 0.7, 0.68, 0.65, 0.64],
            "lower_0.998": [0.1, 0.2, 0.25, 0.28, 0.29],
            "upper_0.998": [0.9, 0.8, 0.75, 0.72, 0.71],
        }
    )


def sankey_frame():
    return pd.DataFrame(
        {
            "from_band": ["Severe", "Severe", "Moderate", "Moderate"],
            "to_band": ["Moderate", "Mild", "Mild", "Severe"],
            "n_clients": [20, 15, 30, None],
        }
    )


def timeline_frames():
    scores = pd.DataFrame({"day": [0, 1, 7, 14, 28], "score": [20, 14, 12, 9, 6]})
    sessions = pd.DataFrame(
        {
            "day": [0, 3, 7, 10, 35, 2, 1],
            "session_type": ["dosing", "dosing", "dosing", "dosing", "dosing", "integration", "preparation"],
            "modality": [IV, IV, IV, IV, IM, None, None],
            "is_maintenance": [False, False, False, False, True, False, False],
        }
    )
    return scores, sessions


def dose_frame():
    return pd.DataFrame(
        {
            "group": ["all"] * 3 + [IV] * 3,
            "dose_no": [1, 2, 3, 1, 2, 3],
            "rate": [0.3, 0.4, 0.5, 0.35, 0.777, 0.6],
            "ci_low": [0.2, 0.3, 0.4, 0.25, 0.666, 0.5],
            "ci_high": [0.4, 0.5, 0.6, 0.45, 0.888, 0.7],
            "numerator": [12, 16, 20, 7, 8, 12],
            "denominator": [40, 40, 40, 20, 9, 20],
            "suppressed": [False, False, False, False, True, False],
        }
    )


def maintenance_frame():
    return pd.DataFrame({"week": [5, 6, 7], "n_doses": [12, None, 15]})


# ------------------------------------------------------------------------------------------------ colours


def test_modalities_keep_their_colour_whatever_else_is_shown():
    assert colour_for(IV, [IV]) == colour_for(IV, [IM, SL, IV, "Site A", "all"]) == "#0072B2"
    assert set(MODALITY_COLOURS) == {IV, IM, SL, "Intranasal esketamine", "Subcutaneous"}
    assert len(set(MODALITY_COLOURS.values())) == 5
    assert set(MODALITY_COLOURS.values()) <= set(charts.OKABE_ITO)


def test_other_groups_take_okabe_ito_by_sorted_position_and_all_is_dark_grey():
    groups = ["Site C", "Site A", "Site B"]
    assert [colour_for(g, groups) for g in ("Site A", "Site B", "Site C")] == ["#E69F00", "#56B4E9", "#009E73"]
    nine = [f"Clinician {i}" for i in range(1, 10)]  # sorted: 1..9; the ninth wraps round to the first colour
    assert colour_for("Clinician 9", nine) == colour_for("Clinician 1", nine) == "#E69F00"
    assert colour_for("all", ["all", IV]) == charts.ALL_COLOUR == "#555555"


def test_same_modality_same_colour_on_different_charts():
    traj = charts.trajectory_with_ci(trajectory_frame(), "Days since first dose", "PHQ-9")
    rates = charts.rates_with_ci(rates_frame())
    km = charts.km_curve(km_frame(), "Not yet responded")
    scores, sessions = timeline_frames()
    timeline = charts.client_timeline(scores, sessions, PHQ9_BANDS, "PHQ-9", (0, 27))
    line = next(t for t in traj.data if t.name == IV).line.color
    marker = next(t for t in rates.data if t.name == IV).marker.color
    km_line = next(t for t in km.data if t.name == IV).line.color
    dose = next(t for t in timeline.data if t.name == f"Dose: {IV}").marker.color
    assert line == marker == km_line == dose == MODALITY_COLOURS[IV]


# ---------------------------------------------------------------------------------------- shared helpers


def test_per_group_order_colours_rows_and_the_groups_left_empty():
    frame = pd.DataFrame(
        {
            "group": ["Site B", IV, "Site A", "Site B", "Site C", None, "Site A"],
            "x": [7, 0, 0, 0, 0, 0, 7],
            "rate": [0.2, 0.5, None, 0.1, 0.9, 0.4, 0.3],
            "suppressed": [False, False, False, False, True, False, False],
        }
    )
    groups = per_group(frame, shown_mask(frame, ["rate"]), sort_by="x")
    # first appearance, missing left out; Site C is named though nothing of it is drawn (suppressed)
    assert groups.names == ["Site B", IV, "Site A", "Site C"]
    assert [g.name for g in groups] == ["Site B", IV, "Site A"]
    assert groups.empty == ["Site C"]
    # IV keeps its modality colour; the sites take Okabe–Ito by sorted position over all four names
    # (IV infusion, Site A, Site B, Site C -> 0, 1, 2, 3), suppressed Site C included
    assert [g.colour for g in groups] == ["#009E73", "#0072B2", "#56B4E9"]
    site_b, iv, site_a = groups.drawn
    assert site_b.rows["x"].tolist() == [0, 7] and site_b.rows["rate"].tolist() == [0.1, 0.2]  # sorted by x
    assert site_a.rows["x"].tolist() == [7]  # its day-0 row has no rate
    assert (site_b.label, iv.label) == ("Site B", IV)
    # given names: only those groups, in that order; one without rows is named as empty
    given = per_group(frame, names=[IV, "Site D"])
    assert [g.name for g in given] == [IV] and given.empty == ["Site D"]
    assert given.drawn[0].colour == MODALITY_COLOURS[IV]
    assert per_group(frame.iloc[0:0]).names == [] and not per_group(frame.iloc[0:0]).drawn


def test_error_bars_are_distances_to_the_limits_floored_at_zero():
    bars = error_bars([0.5, 0.3, None, 0.9], [0.35, None, 0.1, 0.95], [0.65, 0.42, 0.2, 0.97], "#0072B2", width=3)
    assert bars["array"] == pytest.approx([0.15, 0.12, None, 0.07])
    assert bars["arrayminus"][0] == pytest.approx(0.15)
    assert bars["arrayminus"][1:] == [None, None, 0.0]  # no low limit; no value; a low limit above its value
    assert {k: v for k, v in bars.items() if "array" not in k} == {
        "type": "data",
        "symmetric": False,
        "color": "#0072B2",
        "thickness": 1.5,
        "width": 3,
    }
    assert error_bars([], [], [], "#000000")["width"] == 4


def test_rate_charts_draw_their_intervals_through_error_bars():
    rates = charts.rates_with_ci(rates_frame())
    iv = rates.data[0]
    assert iv.error_y.to_plotly_json() == error_bars([0.5, 0.55], [0.35, 0.4], [0.65, 0.7], iv.marker.color)
    dose = charts.improvement_by_dose(dose_frame())
    iv = dose.data[1]  # the dose-2 row is suppressed: a gap there, with no bar
    bars = error_bars([0.35, None, 0.6], [0.25, None, 0.5], [0.45, None, 0.7], iv.line.color, width=3)
    assert iv.error_y.to_plotly_json() == bars


# --------------------------------------------------------------------------------------------- trajectory


def test_trajectory_with_ci_lines_bands_and_titles():
    fig = charts.trajectory_with_ci(trajectory_frame(), "Days since first dose", "PHQ-9 mean", title="Trajectory")
    assert [t.type for t in fig.data] == ["scatter"] * 4
    bands, lines = fig.data[0::2], fig.data[1::2]
    assert [t.name for t in lines] == [IV, IM]
    assert all(t.mode == "lines+markers" for t in lines)
    for band, line in zip(bands, lines, strict=True):
        assert band.fill == "toself" and band.showlegend is False and band.legendgroup == line.legendgroup
    # IM band: upper edge out, lower edge back.
    assert decode(bands[1].x) == [0, 7, 14, 14, 7, 0]
    assert decode(bands[1].y) == [19.0, 15.0, 13.0, 9.0, 11.0, 15.0]
    assert fig.layout.xaxis.title.text == "Days since first dose"
    assert fig.layout.yaxis.title.text == "PHQ-9 mean"
    assert fig.layout.title.text == "Trajectory"
    assert "n = 40" in lines[0].hovertext[0] and "95% CI: 16.0 to 20.0" in lines[0].hovertext[0]
    assert_compact_layout(fig)


def test_trajectory_with_ci_leaves_out_suppressed_points():
    fig = charts.trajectory_with_ci(trajectory_frame(), "Days", "PHQ-9")
    assert decode(fig.data[1].x) == [0, 7]
    assert_absent(fig, numbers=[77.7, 66.6, 88.8], texts=["n = 7"])
    assert "1 point suppressed (counts under 11, or hidden alongside one)" in annotation_texts(fig)


def test_trajectory_with_ci_missing_mean_counts_as_suppressed():
    frame = trajectory_frame().drop(columns="suppressed")
    frame.loc[2, "mean"] = None
    fig = charts.trajectory_with_ci(frame, "Days", "PHQ-9", k=5)
    assert_absent(fig, numbers=[66.6, 88.8])
    assert "1 point suppressed (counts under 5, or hidden alongside one)" in annotation_texts(fig)


# -------------------------------------------------------------------------------------------------- rates


def test_rates_with_ci_markers_error_bars_and_percent_axis():
    fig = charts.rates_with_ci(rates_frame(), y_title="Response rate")
    assert [t.type for t in fig.data] == ["scatter", "scatter"]
    iv, im = fig.data
    assert iv.mode == "markers" and iv.offsetgroup != im.offsetgroup
    assert fig.layout.scattermode == "group"
    assert decode(iv.x) == ["Week 2", "Week 4"]
    assert decode(iv.error_y.array) == pytest.approx([0.15, 0.15])
    assert decode(iv.error_y.arrayminus) == pytest.approx([0.15, 0.15])
    assert iv.hovertext[0].endswith("20 / 40 (50.0%, 95% CI 35%–65%)")
    assert list(fig.layout.xaxis.categoryarray) == ["Week 2", "Week 4"]
    assert fig.layout.yaxis.tickformat == ".0%" and list(fig.layout.yaxis.range) == [0, 1]
    assert fig.layout.yaxis.title.text == "Response rate" and fig.layout.xaxis.title.text == "Outcome"
    assert_compact_layout(fig)


def test_rates_with_ci_suppressed_rows_absent_via_none_or_flag():
    fig = charts.rates_with_ci(rates_frame())
    assert decode(fig.data[1].x) == ["Week 2"]
    assert "1 group suppressed (counts under 11, or hidden alongside one)" in annotation_texts(fig)
    flagged = rates_frame().assign(suppressed=[False, True, False, False])
    flagged.loc[1, ["rate", "ci_low", "ci_high", "numerator", "denominator"]] = [0.777, 0.666, 0.888, 7, 9]
    fig = charts.rates_with_ci(flagged)
    assert_absent(fig, numbers=[0.777, 0.666, 0.888], texts=["7 / 9"])
    assert [t.name for t in fig.data] == [IV]  # IM has nothing left to show
    assert "2 groups suppressed (counts under 11, or hidden alongside one)" in annotation_texts(fig)


def test_rates_with_ci_reference_marks_sit_at_their_own_timepoint_with_source_n_and_definition():
    refs = [
        {
            "label": "McInnes 2022",
            "value": 0.536,
            "n": "537",
            "definition": "PHQ-9 ≥50% reduction, 14–31 days",
            "at_label": "Week 4",
        },
        # no category of its own on this chart: not drawn, not listed
        {"label": "Han 2016", "value": 0.522, "definition": "24 h", "at_label": "24 h"},
        {"label": "Undated", "value": 0.4, "definition": "no timepoint"},
    ]
    fig = charts.rates_with_ci(rates_frame(), references=refs)
    assert len(fig.data) == 2  # references are shapes, not traces
    (shape,) = fig.layout.shapes
    # a dashed mark across the 'Week 4' category only (index 1 of Week 2, Week 4), not a line across the chart
    assert shape.line.dash == "dash" and shape.y0 == shape.y1 == 0.536
    assert (shape.xref, shape.x0, shape.x1) == ("x", 1 - 0.45, 1 + 0.45)
    texts = annotation_texts(fig)
    assert "McInnes 2022" in texts
    assert "Reference “McInnes 2022” at Week 4: 53.6%, n = 537; PHQ-9 ≥50% reduction, 14–31 days" in texts
    assert not any("Han 2016" in t or "Undated" in t for t in texts)


@pytest.mark.parametrize(
    "at_label, value, side",
    [
        ("Week 4", 0.40, "below"),  # IV's 55% is drawn at the mark's right end, above it
        ("Week 4", 0.70, "above"),
        ("Week 2", 0.45, "above"),  # IM's 40% is rightmost at week 2 (IV's 50% is to its left)
        ("Week 2", 0.30, "below"),
        ("Week 4", 0.05, "above"),  # under 10%: no room below
    ],
)
def test_a_reference_label_sits_on_the_side_of_its_mark_away_from_the_rate_beside_it(at_label, value, side):
    ref = {"label": "Source 2020", "value": value, "definition": "d", "at_label": at_label}
    fig = charts.rates_with_ci(rates_frame(), references=[ref])
    (label,) = [a for a in fig.layout.annotations if a.name == "reference_label"]
    assert (label.text, label.y, label.xanchor) == ("Source 2020", value, "right")
    assert label.yanchor == {"below": "top", "above": "bottom"}[side]


def test_references_match_instrument_timepoint_measure_and_denominator():
    from dashboard import definitions

    day1 = definitions.references("MADRS", "response", 1, "evaluable", at_label="24 h")
    assert [(r["label"], r["value"], r["at_label"]) for r in day1] == [
        ("Han 2016 meta-analysis (single IV dose)", 0.522, "24 h")
    ]
    assert [r["value"] for r in definitions.references("MADRS", "response", 7, "evaluable")] == [0.398]
    assert definitions.references("MADRS", "response", 3, "evaluable") == []  # no 72 h figure: nothing drawn
    assert definitions.references("MADRS", "response", 1, "itt") == []  # another denominator
    assert definitions.references("PHQ-9", "response", 42, "evaluable") == []  # Oliver: 'within 6 weeks'
    assert all(r.get("n") and r.get("definition") for r in definitions.references("PHQ-9", "response", 28))


# --------------------------------------------------------------------------------------------------- flow


def test_flow_chart_bars_in_order_with_percent_of_first_stage():
    fig = charts.flow_chart(flow_frame())
    (bar,) = fig.data
    assert bar.type == "bar" and bar.orientation == "h"
    assert decode(bar.y) == ["Started", "Has baseline", "Completed induction", "Included"]
    assert decode(bar.x) == [200, 150, None, 50]
    assert list(bar.text) == ["200 (100%)", "150 (75%)", "", "50 (25%)"]
    assert fig.layout.yaxis.autorange == "reversed"
    assert list(fig.layout.yaxis.categoryarray) == ["Started", "Has baseline", "Completed induction", "Included"]
    assert fig.layout.xaxis.title.text == "Clients" and fig.layout.yaxis.title.text == "Stage"
    assert "suppressed" in annotation_texts(fig)
    assert "1 stage suppressed (counts under 11, or hidden alongside one)" in annotation_texts(fig)
    assert_compact_layout(fig)


def test_flow_chart_suppressed_flag_hides_the_count():
    frame = flow_frame().assign(n=[200, 150, 7, 50], suppressed=[False, False, True, False])
    fig = charts.flow_chart(frame)
    assert decode(fig.data[0].x)[2] is None
    assert_absent(fig, numbers=[7], texts=["n = 7", "7 ("])


# ----------------------------------------------------------------------------------------------------- km


def test_km_curve_steps_bands_and_titles():
    fig = charts.km_curve(km_frame(), "Not yet responded")
    curves = [t for t in fig.data if t.mode == "lines"]
    tables = [t for t in fig.data if t.mode == "text"]
    assert len(curves) == 6 and len(tables) == 2  # per group: CI lower, CI upper, step line; one table row
    assert all(t.line.shape == "hv" for t in curves)
    steps = [t for t in curves if t.showlegend is not False]
    assert [t.name for t in steps] == [IV, IM]
    assert curves[1].fill == "tonexty" and curves[1].legendgroup == curves[2].legendgroup == IV
    assert fig.layout.xaxis.title.text == "Days since first dose"
    assert fig.layout.yaxis.title.text == "Not yet responded"
    assert fig.layout.yaxis2.title.text == "At risk"
    assert all(t.yaxis == "y2" for t in tables)
    assert_compact_layout(fig)


def test_km_curve_numbers_at_risk_from_last_row_at_or_before_each_time():
    fig = charts.km_curve(km_frame(), "Not yet responded")
    iv_table, im_table = (t for t in fig.data if t.mode == "text")
    # Default times up to the last time (40): 0, 7, 14, 28. IV rows at 0/5/10/30 -> 40, 38, 30, 30.
    assert decode(iv_table.x) == [0, 7, 14, 28]
    assert list(iv_table.text) == ["40", "38", "30", "30"]
    # IM: the day-20 row is suppressed, so 28 still reads the day-0 row.
    assert list(im_table.text) == ["25", "25", "25", "25"]
    fig = charts.km_curve(km_frame(), "Not yet responded", at_risk_times=[0, 30])
    iv_table = next(t for t in fig.data if t.mode == "text")
    assert list(iv_table.text) == ["40", "12"]  # day 30 reads its own row


def test_km_curve_at_risk_subtracts_removals_when_events_and_censored_given():
    frame = km_frame().assign(events=[0, 2, 3, 1, 0, 1, 1], censored=[0, 1, 2, 0, 0, 0, 0])
    fig = charts.km_curve(frame, "Not yet responded", at_risk_times=[0, 7, 14])
    iv_table = next(t for t in fig.data if t.mode == "text")
    assert list(iv_table.text) == ["40", "35", "25"]  # 38 - 2 - 1, 30 - 3 - 2


def test_km_curve_small_counts_and_suppressed_rows_hidden():
    fig = charts.km_curve(km_frame(), "Not yet responded", at_risk_times=[45], k=13)
    texts = [list(t.text) for t in fig.data if t.mode == "text"]
    assert texts == [["<13"], ["<13"]]  # IV 12, IM 11: both under k
    assert_absent(charts.km_curve(km_frame(), "x"), numbers=[0.777, 0.666, 0.888], texts=["At risk: 19"])


def test_km_at_risk_times_keep_apart_on_a_long_axis():
    """Numbers at risk at days 0, 7 and 14 ran into each other under a curve that goes on to day 250: a default
    time closer than a tenth of the axis to the last one kept is left out; a short axis keeps them all."""
    long = km_frame().assign(time=lambda f: f.time * 6.25)  # to day 250
    fig = charts.km_curve(long, "Still in response")
    assert list(fig.layout.xaxis.tickvals) == [0, 28, 56, 84, 182]
    at_risk = [t for t in fig.data if t.mode == "text"]
    assert all(decode(t.x) == [0, 28, 56, 84, 182] for t in at_risk)
    assert all(t.cliponaxis is False for t in at_risk)  # the top row is not cut by its panel
    assert list(charts.km_curve(km_frame(), "x").layout.xaxis.tickvals) == [0, 7, 14, 28]


# ------------------------------------------------------------------------------------------------- funnel


def test_funnel_plot_points_limits_and_overall_rate():
    fig = charts.funnel_plot(funnel_points(), funnel_limits(), 0.5)
    assert [t.type for t in fig.data] == ["scatter"] * 8
    within, outside95, outside998 = fig.data[:3]
    # one trace per band in the legend; input order within a band (never ranked)
    assert [t.name for t in fig.data[:3]] == [
        "Within the 95% limits",
        "Outside the 95% limits",
        "Outside the 99.8% limits",
    ]
    assert all(t.showlegend is not False for t in fig.data[:3])
    assert decode(within.x) == [40] and decode(outside95.x) == [50] and decode(outside998.x) == [20]
    # only the points outside the 95% limits carry their name on the plot; the others say it on hover
    assert within.mode == "markers" and within.text is None and "Site D" in within.hovertext[0]
    assert list(outside95.text) == ["Site B"] and list(outside998.text) == ["Site A"]
    assert len({t.marker.color for t in fig.data[:3]}) == 3 and len({t.marker.symbol for t in fig.data[:3]}) == 3
    overall = fig.data[3]
    assert decode(overall.y) == [0.5, 0.5] and decode(overall.x) == [10, 50]
    dashes = [t.line.dash for t in fig.data[4:]]
    assert dashes == ["dash", "dash", "dot", "dot"]
    assert decode(fig.data[5].y) == [0.8, 0.7, 0.68, 0.65, 0.64]
    assert "below the 95% limit" in outside95.hovertext[0]  # 0.3 at n=50: under 0.36, over 0.29
    assert "above the 99.8% limit" in outside998.hovertext[0]  # 0.9 at n=20: over 0.8
    assert "n = 50" in outside95.hovertext[0]
    assert fig.layout.xaxis.title.text == "Clients evaluable (n)"
    assert fig.layout.yaxis.title.text == "Response rate" and fig.layout.yaxis.tickformat == ".0%"
    assert_absent(fig, numbers=[0.777], texts=["Site C"])
    assert "1 group suppressed (counts under 11, or hidden alongside one)" in annotation_texts(fig)
    assert_compact_layout(fig)


def test_funnel_positions_say_where_each_group_falls():
    placed = charts.funnel_positions(funnel_points(), funnel_limits())
    assert list(placed.group) == ["Site B", "Site A", "Site C", "Site D"]
    assert list(placed.position) == [
        "below the 95% limit",
        "above the 99.8% limit",
        "",  # n = 9: no limit there (and suppressed in the app)
        "within the 95% limits",
    ]
    assert list(placed.band) == [
        "Outside the 95% limits",
        "Outside the 99.8% limits",
        "Within the 95% limits",
        "Within the 95% limits",
    ]


# ------------------------------------------------------------------------------------------------- sankey


def test_band_sankey_nodes_links_and_suppression():
    fig = charts.band_sankey(sankey_frame(), to_label="Week 4")
    (sankey,) = fig.data
    assert sankey.type == "sankey"
    assert list(sankey.node.label) == ["Baseline: Severe", "Baseline: Moderate", "Week 4: Moderate", "Week 4: Mild"]
    assert decode(sankey.link.source) == [0, 0, 1]
    assert decode(sankey.link.target) == [2, 3, 3]
    assert decode(sankey.link.value) == [20, 15, 30]
    assert "Week 4: Severe" not in list(sankey.node.label)  # only reached by the suppressed flow
    assert "1 flow suppressed (counts under 11, or hidden alongside one)" in annotation_texts(fig)
    assert {"<b>Baseline</b>", "<b>Week 4</b>"} <= set(annotation_texts(fig))
    bands = ["Severe", "Moderate", "Mild"]
    assert list(sankey.node.color) == [colour_for(b, bands) for b in ("Severe", "Moderate", "Moderate", "Mild")]
    assert_compact_layout(fig)


def test_band_sankey_default_label_and_flag():
    frame = sankey_frame().assign(n_clients=[20, 15, 30, 7], suppressed=[False, False, False, True])
    fig = charts.band_sankey(frame)
    assert "Follow-up: Mild" in list(fig.data[0].node.label)
    assert_absent(fig, numbers=[7])


# ----------------------------------------------------------------------------------------------- timeline


def test_client_timeline_scores_sessions_and_bands():
    scores, sessions = timeline_frames()
    fig = charts.client_timeline(scores, sessions, PHQ9_BANDS, "PHQ-9", (0, 27))
    names = [t.name for t in fig.data]
    assert names == ["PHQ-9", f"Dose: {IV}", f"Maintenance dose: {IM}", "Integration session"]
    assert all(t.type == "scatter" for t in fig.data)
    score, dose, maintenance, integration = fig.data
    assert score.mode == "lines+markers" and decode(score.y) == [20, 14, 12, 9, 6]
    assert decode(dose.x) == [0, 3, 7, 10]
    assert dose.marker.symbol != maintenance.marker.symbol and maintenance.marker.symbol.endswith("-open")
    assert maintenance.marker.color == MODALITY_COLOURS[IM]
    assert integration.marker.symbol not in (dose.marker.symbol, maintenance.marker.symbol)
    assert decode(integration.x) == [2]  # preparation sessions are not drawn
    assert len(fig.layout.shapes) == 5
    assert [(s.y0, s.y1) for s in fig.layout.shapes][:2] == [(0, 4.5), (4.5, 9.5)]
    assert {"Minimal", "Severe"} <= set(annotation_texts(fig))
    assert fig.layout.xaxis.title.text == "Days since first dose" and fig.layout.xaxis.type == "linear"
    assert fig.layout.yaxis.title.text == "PHQ-9" and list(fig.layout.yaxis.range) == [0, 27]
    assert_compact_layout(fig)


def test_client_timeline_without_bands_and_refusing_dates():
    scores, sessions = timeline_frames()
    fig = charts.client_timeline(scores, sessions.iloc[0:0], [], "GAD-7", (0, 21))
    assert len(fig.data) == 1 and not fig.layout.shapes
    dated = scores.assign(day=pd.to_datetime(["2024-01-01"] * 5))
    with pytest.raises(TypeError, match="days since first dose"):
        charts.client_timeline(dated, sessions, [], "PHQ-9", (0, 27))


# ---------------------------------------------------------------------------------------- dose / maintenance


def test_improvement_by_dose_lines_with_error_bars():
    fig = charts.improvement_by_dose(dose_frame())
    assert [t.name for t in fig.data] == ["all", IV]
    assert all(t.type == "scatter" and t.mode == "lines+markers" for t in fig.data)
    assert fig.data[0].line.color == charts.ALL_COLOUR
    assert decode(fig.data[0].error_y.array) == pytest.approx([0.1, 0.1, 0.1])
    # the suppressed dose 2 breaks IV's line: a gap between doses 1 and 3, not a line joining them
    assert decode(fig.data[1].x) == [1, 2, 3] and decode(fig.data[1].y) == [0.35, None, 0.6]
    assert fig.data[1].connectgaps is False
    assert fig.data[0].hovertext[0].endswith("After dose 1: 12 / 40 (30.0%, 95% CI 20%–40%)")
    assert fig.layout.xaxis.title.text == "Dosing session"
    assert fig.layout.yaxis.title.text and fig.layout.yaxis.tickformat == ".0%"
    assert_absent(fig, numbers=[0.777, 0.666, 0.888], texts=["8 / 9"])
    assert "1 point suppressed (counts under 11, or hidden alongside one)" in annotation_texts(fig)
    assert_compact_layout(fig)


def test_maintenance_bars():
    fig = charts.maintenance_bars(maintenance_frame())
    (bar,) = fig.data
    assert bar.type == "bar"
    assert decode(bar.x) == [5, 7] and decode(bar.y) == [12, 15]
    assert fig.layout.xaxis.title.text == "Weeks since first dose"
    assert fig.layout.yaxis.title.text == "Maintenance doses"
    assert "n = 12 maintenance doses" in bar.hovertext[0]
    assert "1 week suppressed (counts under 11, or hidden alongside one)" in annotation_texts(fig)
    assert_compact_layout(fig)


# --------------------------------------------------------------------------------- shared contract, all charts


def _calls():
    scores, sessions = timeline_frames()
    return {
        "trajectory_with_ci": (charts.trajectory_with_ci, [trajectory_frame()], ("Days", "PHQ-9")),
        "rates_with_ci": (charts.rates_with_ci, [rates_frame()], ()),
        "flow_chart": (charts.flow_chart, [flow_frame()], ()),
        "km_curve": (charts.km_curve, [km_frame()], ("Not yet responded",)),
        "funnel_plot": (charts.funnel_plot, [funnel_points(), funnel_limits()], (0.5,)),
        "band_sankey": (charts.band_sankey, [sankey_frame()], ()),
        "client_timeline": (charts.client_timeline, [scores, sessions], (PHQ9_BANDS, "PHQ-9", (0, 27))),
        "improvement_by_dose": (charts.improvement_by_dose, [dose_frame()], ()),
        "maintenance_bars": (charts.maintenance_bars, [maintenance_frame()], ()),
    }


@pytest.mark.parametrize("name", list(_calls()))
def test_inputs_are_not_mutated(name):
    fn, frames, args = _calls()[name]
    copies = [f.copy(deep=True) for f in frames]
    fig = fn(*frames, *args)
    assert isinstance(fig, go.Figure)
    for before, after in zip(copies, frames, strict=True):
        pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize("name", list(_calls()))
@pytest.mark.parametrize("shape", ["no columns", "columns, no rows"])
def test_empty_frames_give_the_no_data_note(name, shape):
    fn, frames, args = _calls()[name]
    empties = [pd.DataFrame() if shape == "no columns" else f.iloc[0:0] for f in frames]
    fig = fn(*empties, *args)
    assert isinstance(fig, go.Figure)
    assert NO_DATA_TEXT in annotation_texts(fig)
    note = next(a for a in fig.layout.annotations if a.text == NO_DATA_TEXT)
    assert (note.x, note.y, note.xref, note.yref) == (0.5, 0.5, "paper", "paper")
    assert not fig.data


def test_all_suppressed_still_draws_a_figure_with_the_note():
    frame = rates_frame().assign(suppressed=True)
    fig = charts.rates_with_ci(frame)
    assert not fig.data
    assert "4 groups suppressed (counts under 11, or hidden alongside one)" in annotation_texts(fig)
    fig = charts.km_curve(km_frame().assign(survival=None), "Not yet responded")
    assert NO_DATA_TEXT in annotation_texts(fig)
    assert "2 groups suppressed (counts under 11, or hidden alongside one)" in annotation_texts(fig)


def test_missing_columns_are_a_clear_error():
    with pytest.raises(ValueError, match="ci_high"):
        charts.trajectory_with_ci(trajectory_frame().drop(columns="ci_high"), "Days", "PHQ-9")


def test_decode_helper_reads_base64_arrays():
    spec = go.Figure(go.Scatter(x=np.array([1.5, 2.5]), y=np.array([[1, 2], [3, 4]]))).to_dict()["data"][0]
    assert decode(spec["x"]) == [1.5, 2.5]
    assert decode(spec["y"]) == [[1, 2], [3, 4]]
    with pytest.raises(AssertionError):
        assert_absent(go.Figure(go.Scatter(x=np.array([0.777]))), numbers=[0.777])


def test_charts_keep_their_template_when_streamlit_has_made_its_own_the_default(monkeypatch):
    """Importing Streamlit makes its plotly template the default (pio.templates.default = "streamlit"); a chart is
    still drawn in the app's own (plotly_white's look), whichever was imported first."""
    import streamlit.elements.plotly_chart  # noqa: F401  (registers the "streamlit" template)

    monkeypatch.setattr(pio.templates, "default", "streamlit")
    fig = charts.trajectory_with_ci(
        pd.DataFrame({"group": ["a"], "x": [0], "mean": [10.0], "ci_low": [9.0], "ci_high": [11.0], "n_clients": [20]}),
        "Days",
        "Mean",
    )
    assert fig.layout.template == pio.templates[layout.TEMPLATE]
