"""The server around the app: `streamlit run streamlit_app.py` serves the app through the st.App there, which gets
`middleware()` from here and calls `refuse_to_start_if_unsafe()` first.

With sign-in configured ([auth] in the secrets), Streamlit itself would serve these to anyone who asks:
- /media/...: every file a download button made (reports, CSVs), under a content-hash name, to any client, with or
  without a cookie;
- /_stcore/metrics: the server's counters.
SessionGuard answers 403 to a request for either unless its cookies prove a signed-in session on the allow-list
(dashboard/server_cookie.py reads Streamlit's cookie), and marks what it lets through `Cache-Control: private,
no-store` so no shared cache keeps a copy. Everything else (the page, its assets, the WebSocket, sign-in) is left to
Streamlit and to access.gate, which shows nothing but the sign-in page to a visitor without a session. Without
sign-in configured the app is local-only and the guard lets everything through.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
import threading

from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard import access

GUARDED = ("/media", "/_stcore/metrics")  # each address itself and everything under it
REFUSAL = "Sign in to the dashboard first: this address is only for a signed-in session on its allow-list.\n"


def _app_path(path: str) -> str:
    """The request path with repeated slashes collapsed and server.baseUrlPath taken off the front."""
    from streamlit import config

    path = re.sub(r"/{2,}", "/", path or "/")
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    if base and (path == f"/{base}" or path.startswith(f"/{base}/")):
        path = path[len(base) + 1 :] or "/"
    return path


def guarded(path: str) -> bool:
    path = _app_path(path)
    return any(path == prefix or path.startswith(f"{prefix}/") for prefix in GUARDED)


def signed_in_and_allowed(cookies) -> bool:
    if access.signin_problem():  # a cookie signed with an unsafe secret proves nothing
        return False
    from dashboard import server_cookie

    user = server_cookie.signed_in_user(cookies)
    return user is not None and access.email_allowed(user.get("email"))


class SessionGuard:
    """Pure ASGI middleware (a response streams through untouched; the WebSocket is not looked at)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not guarded(scope.get("path", "")) or not access.auth_configured():
            await self.app(scope, receive, send)
            return
        if not signed_in_and_allowed(HTTPConnection(scope).cookies):
            refusal = PlainTextResponse(REFUSAL, status_code=403, headers={"Cache-Control": "no-store"})
            await refusal(scope, receive, send)
            return

        async def private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", b"private, no-store")]}
            await send(message)

        await self.app(scope, receive, private)


def middleware() -> list[Middleware]:
    return [Middleware(SessionGuard)]


def refuse_to_start_if_unsafe() -> None:
    """With a secrets file that cannot be read, or sign-in configured with an unsafe cookie secret: one line on stderr
    and exit status 2 before any request is served (Streamlit has bound the port and printed its URL by then). The
    page makes the same check on every run, for secrets edited while the server runs."""
    if access.auth_configured():
        problem = access.signin_problem()
        if problem:
            print(problem, file=sys.stderr)
            raise SystemExit(2)


# What a page run imports and the server does not: about a second of the first page's wait after `streamlit run`
# (statistics from scipy and statsmodels, plotly's figure classes, the engine), imported while the server waits for
# its first visitor instead. No data is read: which database a session shows is the session's choice.
WARM_MODULES = (
    "pandas",
    "duckdb",
    "plotly.graph_objects",
    "plotly.subplots",
    "scipy.stats",
    "statsmodels.stats.proportion",
    "dashboard.outcomes",
    "dashboard.charts",
    "dashboard.expected",
    "dashboard.data",
    "dashboard.filters",
    "dashboard.presentation",
    "dashboard.views.common",
)


def _warm() -> None:
    for name in WARM_MODULES:
        importlib.import_module(name)


@contextlib.asynccontextmanager
async def lifespan(_app):
    """st.App's lifespan: the modules of WARM_MODULES imported in a thread of their own as the server starts."""
    threading.Thread(target=_warm, name="warm-imports", daemon=True).start()
    yield
