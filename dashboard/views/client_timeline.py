"""Client timeline: one pseudonymous client's scores over days since the first dose, with severity bands, doses
by modality, integration sessions and maintenance doses marked. No calendar dates."""

import streamlit as st

from dashboard import charts, data
from dashboard.escape import md
from dashboard.views import common

state = common.page("Client timeline", "One client's course, by pseudonymous id: scores, doses and sessions.")
if common.no_data(state):
    st.stop()
clients = data.client_list(clinician=None)
if common.empty_note(clients, "No clients with a first dose yet."):
    st.stop()
client = st.selectbox("Client (pseudonymous id)", clients.client_id.tolist(), key="timeline_client")
inst = data.instrument(state.instrument)
scores = data.client_scores(client_id=client, instrument=state.instrument)
sessions = data.client_sessions(client_id=client)
if scores.empty:
    st.info(f"No {md(state.instrument)} scores for {md(client)}. Pick another instrument in the sidebar.")
else:
    common.chart(
        charts.client_timeline(scores, sessions, list(inst.bands), state.instrument, (inst.min_score, inst.max_score)),
        f"{md(client)}: {md(state.instrument)} over days since the first dose; severity bands shaded; doses by "
        "modality (hollow = maintenance) and integration sessions marked at the bottom.",
        "Days are counted from the client's first dosing session. Calendar dates are never shown. "
        "This view shows one client and is not suppressed: it is for the care team, not for export "
        "to an audience.",
        key="timeline",
    )
st.subheader("Outcomes")
outcomes = data.client_outcome_rows(client_id=client)
if not common.empty_note(outcomes, "No baseline for this client, so no outcomes."):
    common.table(outcomes, hide_index=True, width="stretch")
