"""The server's speed-ups for a first page (dashboard/server.py), in-process with real sockets and real files:
Nagle's algorithm turned off on the socket Streamlit listens on, and Streamlit's built assets answered from memory
without reaching Streamlit. tests/test_browser.py checks the same against the running app (same headers and bytes as
Streamlit's own answer, the page's plotly.js import, the root without a switch)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket

import pytest
from streamlit import config

from dashboard import server


@pytest.fixture
def port_option():
    """server.port as the test sets it, put back afterwards."""
    before = config.get_option("server.port")
    yield lambda port: config.set_option("server.port", port)
    config.set_option("server.port", before)


def _listening() -> socket.socket:
    # as Streamlit binds it: protocol number 0, which asyncio does not recognise as TCP
    sock = socket.socket(family=socket.AF_INET)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_nagle_is_turned_off_on_the_servers_socket_and_every_connection_it_accepts(port_option):
    ours, other = _listening(), _listening()
    try:
        assert ours.proto == 0 and _nodelay(ours) == 0  # what Streamlit's socket starts as
        port_option(ours.getsockname()[1])
        assert server.send_without_delay() == 1
        assert _nodelay(ours) == 1
        assert _nodelay(other) == 0, "a socket on another port was changed"
        with socket.create_connection(ours.getsockname()) as client:
            accepted, _ = ours.accept()
            with accepted:
                assert _nodelay(accepted) == 1, "the accepted connection still delays small writes"
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"  # the listening socket still works
        assert ours.fileno() != -1 and other.fileno() != -1, "a descriptor was closed"
    finally:
        ours.close()
        other.close()


def test_no_listening_socket_on_the_port_changes_nothing(port_option):
    other = _listening()
    try:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port_option(unused.getsockname()[1])  # bound, not listening
            assert server.send_without_delay() == 0
        assert _nodelay(other) == 0
    finally:
        other.close()


def _call(app, path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None):
    """Run the ASGI app on one request; returns what it sent."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers or [], "query_string": b""}
    # in a thread of its own: the browser tests' Playwright keeps an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    return sent


class Behind:
    """Whatever the middleware passes a request on to (in the server, Streamlit's own app; here, only a record of
    the paths that reached it, each answered 404), so a test can tell what the middleware answered itself. The real
    pairing of the two is tests/test_browser.py's, against the running app."""

    def __init__(self):
        self.paths = []

    async def __call__(self, scope, receive, send):
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_an_asset_is_answered_whole_in_one_message_without_reaching_streamlit():
    js = sorted((server.STATIC_DIR / "js").glob("index.*.js"))[0]
    behind = Behind()
    assets = server.StaticAssets(behind)
    for _ in range(2):  # read from the file, then from memory
        start, body = _call(assets, f"/static/js/{js.name}")
        assert behind.paths == []
        assert start["status"] == 200 and body["body"] == js.read_bytes() and not body.get("more_body")
        headers = dict(start["headers"])
        assert headers[b"content-length"] == str(js.stat().st_size).encode()
        assert headers[b"cache-control"] == b"public, immutable, max-age=31536000"
        assert b"javascript" in headers[b"content-type"]
    start, body = _call(assets, f"/static/js/{js.name}", method="HEAD")
    assert start["status"] == 200 and body["body"] == b"" and behind.paths == []


@pytest.mark.parametrize(
    "path, method, headers",
    [
        ("/static/js/no-such-module.js", "GET", []),  # not one of its files
        ("/static/js/../index.html", "GET", []),  # not a name in the folder
        ("/static/js/", "GET", []),
        ("/static/other/x.js", "GET", []),
        ("/index.html", "GET", []),
        ("/static/js/NAME", "POST", []),
        ("/static/js/NAME", "GET", [(b"range", b"bytes=0-9")]),  # part of a file: Streamlit's to answer
        ("/static/js/NAME", "GET", [(b"if-none-match", b'"x"')]),
        ("/static/js/NAME", "GET", [(b"If-Modified-Since", b"Fri, 01 Jan 1999 00:00:00 GMT")]),
    ],
)
def test_anything_but_a_plain_request_for_a_listed_asset_goes_on_to_streamlit(path, method, headers):
    name = sorted((server.STATIC_DIR / "js").glob("index.*.js"))[0].name
    behind = Behind()
    sent = _call(server.StaticAssets(behind), path.replace("NAME", name), method, headers)
    assert behind.paths == [path.replace("NAME", name)] and sent[0]["status"] == 404
