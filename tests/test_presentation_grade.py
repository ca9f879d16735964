"""Issue 18's presentation fixes under the real Streamlit runtime (AppTest) on the demo data: what a newcomer saw
on screen (silent gaps, the funnel's labels, legend and table, exported pictures) and what fixes it."""

from __future__ import annotations

import json

import pytest

from dashboard import charts


def _specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_funnel_has_a_legend_labels_only_outliers_and_a_table_of_where_each_falls(app_page, demo_db):
    at = app_page("clinicians_sites", demo_db)
    spec = _specs(at)[0]
    points = [t for t in spec["data"] if t.get("legendgroup") == "points"]
    assert points and {t["name"] for t in points} <= set(charts.funnel.BANDS)
    assert all(t.get("showlegend", True) for t in points)
    for t in points:  # names on the plot only outside the 95% limits
        labelled = "text" in t["mode"]
        assert labelled == (t["name"] != charts.funnel.WITHIN), t["name"]
    [table] = [d.value for d in at.dataframe if "position" in d.value.columns]
    assert list(table.group) == sorted(table.group, key=str.casefold)  # name order: never ranked
    plotted = sum(len(t["hovertext"]) for t in points)
    assert len(table) == plotted
    assert set(table.position) <= {
        "within the 95% limits",
        "above the 95% limit",
        "below the 95% limit",
        "above the 99.8% limit",
        "below the 99.8% limit",
        "no limit at this n",
    }
    assert (table.rate.dropna() > 1).all()  # shown as percents


@pytest.mark.parametrize("by", ["clinician", "site"])
def test_funnel_table_follows_the_switch(app_page, demo_db, by):
    at = app_page("clinicians_sites", demo_db)
    at.segmented_control(key="funnel_by").set_value(by).run()
    assert not at.exception
    [table] = [d.value for d in at.dataframe if "position" in d.value.columns]
    assert len(table) > 0


def test_a_selected_group_without_data_is_named_on_the_chart(app_page, demo_db):
    """MADRS has no scores for some modalities in the demo: the rapid-onset charts by modality name each modality of
    the cohort they do not draw, with why, instead of leaving it out silently."""
    import duckdb

    con = duckdb.connect(str(demo_db), read_only=True)
    try:
        with_madrs = {
            r[0]
            for r in con.execute("select distinct modality from cohort_outcomes where instrument = 'MADRS'").fetchall()
        }
        every = {r[0] for r in con.execute("select distinct modality from courses where course_no = 1").fetchall()}
    finally:
        con.close()
    without = sorted(every - with_madrs)
    assert without, "the demo should have a modality without MADRS scores for this test"
    at = app_page("rapid_onset", demo_db)
    at.selectbox(key="f_instrument").set_value("MADRS").run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    notes = [
        a["text"].replace("<br>", " ")
        for spec in _specs(at)
        for a in spec["layout"].get("annotations", [])
        if a.get("name") == "missing_groups"
    ]
    assert notes, "no chart names its missing groups"
    for modality in without:
        assert all(f"{modality} (no MADRS data here)" in n for n in notes), (modality, notes)


@pytest.mark.parametrize("view", ["overview", "rapid_onset", "long_term", "compare", "clinicians_sites", "attrition"])
def test_every_figure_carries_its_title_cohort_n_and_demo_label_in_the_picture(app_page, demo_db, view):
    """The PNG a presenter exports with the chart's camera button is the figure itself: its heading must say what it
    is, for which cohort and how many clients, and that the data are the demo's."""
    at = app_page(view, demo_db)
    specs = _specs(at)
    assert specs
    for spec in specs:
        title = spec["layout"]["title"]
        text = title["text"] + " " + title["subtitle"]["text"].replace("<br>", " ")
        assert text.startswith("<b>") and "</b>" in text and len(text.split("</b>")[0]) > 3, text
        instrument = at.selectbox(key="f_instrument").value  # rapid onset opens on one with hours-level data
        assert instrument in text and "n = " in text and "clients with a baseline above 0" in text, text
        assert "Demo data (synthetic)" in text, text
        assert spec["layout"]["title"].get("yref") == "container"


def test_presentation_mode_enlarges_the_texts_a_chart_sizes_itself(app_page, demo_db):
    """Numbers at risk under a Kaplan–Meier curve and notes under a plot are sized by the chart; on the projector
    they grow with the rest of the type."""
    plain = _specs(app_page("attrition", demo_db))[0]
    shown = _specs(app_page("attrition", demo_db, {"present": "1"}))[0]

    def sizes(spec):
        return sorted(t["textfont"]["size"] for t in spec["data"] if t.get("mode") == "text")

    assert sizes(plain) and min(sizes(shown)) > max(sizes(plain))
    assert shown["layout"]["xaxis"]["tickfont"]["size"] >= 18


RAW_NAME = __import__("re").compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")


@pytest.mark.parametrize(
    "view", ["overview", "rapid_onset", "long_term", "compare", "clinicians_sites", "attrition", "my_cohort", "data"]
)
def test_every_table_has_human_headers(app_page, demo_db, view):
    """No table shows a raw column name (`last_pct_change`, `n_first_dose`): each such column has a label in its
    column_config; and no text cell reads "None"."""
    at = app_page(view, demo_db)
    for frame in at.dataframe:
        config = json.loads(frame.proto.columns or "{}")
        raw = [
            c
            for c in frame.value.columns
            if RAW_NAME.match(str(c)) and not (config.get(f"col:{c}") or config.get(str(c)) or {}).get("label")
        ]
        assert not raw, f"{view}: raw headers {raw}"
        text = frame.value.select_dtypes(include=["object", "string"])
        assert not text.isin(["None", "nan"]).any().any(), f"{view}: 'None' in a text cell"
        ticks = [c for c in frame.value.columns if frame.value[c].dtype == bool]
        unexplained = [c for c in ticks if not (config.get(f"col:{c}") or config.get(str(c)) or {}).get("help")]
        assert not unexplained, f"{view}: check boxes without a help text: {unexplained}"


def test_the_compare_table_fits_the_page(app_page, demo_db):
    """The outcomes table on Compare was cut off at the right (15 columns, a check box of 'any cell suppressed'):
    each rate now has its interval beside it as one column, and nothing is a bare check box."""
    at = app_page("compare", demo_db)
    [table] = [d.value for d in at.dataframe if "response_ci" in d.value.columns]
    assert len(table.columns) <= 12 and not any(table[c].dtype == bool for c in table.columns)
    ci = [v for v in table.response_ci if v]
    assert ci and all(__import__("re").fullmatch(r"\d+–\d+%", v) for v in ci), ci


def test_rapid_onset_opens_on_an_instrument_with_hours_level_data(app_page, demo_db):
    """The demo's PHQ-9 has no scores in the first 24 hours; MADRS (rated at 4 h and 24 h after IV and IM doses)
    has. Rapid onset opens on MADRS, says why, and draws hours-level data for more than one modality."""
    at = app_page("rapid_onset", demo_db)
    assert at.selectbox(key="f_instrument").value == "MADRS"
    assert any("Opened on **MADRS**" in i.value for i in at.info), [i.value for i in at.info]
    first_week = _specs(at)[0]
    drawn = {t["name"] for t in first_week["data"] if t.get("mode") and "lines" in t["mode"]}
    assert {"IV infusion", "IM injection"} <= drawn, drawn
    # a choice made afterwards stands: back on PHQ-9 the view does not switch again
    at.selectbox(key="f_instrument").set_value("PHQ-9").run()
    assert at.selectbox(key="f_instrument").value == "PHQ-9"
