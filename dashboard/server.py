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

For speed: PreloadCharts adds a `Link: rel=modulepreload` header for Streamlit's plotly.js chunk to every page, and
`lifespan` imports the modules a page run needs as the server starts (both cut the wait for a first page).
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
import threading
from pathlib import Path

import streamlit
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


# Streamlit's own chunk of plotly.js (4.7 MB, named by a hash the installed Streamlit fixes), which a page would
# otherwise fetch only when its first chart arrives, then compile before drawing it: over a second of a first visit.
_PLOTLY_CHUNKS = sorted((Path(streamlit.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
PLOTLY_CHUNK = f"static/js/{_PLOTLY_CHUNKS[0].name}" if _PLOTLY_CHUNKS else None


class PreloadCharts:
    """Pure ASGI middleware: a page (an HTML response) comes with a `Link: <…PlotlyChart….js>; rel=modulepreload`
    header, so the browser fetches and compiles plotly.js while it loads Streamlit's own scripts (the same address
    Streamlit imports it from, so it is one module). Nothing else is touched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or PLOTLY_CHUNK is None:
            await self.app(scope, receive, send)
            return

        async def preload(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
                if html:
                    link = f"<{_app_root()}{PLOTLY_CHUNK}>; rel=modulepreload".encode()
                    message = {**message, "headers": [*headers, (b"link", link)]}
            await send(message)

        await self.app(scope, receive, preload)


def _app_root() -> str:
    """The app's root path, with server.baseUrlPath: "/" or "/base/"."""
    from streamlit import config

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/" if base else "/"


def middleware() -> list[Middleware]:
    return [Middleware(SessionGuard), Middleware(PreloadCharts)]


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
