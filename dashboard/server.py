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

For speed (each cuts the wait for a first page):
- StaticAssets answers Streamlit's built scripts, styles and fonts from memory, each in one message;
- `lifespan` turns Nagle's algorithm off on the server's socket (send_without_delay) and imports the modules a page
  run needs as the server starts;
- PreloadCharts names Streamlit's plotly.js chunk in a `Link: rel=modulepreload` header of every page, and has the
  page import it as its first script run starts.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib
import mimetypes
import os
import re
import socket
import sys
import threading
from email.utils import formatdate
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
    """Pure ASGI middleware for a page (an HTML response, GET or HEAD) of the app:
    - a `Link: <…PlotlyChart….js>; rel=modulepreload` header, so the browser fetches and compiles plotly.js while it
      loads Streamlit's own scripts;
    - on a GET, the small script EVAL_JS before `</head>`: once the page has asked for its first script run, it
      imports that chunk, so the browser runs plotly.js's 0.3 s of set-up while the server runs the script instead
      of after the first chart arrives. On a cold start that run takes the server over a second.
    Both name the address Streamlit itself imports the chunk from, so the browser holds one module. A page Streamlit
    gzipped (at any address but the root, for a browser that accepts it) is sent unzipped with the script: 8 KB. A
    page in another encoding, or without `</head>`, keeps its body as it is. Nothing else is touched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or PLOTLY_CHUNK is None:
            await self.app(scope, receive, send)
            return
        chunk = f"{_app_root()}{PLOTLY_CHUNK}"
        held: Message | None = None  # a page's response start, held until its body is complete
        body: list[bytes] = []

        async def preload(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                names = {k.lower(): v for k, v in headers}
                if names.get(b"content-type", b"").startswith(b"text/html"):
                    message = {**message, "headers": [*headers, (b"link", f"<{chunk}>; rel=modulepreload".encode())]}
                    if scope.get("method") == "GET" and names.get(b"content-encoding", b"gzip") == b"gzip":
                        held = message
                        return
            elif message["type"] == "http.response.body" and held is not None:
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                page = b"".join(body)
                zipped = any(k.lower() == b"content-encoding" for k, _ in held["headers"])
                if zipped:  # Streamlit gzips a page at any address but the root; the page is sent as it is, whole
                    page = gzip.decompress(page)
                if b"</head>" in page:
                    page = page.replace(b"</head>", EVAL_JS.replace("CHUNK", chunk).encode() + b"</head>", 1)
                drop = (b"content-length", b"content-encoding")
                headers = [(k, v) for k, v in held["headers"] if k.lower() not in drop]
                await send({**held, "headers": [*headers, (b"content-length", str(len(page)).encode())]})
                held = None
                message = {"type": "http.response.body", "body": page}
            await send(message)

        await self.app(scope, receive, preload)


# Once the page has asked for its first script run (Streamlit marks its app element "running"), or 3 s after the
# page has loaded if it never does: plotly.js imported, from the address of the modulepreload header. Not before:
# the browser would set up plotly.js in place of opening the app's connection, and the run would start later.
# The moment is marked on the page's performance timeline ("outcomes:plotly-import"). Constant code: CHUNK is the
# chunk's address, nothing from a request.
EVAL_JS = """<script type="module">
let done = false;
const go = () => {
  if (done) return;
  done = true;
  watch.disconnect();
  performance.mark("outcomes:plotly-import");
  setTimeout(() => import("CHUNK"), 0);
};
const watch = new MutationObserver((changes) => {
  if (changes.some((c) => c.target.getAttribute("data-test-script-state") === "running")) go();
});
watch.observe(document, {subtree: true, attributes: true, attributeFilter: ["data-test-script-state"]});
addEventListener("load", () => setTimeout(go, 3000), {once: true});
</script>"""


# Streamlit's built assets: content-hashed names under static/js, static/css and static/media, never changed while
# the installed Streamlit is. A first visit fetches about 60 of them at once, plus the plotly.js chunk.
STATIC_DIR = Path(streamlit.__file__).parent / "static" / "static"
_ASSET_PATH = re.compile(r"/static/(js|css|media)/([^/]+)")
# A request that asks for part of a file or only for a change is left to Streamlit, which answers those.
_CONDITIONAL = (b"range", b"if-range", b"if-none-match", b"if-modified-since")


class StaticAssets:
    """Pure ASGI middleware: a plain GET or HEAD for one of Streamlit's built assets is answered from memory, whole,
    in one message, with the headers Streamlit's own static handler gives it (Starlette's FileResponse: type, length,
    last-modified, etag; cache-control public, immutable, a year). Only names listed in those three folders are
    answered, so no path from a request reaches the file system; everything else goes on to Streamlit.

    Why: Streamlit streams each file through its middleware and a worker thread in 64 KiB pieces, so a first visit's
    60 small modules trickle out over 0.6 s behind the 4.7 MB plotly.js chunk (and slower still while the server
    imports its modules after a cold start); from memory they all arrive within a few milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._names: dict[str, frozenset[str]] = {}
        self._answers: dict[tuple[str, str], tuple[list[tuple[bytes, bytes]], bytes]] = {}

    def _answer(self, kind: str, name: str) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        if kind not in self._names:
            folder = STATIC_DIR / kind
            self._names[kind] = (
                frozenset(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else frozenset()
            )
        if name not in self._names[kind]:
            return None
        key = (kind, name)
        if key not in self._answers:
            path = STATIC_DIR / kind / name
            stat = path.stat()
            body = path.read_bytes()
            etag = hashlib.md5(f"{stat.st_mtime}-{stat.st_size}".encode(), usedforsecurity=False).hexdigest()
            headers = [
                (b"content-type", _content_type(name).encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
                (b"last-modified", formatdate(stat.st_mtime, usegmt=True).encode()),
                (b"etag", f'"{etag}"'.encode()),
                (b"cache-control", f"public, immutable, max-age={ASSET_MAX_AGE}".encode()),
            ]
            self._answers[key] = (headers, body)
        return self._answers[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            found = _ASSET_PATH.fullmatch(_app_path(scope.get("path", "")))
            plain = not any(k.lower() in _CONDITIONAL for k, _ in scope.get("headers", []))
            answer = self._answer(*found.groups()) if found and plain else None
            if answer is not None:
                headers, body = answer
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
                return
        await self.app(scope, receive, send)


ASSET_MAX_AGE = 365 * 24 * 60 * 60  # as Streamlit's STATIC_ASSET_CACHE_MAX_AGE_SECONDS


def _content_type(name: str) -> str:
    """As Starlette's FileResponse names it (text types with their charset)."""
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") else kind


def _app_root() -> str:
    """The app's root path, with server.baseUrlPath: "/" or "/base/"."""
    from streamlit import config

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/" if base else "/"


def middleware() -> list[Middleware]:
    return [Middleware(SessionGuard), Middleware(StaticAssets), Middleware(PreloadCharts)]


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
    "dashboard.data",
    "dashboard.filters",
    "dashboard.presentation",
    "dashboard.views.common",
    "dashboard.outcomes",
    "plotly.graph_objects",
    "plotly.subplots",
    "dashboard.charts",
    "scipy.stats",
    "statsmodels.stats.proportion",
    "dashboard.expected",
)


def _warm() -> None:
    for name in WARM_MODULES:
        importlib.import_module(name)


def send_without_delay() -> int:
    """TCP_NODELAY on the socket Streamlit listens on (so on every connection it accepts: Linux copies the option to
    them); returns how many listening sockets were set.

    Streamlit binds that socket itself, with protocol number 0, and asyncio turns Nagle's algorithm off only on
    sockets whose protocol reads IPPROTO_TCP, so it stays on. A response's body then waits for the browser to
    acknowledge its headers, which a browser delays by 40 ms: every second and later request on a connection took
    over 40 ms, so a first visit's 60 modules took 0.6 s to arrive, and WebSocket messages sent close together wait
    the same way. Found by the server's port among the process's open descriptors (standard socket calls only);
    on a system without /proc/self/fd or /dev/fd nothing is set."""
    from streamlit import config

    port = config.get_option("server.port")
    folder = next((Path(d) for d in ("/proc/self/fd", "/dev/fd") if Path(d).is_dir()), None)
    done = 0
    for name in os.listdir(folder) if folder else []:
        try:
            sock = socket.socket(fileno=int(name))
        except (OSError, ValueError):  # not a socket (or gone)
            continue
        try:
            listening = (
                sock.family in (socket.AF_INET, socket.AF_INET6)
                and sock.type == socket.SOCK_STREAM
                and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                and sock.getsockname()[1] == port
            )
            if listening:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                done += 1
        except OSError:
            pass
        finally:
            sock.detach()  # the descriptor stays open: it is the server's
    return done


@contextlib.asynccontextmanager
async def lifespan(_app):
    """st.App's lifespan, as the server starts (its socket bound and listening, no connection accepted yet): Nagle's
    algorithm off on that socket (send_without_delay), and the modules of WARM_MODULES imported in a thread of their
    own."""
    send_without_delay()
    threading.Thread(target=_warm, name="warm-imports", daemon=True).start()
    yield
