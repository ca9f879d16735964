"""Who may use the app. Without configuration it is local-only (bound to localhost, no sign-in). With an [auth]
section in .streamlit/secrets.toml it requires st.login (OIDC), lets in only the [access] allow-list, and lets
only the editors import."""

from __future__ import annotations

import streamlit as st


def _secrets() -> dict:
    try:
        return st.secrets.to_dict()
    except Exception:  # no secrets file: Streamlit raises its own not-found error type
        return {}


def auth_configured() -> bool:
    return bool(_secrets().get("auth"))


def _matches(email: str, entries) -> bool:
    """An address matches an entry that is the same address or '@domain' (case-insensitive)."""
    email = (email or "").strip().lower()
    for entry in entries or []:
        entry = str(entry).strip().lower()
        if entry and (email == entry or (entry.startswith("@") and email.endswith(entry))):
            return True
    return False


def gate() -> None:
    """Stop the page unless the visitor may see it. Does nothing when no sign-in is configured."""
    if not auth_configured():
        return
    if not st.user.is_logged_in:
        st.title("Ketamine outcomes")
        st.write("Sign in to see your clinic's outcomes.")
        st.button("Sign in", on_click=st.login, type="primary", icon=":material/login:")
        st.stop()
    email = st.user.get("email", "")
    allowed = _secrets().get("access", {}).get("allow", [])
    if not _matches(email, allowed):
        st.error(
            f"{email or 'This account'} is not on this dashboard's allow-list. Ask the clinic's "
            "administrator to add you."
        )
        st.button("Sign out", on_click=st.logout)
        st.stop()
    with st.sidebar:
        st.caption(f"Signed in as {email}")
        st.button("Sign out", on_click=st.logout, key="sign_out")


def can_import() -> bool:
    """Local-only: whoever can reach localhost may import. With sign-in: only the editors."""
    if not auth_configured():
        return True
    return _matches(st.user.get("email", ""), _secrets().get("access", {}).get("editors", []))


def data_page_notice() -> None:
    if not auth_configured():
        st.caption(
            ":material/lock: Running local-only: no sign-in is configured and the server listens on "
            "localhost only. To share it on a network, configure sign-in (see the README)."
        )
    elif not can_import():
        st.info("You can view the data but not import: importing is for the editors listed in the settings.")
