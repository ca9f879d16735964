"""The shared sidebar filters, kept in the URL (st.query_params) so a filtered view is a shareable link. Both are
generated from the one table of filters, dashboard.cohort.FILTERS: nothing here names a particular filter. Each view's
own controls (group by, timepoint, switches) are kept in the URL beside them by `bind`, under their widget keys.

Unknown or malformed values in the URL are ignored with a notice, never an exception. A notice quotes what it ignored
through escape.md (shortened), so a link cannot put a live link, image or markup on the page.

A link with more than 1,000 parameters (or over 512 KiB of them) is dropped whole by Streamlit before the app runs,
so st.query_params is empty; a small script in the browser (LINK_CHECK_JS) reports such a link, and the sidebar says
that none of its filters were read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import streamlit as st

from dashboard import data
from dashboard.cohort import FILTERS, Cohort, Filter, Filters
from dashboard.escape import md, shorten
from dashboard.settings import load

RATES = {"evaluable": "Evaluable clients", "itt": "All who started (missing = non-response)"}
ANY = "Any"
KEPT_PARAMS = ("present", "clients", "client")  # presentation switches and the timeline's client, kept as they are
# The views' own controls (their widget keys), each kept in the URL by `bind` on the page that draws it
VIEW_PARAMS = (
    "rapid_by",
    "long_by",
    "long_band_day",
    "compare_by",
    "compare_day",
    "compare_refs",
    "compare_adjusted",
    "compare_mmrm",
    "funnel_by",
    "funnel_day",
    "funnel_adjusted",
    "attr_by",
    "rapid_section",
    "long_section",
    "attr_section",
    "my_section",
)
URL_FILTERS = [f for f in FILTERS if f.url]
MONTHS = [f for f in URL_FILTERS if f.kind in ("month_from", "month_to")]  # one slider: the period
KNOWN_PARAMS = {"instrument", "rates", *KEPT_PARAMS, *VIEW_PARAMS, *(f.name for f in URL_FILTERS)}
NAMED = 5  # a notice names at most this many of the values it ignored
# Streamlit's limits on a link (streamlit/runtime/state/query_params.py): over either, it reads no parameter at all
MAX_LINK_FIELDS = 1000
MAX_LINK_CHARS = 512 * 1024
NARROW_PX = 1100  # a window this wide or narrower opens with the sidebar closed (Streamlit's own limit is 768 px)
# Runs in the browser as the first element of a page run, once per page load: on a narrow window the sidebar is
# closed, so that the charts get the width (its » button opens it). Constant code: no data is ever put into it.
PAGE_SETUP_JS = """
export default function (component) {
  if (window.__outcomesPageSetUp) return;
  window.__outcomesPageSetUp = true;
  if (window.innerWidth <= NARROW_PX) {
    const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (close) close.click();
  }
}
""".replace("NARROW_PX", str(NARROW_PX))
_page_setup = st.components.v2.component("outcomes_page_setup", js=PAGE_SETUP_JS)
# Runs in the browser once per page load: the address the page was opened with (the navigation entry, which keeps the
# query string after Streamlit switches page), reported only when Streamlit would have dropped it. Constant code: no
# data is ever put into it.
LINK_CHECK_JS = """
export default function (component) {
  const entry = performance.getEntriesByType("navigation")[0];
  const query = new URL(entry ? entry.name : window.location.href).search.replace(/^\\?/, "");
  const fields = query ? query.split("&").length : 0;
  if (fields > MAX_FIELDS || query.length > MAX_CHARS) {
    component.setStateValue("link", { fields: fields, chars: query.length });
  }
}
""".replace("MAX_FIELDS", str(MAX_LINK_FIELDS)).replace("MAX_CHARS", str(MAX_LINK_CHARS))
_link_check = st.components.v2.component("outcomes_link_check", js=LINK_CHECK_JS)


@dataclass
class State:
    """What the sidebar says: the instrument, the cohort filters and the rate denominator."""

    instrument: str | None
    filters: Filters  # type: ignore[valid-type]
    rates: str = "evaluable"
    notices: list[str] = field(default_factory=list)
    exact: bool = False  # an editor asked for exact counts on screen (never in presentation mode or downloads)

    @property
    def itt(self) -> bool:
        return self.rates == "itt"

    def cohort(self, by: str = "none") -> Cohort:
        """The cohort the sidebar selects, grouped by `by`, under the settings in force."""
        return Cohort(self.instrument, self.filters, by, load(), rounded=not self.exact)


PENDING_INSTRUMENT = "_pending_instrument"


def open_on_instrument(instrument: str) -> None:
    """Ask for another instrument in the sidebar from inside a view (the widget is drawn already this run): set on
    the next run, which this starts."""
    st.session_state[PENDING_INSTRUMENT] = instrument
    st.rerun()


def options() -> dict[str, list[str]]:
    frame = data.filter_options()
    return {dim: rows.value.tolist() for dim, rows in frame.groupby("dimension")}


def _quoted(values: list[str], quote: str = "'") -> str:
    """Up to NAMED ignored values, each shortened, escaped and quoted, then how many more there were."""
    named = ", ".join(f"{quote}{md(shorten(v))}{quote}" for v in values[:NAMED])
    return named + (f" and {len(values) - NAMED:,} more" if len(values) > NAMED else "")


def _yesno_labels(f: Filter) -> dict[str, bool | None]:
    return {
        ANY: None,
        f.describe_as[:1].upper() + f.describe_as[1:]: True,
        f.describe_no[:1].upper() + f.describe_no[1:]: False,
    }


def _seed_one(f: Filter, opts: dict[str, list[str]], notices: list[str]) -> None:
    """Put one filter's URL value into its widget's session state (or its default), noting what is ignored."""
    params = st.query_params
    key = f"f_{f.name}"
    if f.multi:
        allowed = opts.get(f.column, [])
        values = params.get_all(f.name)
        bad = [v for v in values if v not in allowed]
        if bad:
            notices.append(f"Ignored {f.name} value(s) not in the data: {_quoted(bad, quote='')}.")
        st.session_state[key] = [v for v in values if v in allowed] or list(allowed)
        return
    text = params.get(f.name)
    value = None
    if text is not None:
        try:
            value = f.parse(text)
        except ValueError as exc:
            notices.append(f"Ignored {f.name} {_quoted([text])}: {md(exc)}.")
    if f.kind == "yesno":
        st.session_state[key] = next(label for label, v in _yesno_labels(f).items() if v == value)
    elif f.kind == "number_min":
        st.session_state[key] = value or 0.0


def _seed_period(opts: dict[str, list[str]], notices: list[str]) -> None:
    months = opts.get("cohort_month", [])
    ends = []
    for f in MONTHS:
        text = st.query_params.get(f.name)
        if text is not None and text not in months:
            notices.append(f"Ignored {f.name} {_quoted([text])}: no first doses in that month.")
        ends.append(text if text in months else None)
    lo, hi = ends[0] or (months[0] if months else None), ends[1] or (months[-1] if months else None)
    if lo and hi and lo > hi:
        notices.append("Ignored a cohort period that ends before it starts.")
        lo, hi = months[0], months[-1]
    st.session_state["f_period"] = (lo, hi)


def _seed_from_url(opts: dict[str, list[str]]) -> list[str]:
    """Put the URL's filter values into the widgets' session state; return notices for ignored values."""
    params = st.query_params
    unknown = [key for key in params if key not in KNOWN_PARAMS]
    notices = [f"Ignored unknown link parameter(s) {_quoted(unknown)}."] if unknown else []
    instruments = opts.get("instrument", [])
    inst = params.get("instrument")
    if inst is not None and inst not in instruments:
        notices.append(f"Ignored instrument {_quoted([inst])}: no scores of it are stored.")
        inst = None
    st.session_state["f_instrument"] = inst or (
        "PHQ-9" if "PHQ-9" in instruments else (instruments[0] if instruments else None)
    )
    for f in URL_FILTERS:
        if f not in MONTHS:
            _seed_one(f, opts, notices)
    _seed_period(opts, notices)
    rates = params.get("rates", "evaluable")
    if rates not in RATES:
        notices.append(f"Ignored rates {_quoted([rates])}: use evaluable or itt.")
        rates = "evaluable"
    st.session_state["f_rates"] = rates
    return notices


def _widget(f: Filter, opts: dict[str, list[str]]):
    """Draw one filter's widget; return the filter's value (None = no filter)."""
    key = f"f_{f.name}"
    if f.multi:
        allowed = opts.get(f.column, [])
        st.session_state[key] = [v for v in st.session_state.get(key, allowed) if v in allowed]
        st.multiselect(f.label, allowed, key=key, placeholder="None selected", help=f.help)
        picked = st.session_state[key]
        return None if set(picked) == set(allowed) else tuple(picked)
    if f.kind == "yesno":
        labels = _yesno_labels(f)
        if st.session_state.get(key) not in labels:
            st.session_state[key] = ANY
        st.selectbox(f.label, list(labels), key=key, help=f.help)
        return labels[st.session_state[key]]
    st.number_input(f.label, min_value=0.0, max_value=1000.0, step=1.0, key=key, help=f.help)
    return st.session_state[key] or None


def _period(opts: dict[str, list[str]]) -> dict[str, str | None]:
    """The first-dose period slider; the month filters' values (None at the data's first / last month)."""
    months = opts.get("cohort_month", [])
    period = st.session_state.get("f_period")
    if not (isinstance(period, list | tuple) and len(period) == 2 and all(p in months for p in period)):
        st.session_state["f_period"] = (months[0], months[-1]) if months else (None, None)
    if len(months) > 1:
        st.select_slider("First dose between", months, key="f_period")
    if not months:
        return {f.field: None for f in MONTHS}
    lo, hi = st.session_state["f_period"]
    return {MONTHS[0].field: lo if lo != months[0] else None, MONTHS[1].field: hi if hi != months[-1] else None}


def page_setup() -> None:
    """Close the sidebar on a narrow window (PAGE_SETUP_JS; once per page load)."""
    with st.sidebar:
        _page_setup(key="_page_setup")


def _link_dropped() -> str | None:
    """The notice for a link Streamlit dropped whole (too many parameters), once the browser has reported one."""
    with st.sidebar:
        link = _link_check(key="_link_check", default={"link": None}, on_link_change=lambda: None).get("link")
    if not isinstance(link, dict) or st.query_params:
        return None
    fields, chars = int(link.get("fields") or 0), int(link.get("chars") or 0)
    too_many = f"{fields:,} parameters" if fields > MAX_LINK_FIELDS else f"{chars:,} characters of parameters"
    return (
        f"Ignored the whole link: it has {too_many}, and links are read only up to {MAX_LINK_FIELDS:,} parameters "
        f"and {MAX_LINK_CHARS // 1024:,} KiB, so every filter is at its default."
    )


def sidebar() -> State:
    """Draw the filters in the sidebar (seeded from the URL once per session) and mirror them to the URL."""
    opts = options()
    if not st.session_state.get("_filters_seeded"):
        st.session_state["_filter_notices"] = _seed_from_url(opts)
        st.session_state["_filters_seeded"] = True
    dropped = _link_dropped()
    if dropped and dropped not in st.session_state["_filter_notices"]:
        st.session_state["_filter_notices"].insert(0, dropped)
    notices = st.session_state.get("_filter_notices", [])
    instruments = opts.get("instrument", [])
    with st.sidebar:
        st.header("Filters")
        if not instruments:
            st.caption("No outcome data yet: import scores and sessions on the Data page.")
            state = State(None, Filters(), notices=notices)
            st.session_state["_filter_state"] = state
            return state
        if st.session_state.get("f_instrument") not in instruments:
            st.session_state["f_instrument"] = instruments[0]
        pending = st.session_state.pop(PENDING_INSTRUMENT, None)  # a view's request, before the widget is drawn
        if pending in instruments:
            st.session_state["f_instrument"] = pending
        st.selectbox("Instrument", instruments, key="f_instrument")
        chosen = {}
        for f in URL_FILTERS:
            if f is MONTHS[0]:
                chosen |= _period(opts)
            elif f not in MONTHS:
                chosen[f.field] = _widget(f, opts)
        st.radio(
            "Rates over",
            list(RATES),
            format_func=RATES.get,
            key="f_rates",
            help="For response rates. Evaluable: clients with a score in the window. All who started: "
            "intention to treat (missing = non-response). Remission is always over evaluable clients "
            "not remitted at baseline.",
        )
        exact = _exact_toggle()
    state = State(st.session_state["f_instrument"], Filters(**chosen), st.session_state["f_rates"], notices, exact)
    _write_url(state)
    st.session_state["_filter_state"] = state
    return state


def _exact_toggle() -> bool:
    """Counts on screen are rounded to 5 (as everything that may leave the clinic); an editor may show them exact,
    labelled, but never in presentation mode."""
    from dashboard import access, presentation

    if presentation.active() or not access.can_import():
        return False
    return st.toggle(
        "Exact counts",
        key="f_exact",
        value=False,
        help="For use inside the clinic only. Off: counts are rounded to the nearest 5 and counts under the minimum "
        "cell size hidden, as in the report and every download, so a screenshot can be shared. On (editors): "
        "exact counts, labelled on every page; downloads are off meanwhile.",
    )


def current() -> State:
    """The state the frame's sidebar computed in this run."""
    return st.session_state.get("_filter_state") or State(None, Filters())


def _write_url(state: State) -> None:
    """Mirror the filters into the URL, leaving out what is at its default."""
    wanted: dict[str, str | list[str]] = {}
    if state.instrument and state.instrument != "PHQ-9":
        wanted["instrument"] = state.instrument
    for f in URL_FILTERS:
        value = getattr(state.filters, f.field)
        if value is not None:
            wanted[f.name] = list(value) if f.multi else f.format(value)
    if state.rates != "evaluable":
        wanted["rates"] = state.rates
    for key in (*KEPT_PARAMS, *VIEW_PARAMS):  # the views' controls are the views' to write (bind)
        if st.query_params.get(key):
            wanted[key] = st.query_params.get(key)
    multi = {f.name for f in URL_FILTERS if f.multi}
    current = {k: (st.query_params.get_all(k) if k in multi else st.query_params.get(k)) for k in st.query_params}
    if current != wanted:
        st.query_params.from_dict(wanted)


def show_notices(state: State) -> None:
    for notice in state.notices:
        st.warning(notice, icon=":material/link_off:")


def _param_text(value) -> str:
    """A control's value as the link writes it: 1 / 0 for a switch, 28 for a day, the option itself otherwise."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def bind(key: str, options: Sequence, default) -> None:
    """Keep a view's control in the URL under its widget key (one of VIEW_PARAMS). Call it just before drawing the
    widget (with key=key and no default of its own): on the widget's first draw the link's value sets it, a value
    not among `options` being ignored with a notice (the control starts at `default`); on every run its value is
    written to the link, and left out of it at the default."""
    if key not in VIEW_PARAMS:
        raise ValueError(f"{key!r} is not in filters.VIEW_PARAMS")
    texts = {_param_text(o): o for o in options}
    if key not in st.session_state:
        text = st.query_params.get(key)
        if text is not None and text not in texts:
            allowed = ", ".join(md(t) for t in texts)
            st.warning(f"Ignored {key} {_quoted([text])}: use one of {allowed}.", icon=":material/link_off:")
        st.session_state[key] = texts.get(text, default)
    value = st.session_state[key]
    text = None if value is None or value == default else _param_text(value)
    if st.query_params.get(key) != text:
        if text is None:
            del st.query_params[key]
        else:
            st.query_params[key] = text
