"""The one place that reads Streamlit's sign-in cookie outside a page run. Streamlit has no public API for it: this
uses Streamlit 1.67's own internals (the cookie's name, its chunking and its itsdangerous signature, as
streamlit/web/server/starlette/starlette_websocket.py reads it for st.user), so a change there breaks only this
module. tests/test_signin.py signs in through a real OIDC exchange and fetches a download with the cookie Streamlit
set: if Streamlit changes the cookie, that test fails (every signed-in download would be refused, never the reverse).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from streamlit.auth_util import get_cookie_with_chunks, get_origin_from_redirect_uri
from streamlit.web.server.server_util import get_cookie_secret
from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value
from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME


def signed_in_user(cookies: Mapping[str, str]) -> dict | None:
    """The user a request's cookies prove is signed in (what st.user would say), or None: the cookie must carry
    Streamlit's signature with the configured secret, be no older than Streamlit accepts, say is_logged_in, and have
    been issued for this app's origin (the redirect_uri's)."""
    secret = get_cookie_secret()

    def one(name: str) -> bytes | None:
        raw = cookies.get(name)
        # HTTP cookies are ISO-8859-1: the original bytes come back by encoding to latin-1, as Streamlit does
        return None if raw is None else decode_signed_value(secret, name, raw.encode("latin-1"))

    try:
        decoded = get_cookie_with_chunks(one, USER_COOKIE_NAME)
        payload = json.loads(decoded) if decoded else None
    except (ValueError, UnicodeError):
        return None
    if not isinstance(payload, dict) or payload.get("is_logged_in") is not True:
        return None
    origin = get_origin_from_redirect_uri()
    if origin is None or payload.get("origin") != origin:
        return None
    return payload
