"""Links keep each view's own controls (AppTest on the demo data): a link opens the view with the same controls, a
changed control is written back to the link, a bad value falls back to the default with a notice, and a link to a
client-level view in presentation mode says why it shows the Overview instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import store

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")

# (page, link, {widget kind: {key: the value the widget must show}})
LINKS = [
    (
        "compare",
        {"compare_by": "site", "compare_day": "84", "compare_refs": "1"},
        {"selectbox": {"compare_by": "site"}, "select_slider": {"compare_day": 84}, "toggle": {"compare_refs": True}},
    ),
    (
        "clinicians_sites",
        {"funnel_by": "site", "funnel_day": "84", "funnel_adjusted": "1"},
        {
            "segmented_control": {"funnel_by": "site"},
            "select_slider": {"funnel_day": 84},
            "toggle": {"funnel_adjusted": True},
        },
    ),
    ("rapid_onset", {"rapid_by": "none"}, {"segmented_control": {"rapid_by": "none"}}),
    (
        "long_term",
        {"long_by": "integration", "long_section": "Severity bands", "long_band_day": "84"},
        {"segmented_control": {"long_by": "integration"}, "select_slider": {"long_band_day": 84}},
    ),
    ("attrition", {"attr_by": "site"}, {"segmented_control": {"attr_by": "site"}}),
]


@pytest.mark.parametrize(("page", "link", "widgets"), LINKS, ids=[p for p, _, _ in LINKS])
def test_a_link_opens_the_view_with_its_controls(app_page, demo_db, page, link, widgets):
    at = app_page(page, demo_db, link)
    for kind, values in widgets.items():
        for key, value in values.items():
            assert getattr(at, kind)(key=key).value == value, (kind, key)
    assert not [w.value for w in at.warning if "Ignored" in w.value]  # e.g. "Ignored unknown link parameter"
    assert {k: at.query_params.get(k) for k in link} == link  # the link stays as it was opened


def test_a_new_session_reads_filters_and_controls_from_the_same_link(monkeypatch, demo_db):
    """The sidebar reads its filters from a link once per session, before the view: it must know the views' own
    parameters (no "unknown parameter" notice) and leave them in the link for the view."""
    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setenv(store.ENV_VAR, str(demo_db))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"modality": "IV infusion", "funnel_by": "site"})
    at.run()
    assert not at.warning, [w.value for w in at.warning]
    at.switch_page("dashboard/views/clinicians_sites.py").run()
    assert not at.exception
    assert at.multiselect(key="f_modality").value == ["IV infusion"]
    assert at.segmented_control(key="funnel_by").value == "site"
    assert at.query_params.get("modality") == "IV infusion" and at.query_params.get("funnel_by") == "site"


def test_changing_a_control_writes_it_to_the_link(app_page, demo_db):
    at = app_page("compare", demo_db)
    assert not {"compare_by", "compare_day", "compare_refs"} & set(at.query_params)  # defaults stay out of it
    at.selectbox(key="compare_by").set_value("site").run()
    at.select_slider(key="compare_day").set_value(84).run()
    at.toggle(key="compare_refs").set_value(True).run()
    assert not at.exception
    assert at.query_params.get("compare_by") == "site"
    assert at.query_params.get("compare_day") == "84"
    assert at.query_params.get("compare_refs") == "1"
    at.selectbox(key="compare_by").set_value("modality").run()  # back to the default: out of the link
    assert "compare_by" not in at.query_params and at.query_params.get("compare_day") == "84"


def test_the_clinicians_and_sites_switch_is_written_to_the_link(app_page, demo_db):
    at = app_page("clinicians_sites", demo_db)
    at.segmented_control(key="funnel_by").set_value("site").run()
    at.select_slider(key="funnel_day").set_value(84).run()
    assert not at.exception
    assert at.query_params.get("funnel_by") == "site" and at.query_params.get("funnel_day") == "84"
    at.multiselect(key="f_modality").set_value(["IV infusion"]).run()  # a sidebar filter rewrites the link ...
    assert at.query_params.get("modality") == "IV infusion"
    assert at.query_params.get("funnel_by") == "site" and at.query_params.get("funnel_day") == "84"  # ... keeping these
    assert at.segmented_control(key="funnel_by").value == "site"


@pytest.mark.parametrize(
    ("page", "link", "kind", "key", "default"),
    [
        ("compare", {"compare_by": "'; drop table x"}, "selectbox", "compare_by", "modality"),
        ("compare", {"compare_day": "29"}, "select_slider", "compare_day", 28),
        ("clinicians_sites", {"funnel_by": "league"}, "segmented_control", "funnel_by", "clinician"),
        ("clinicians_sites", {"funnel_adjusted": "yes"}, "toggle", "funnel_adjusted", False),
    ],
)
def test_a_bad_control_value_falls_back_to_the_default_with_a_notice(app_page, demo_db, page, link, kind, key, default):
    at = app_page(page, demo_db, link)
    assert getattr(at, kind)(key=key).value == default
    notices = [w.value for w in at.warning]
    assert any(f"Ignored {key}" in n for n in notices), notices
    assert key not in at.query_params


def test_a_client_level_view_in_presentation_mode_says_why_it_is_not_shown(app_page, demo_db):
    at = app_page("client_timeline", demo_db, {"present": "1", "client": "K000001"})
    notes = [i.value for i in at.info]
    assert any("client timeline is not shown in presentation mode" in n and "one client" in n for n in notes), notes
    assert not at.title and "timeline_client" not in [s.key for s in at.selectbox] and not at.get("plotly_chart")
    # the overview, at the app's root (its default page: an empty path)
    assert [(link.proto.page, link.proto.label) for link in at.get("page_link")] == [("", "Open the overview")]
    assert at.session_state["f_instrument"] == "PHQ-9"  # the sidebar's choices are kept
    next(b for b in at.button if b.label == "Exit presentation mode").click().run()
    assert at.selectbox(key="timeline_client").value == "K000001"  # and the view is back on leaving the mode


# The charts (by key) of each section of the views drawn a section at a time (dashboard/sections.py) on the demo
SECTION_CHARTS = {
    ("rapid_onset", "rapid_section"): {
        "First 7 days": ["rapid_trajectory"],
        "Response at 24 h to day 7": ["rapid_response"],
        "Improvement by dose": ["rapid_by_dose"],
        "Time to response": ["rapid_km"],
    },
    ("long_term", "long_section"): {
        "Trajectory": ["long_trajectory"],
        "Response and remission": ["long_response", "long_remission"],
        "Durability": ["long_relapse", "long_maintenance"],
        "Severity bands": ["long_bands"],
    },
    ("attrition", "attr_section"): {
        "Still dosing": ["attrition_dosing"],
        "Still assessed": ["attrition_assessed"],
        "Weeks 1–12": [],
        "Stopping dose": ["attrition_stopping_dose"],
        "Who each figure counts": [],
    },
    ("my_cohort", "my_section"): {
        "Against the practice": ["my_trajectory", "my_response"],
        "Off track": [],
        "Needs attention": [],
    },
}


def _chart_keys(at) -> list[str]:
    return [c.proto.id.rsplit("-chart_", 1)[-1] for c in at.get("plotly_chart")]


def test_every_section_is_listed_with_its_charts():
    from dashboard.sections import SECTION_VIEWS, SECTIONS

    assert {key: list(SECTIONS[key]) for _, key in SECTION_CHARTS} == {
        key: list(charts) for (_, key), charts in SECTION_CHARTS.items()
    }
    assert set(SECTION_VIEWS.values()) == set(SECTIONS)


@pytest.mark.parametrize(
    ("page", "key", "label"),
    [(page, key, label) for (page, key), charts in SECTION_CHARTS.items() for label in charts],
)
def test_a_link_opens_a_section_and_draws_only_its_charts(app_page, demo_db, page, key, label):
    """A view drawn a section at a time computes and draws the section its link names, and nothing of the others
    (its charts, by key, are that section's alone); the section stays in the link, and its charts carry its
    heading."""
    from dashboard.sections import SECTIONS

    at = app_page(page, demo_db, {key: label})
    assert at.session_state[key] == label
    assert _chart_keys(at) == SECTION_CHARTS[(page, key)][label]
    assert at.query_params.get(key) == (None if label == next(iter(SECTIONS[key])) else label)
    assert not [w.value for w in at.warning if "Ignored" in w.value]
    for chart in at.get("plotly_chart"):
        title = json.loads(chart.proto.spec)["layout"]["title"]["text"]
        assert title in (f"<b>{SECTIONS[key][label]}</b>", "<b>Maintenance doses</b>") or "by timepoint" in title


def test_a_section_link_of_no_section_opens_the_first_with_a_notice(app_page, demo_db):
    at = app_page("long_term", demo_db, {"long_section": "Everything"})
    assert at.session_state["long_section"] == "Trajectory"
    assert _chart_keys(at) == ["long_trajectory"]
    assert any("Ignored long_section" in w.value for w in at.warning), [w.value for w in at.warning]
