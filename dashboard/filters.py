"""The shared sidebar filters, kept in the URL (st.query_params) so a filtered view is a shareable link.

Unknown or malformed values in the URL are ignored with a notice, never an exception."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from dashboard import data
from dashboard.outcomes import Filters

INTEGRATION = {"Any": None, "With integration therapy": True, "Ketamine alone": False}
INTEGRATION_URL = {True: "yes", False: "no"}
RATES = {"evaluable": "Evaluable clients", "itt": "All who started (missing = non-response)"}
MULTI = {  # url parameter -> (option dimension, Filters field, label)
    "modality": ("modality", "modalities", "Modalities"),
    "condition": ("condition", "conditions", "Conditions"),
    "site": ("site", "sites", "Sites"),
    "clinician": ("clinician", "clinicians", "Clinicians"),
}
KNOWN_PARAMS = {"instrument", "integration", "from", "to", "min_baseline", "rates", "present", "clients", *MULTI}
KEPT_PARAMS = ("present", "clients")  # presentation-mode switches, carried over as they are


@dataclass
class State:
    """What the sidebar says: the instrument, the cohort filters and the rate denominator."""

    instrument: str | None
    filters: Filters
    rates: str = "evaluable"
    notices: list[str] = field(default_factory=list)

    @property
    def itt(self) -> bool:
        return self.rates == "itt"


def options() -> dict[str, list[str]]:
    frame = data.query("filter_options")
    return {dim: rows.value.tolist() for dim, rows in frame.groupby("dimension")}


def _seed_from_url(opts: dict[str, list[str]]) -> list[str]:
    """Put the URL's filter values into the widgets' session state; return notices for ignored values."""
    params = st.query_params
    notices = []
    for key in params:
        if key not in KNOWN_PARAMS:
            notices.append(f"Ignored unknown link parameter '{key}'.")
    instruments = opts.get("instrument", [])
    inst = params.get("instrument")
    if inst is not None and inst not in instruments:
        notices.append(f"Ignored instrument '{inst}': no scores of it are stored.")
        inst = None
    st.session_state["f_instrument"] = inst or (
        "PHQ-9" if "PHQ-9" in instruments else (instruments[0] if instruments else None)
    )
    for key, (dim, _, _) in MULTI.items():
        allowed = opts.get(dim, [])
        values = params.get_all(key)
        good = [v for v in values if v in allowed]
        bad = [v for v in values if v not in allowed]
        if bad:
            notices.append(f"Ignored {key} value(s) not in the data: {', '.join(bad)}.")
        st.session_state[f"f_{key}"] = good or list(allowed)
    integ = params.get("integration")
    lookup = {v: k for k, v in INTEGRATION_URL.items()}
    if integ is not None and integ not in lookup:
        notices.append(f"Ignored integration '{integ}': use yes or no.")
    st.session_state["f_integration"] = next(
        (label for label, val in INTEGRATION.items() if val == lookup.get(integ)), "Any"
    )
    months = opts.get("cohort_month", [])
    lo, hi = params.get("from"), params.get("to")
    for name, value in (("from", lo), ("to", hi)):
        if value is not None and value not in months:
            notices.append(f"Ignored {name} '{value}': no first doses in that month.")
    lo = lo if lo in months else (months[0] if months else None)
    hi = hi if hi in months else (months[-1] if months else None)
    if lo and hi and lo > hi:
        notices.append("Ignored a cohort period that ends before it starts.")
        lo, hi = months[0], months[-1]
    st.session_state["f_period"] = (lo, hi)
    mb = params.get("min_baseline")
    try:
        value = float(mb) if mb is not None else 0.0
        if not 0 <= value <= 1000:
            raise ValueError
    except ValueError:
        notices.append(f"Ignored min_baseline '{mb}': use a number such as 10.")
        value = 0.0
    st.session_state["f_min_baseline"] = value
    rates = params.get("rates", "evaluable")
    if rates not in RATES:
        notices.append(f"Ignored rates '{rates}': use evaluable or itt.")
        rates = "evaluable"
    st.session_state["f_rates"] = rates
    return notices


def sidebar() -> State:
    """Draw the filters in the sidebar (seeded from the URL once per session) and mirror them to the URL."""
    opts = options()
    notices = []
    if not st.session_state.get("_filters_seeded"):
        notices = _seed_from_url(opts)
        st.session_state["_filters_seeded"] = True
        st.session_state["_filter_notices"] = notices
    instruments = opts.get("instrument", [])
    with st.sidebar:
        st.header("Filters")
        if not instruments:
            st.caption("No outcome data yet: import scores and sessions on the Data page.")
            state = State(None, Filters(), notices=st.session_state.get("_filter_notices", []))
            st.session_state["_filter_state"] = state
            return state
        if st.session_state.get("f_instrument") not in instruments:
            st.session_state["f_instrument"] = instruments[0]
        st.selectbox("Instrument", instruments, key="f_instrument")
        chosen = {}
        for key, (dim, fld, label) in MULTI.items():
            allowed = opts.get(dim, [])
            st.session_state[f"f_{key}"] = [v for v in st.session_state.get(f"f_{key}", allowed) if v in allowed]
            st.multiselect(label, allowed, key=f"f_{key}", placeholder="None selected")
            picked = st.session_state[f"f_{key}"]
            chosen[fld] = None if set(picked) == set(allowed) else tuple(picked)
        st.selectbox("Integration therapy", list(INTEGRATION), key="f_integration")
        months = opts.get("cohort_month", [])
        period = st.session_state.get("f_period")
        if not (isinstance(period, list | tuple) and len(period) == 2 and all(p in months for p in period)):
            st.session_state["f_period"] = (months[0], months[-1]) if months else (None, None)
        if len(months) > 1:
            st.select_slider("First dose between", months, key="f_period")
        lo, hi = st.session_state["f_period"] if months else (None, None)
        st.number_input(
            "Minimum baseline score",
            min_value=0.0,
            max_value=1000.0,
            step=1.0,
            key="f_min_baseline",
            help="Only clients whose baseline is at least this severe (0 = everyone).",
        )
        st.radio(
            "Rates over",
            list(RATES),
            format_func=RATES.get,
            key="f_rates",
            help="For response rates. Evaluable: clients with a score in the window. All who started: "
            "intention to treat (missing = non-response). Remission is always over evaluable clients "
            "not remitted at baseline.",
        )
    filters = Filters(
        modalities=chosen["modalities"],
        conditions=chosen["conditions"],
        sites=chosen["sites"],
        clinicians=chosen["clinicians"],
        integration=INTEGRATION[st.session_state["f_integration"]],
        cohort_from=lo if months and lo != months[0] else None,
        cohort_to=hi if months and hi != months[-1] else None,
        min_baseline=st.session_state["f_min_baseline"] or None,
    )
    state = State(
        st.session_state["f_instrument"],
        filters,
        st.session_state["f_rates"],
        st.session_state.get("_filter_notices", []),
    )
    _write_url(state)
    st.session_state["_filter_state"] = state
    return state


def current() -> State:
    """The state the frame's sidebar computed in this run."""
    return st.session_state.get("_filter_state") or State(None, Filters())


def _write_url(state: State) -> None:
    """Mirror the filters into the URL, leaving out what is at its default."""
    f = state.filters
    wanted: dict[str, str | list[str]] = {}
    if state.instrument and state.instrument != "PHQ-9":
        wanted["instrument"] = state.instrument
    for key, (_, fld, _) in MULTI.items():
        values = getattr(f, fld)
        if values is not None:
            wanted[key] = list(values)
    if f.integration is not None:
        wanted["integration"] = INTEGRATION_URL[f.integration]
    if f.cohort_from:
        wanted["from"] = f.cohort_from
    if f.cohort_to:
        wanted["to"] = f.cohort_to
    if f.min_baseline:
        wanted["min_baseline"] = f"{f.min_baseline:g}"
    if state.rates != "evaluable":
        wanted["rates"] = state.rates
    for key in KEPT_PARAMS:
        if st.query_params.get(key):
            wanted[key] = st.query_params.get(key)
    current = {k: (st.query_params.get_all(k) if k in MULTI else st.query_params.get(k)) for k in st.query_params}
    if current != wanted:
        st.query_params.from_dict(wanted)


def show_notices(state: State) -> None:
    for notice in state.notices:
        st.warning(notice, icon=":material/link_off:")
