"""Client timeline: one pseudonymous client's scores over days since the first dose, with severity bands, doses
by modality, integration sessions and maintenance doses marked. No calendar dates."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, definitions
from dashboard.charts.timeline import WHEN_RULE
from dashboard.escape import md, shorten
from dashboard.settings import load
from dashboard.views import common

state = common.page("Client timeline", "One client's course, by pseudonymous id: scores, doses and sessions.")
if common.no_data(state):
    st.stop()
clients = data.client_list(clinician=None)
if common.empty_note(clients, "No clients with a first dose yet."):
    st.stop()
ids = clients.client_id.tolist()
asked = st.query_params.get("client")  # a link from My cohort's off-track list, or a timeline's own
if asked is not None and asked not in ids and "timeline_client" not in st.session_state:
    st.warning(f"Ignored client {md(shorten(asked))}: no client with that id here.", icon=":material/link_off:")
client = st.selectbox(
    "Client (pseudonymous id)", ids, index=ids.index(asked) if asked in ids else 0, key="timeline_client"
)
if st.query_params.get("client") != client:  # the link names the client shown, so it can be shared
    st.query_params["client"] = client
s = load()
inst = data.instrument(state.instrument)
scores = data.client_scores(client_id=client, instrument=state.instrument)
sessions = data.client_sessions(client_id=client)
if scores.empty:
    st.info(f"No {md(state.instrument)} scores for {md(client)}. Pick another instrument in the sidebar.")
else:
    band = data.client_band(state.cohort(), client)
    fig = charts.client_timeline(
        scores,
        sessions,
        list(inst.bands),
        state.instrument,
        (inst.min_score, inst.max_score),
        safety_item=inst.safety_item,
        expected=band.dropna(subset=["expected"]),
        expected_name=f"Expected ≤ (upper {100 * s.expected_quantile:.0f}%)",
    )
    common.chart(
        fig,
        f"{md(client)}: {md(state.instrument)} over days since the first dose; severity bands shaded; doses by "
        "modality (hollow = maintenance) and integration sessions marked at the bottom; the dashed line is the "
        "expected upper bound from the clinic's other clients of the same baseline and modality"
        + (f"; crosses mark item {inst.safety_item} above 0" if inst.safety_item else "")
        + ".",
        "Days are counted from the client's first dosing session. Calendar dates are never shown. "
        "This view shows one client and is not suppressed: it is for the care team, not for export "
        "to an audience. " + WHEN_RULE + " " + definitions.expected_rule(s),
        key="timeline",
        title=f"Client {client}: {state.instrument}",
        client_level=True,
    )
    off = band[band.off_track]
    if len(off):
        last = off.iloc[-1]
        st.warning(
            f"Off track: score {last.score:g} at dose {int(last.doses_before)} (day {last.day:.0f}); "
            f"expected ≤ {int(last.expected)}.",
            icon=":material/trending_up:",
        )


def _cell(column: str, value) -> str:
    """A measure's value as text: yes / no, a day or percent to one decimal, a score; '–' where it does not apply."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "–"
    if column.startswith(("is_", "has_")) or isinstance(value, bool):
        return "yes" if bool(value) else "no"
    if column.endswith(("_day", "_pct_change")):
        return f"{float(value):.1f}"
    return f"{float(value):g}"


st.subheader("Outcomes")
outcomes = data.client_outcome_rows(client_id=client)
if not common.empty_note(outcomes, "No baseline for this client, so no outcomes."):
    # one row per measure and a column per instrument (and course): narrow enough for any page; what each measure
    # means in the expander under it
    measures = {c: v for c, v in definitions.client_outcome_columns(s).items() if c not in ("course_no", "instrument")}
    heads = [f"{r.instrument} (course {int(r.course_no)})" for r in outcomes.itertuples()]
    rows = pd.DataFrame(
        [
            {"measure": label} | {h: _cell(c, value) for h, value in zip(heads, outcomes[c], strict=True)}
            for c, (label, _meaning) in measures.items()
        ]
    )
    common.table(
        rows,
        hide_index=True,
        width="stretch",
        column_config={"measure": st.column_config.TextColumn("Measure", help="What each means: below")}
        | {h: st.column_config.TextColumn(h, help="This client's value ('–': does not apply)") for h in heads},
    )
    with st.expander("What the measures mean"):
        st.markdown("\n".join(f"- **{md(label)}**: {md(meaning)}" for label, meaning in measures.values()))
