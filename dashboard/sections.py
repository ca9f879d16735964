"""The views drawn a section at a time (tabs; views.common.sections draws them): no Streamlit here, so that the
bench and the tests can list them."""

# The views drawn a section at a time (tabs): the link parameter that keeps the open one, then each tab's label and
# the heading its charts carry in their picture; the first is open by default.
SECTIONS = {
    "rapid_section": {
        "First 7 days": "First 7 days",
        "Response at 24 h to day 7": "Response at 24 h, 72 h and day 7",
        "Improvement by dose": "Early improvement by dose",
        "Time to response": "Time to first response",
    },
    "long_section": {
        "Trajectory": "Trajectory by week",
        "Response and remission": "Response and remission at weeks 4, 12 and 26",
        "Durability": "Durability: time to relapse among responders",
        "Severity bands": "Severity bands: baseline to follow-up",
    },
    "attr_section": {
        "Still dosing": "Still dosing, by day since the first dose",
        "Still assessed": "Still assessed, by day since the first dose",
        "Weeks 1–12": "Share still dosing and still assessed at weeks 1–12",
        "Stopping dose": "The dose after which clients stopped",
        "Who each figure counts": "Which clients each figure counts",
    },
    "my_section": {
        "Against the practice": "This clinician's clients and the rest of the practice",
        "Off track": "Off track",
        "Needs attention": "Needs attention",
    },
}
SECTION_VIEWS = {
    "rapid-onset": "rapid_section",
    "long-term": "long_section",
    "attrition": "attr_section",
    "my-cohort": "my_section",
}  # by URL path
