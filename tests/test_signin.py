"""Sign-in (#14 part 2): the cookie secret's rules, the OIDC path through a real identity provider's protocol, and
what a visitor without a session cannot fetch.

The real server (`streamlit run streamlit_app.py`) is started with its secrets in a temporary secrets.toml
(`--secrets.files`), never the repository's .streamlit. The identity provider is a small OpenID Connect server run by
the test on a free local port: a discovery document, an authorization endpoint that signs in whoever the test names
and sends the browser back, a token endpoint that issues an RS256 ID token, and its key set. Debian's chromium
clicks "Sign in". Run with `python -m pytest tests/test_signin.py -q`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import access, store

APP_DIR = Path(__file__).resolve().parent.parent
APP = str(APP_DIR / "streamlit_app.py")
README = APP_DIR / "README.md"
CHROMIUM = shutil.which("chromium")
CLIENT_ID = "outcomes-dashboard-test"
CLIENT_SECRET = "client-secret-for-the-test-provider"
INSIDER = "clinician@clinic.test"
OUTSIDER = "someone@elsewhere.test"
# Made once with secrets.token_urlsafe(32) (twice), secrets.token_hex(32) and base64 of 32 random bytes (what
# `openssl rand -base64 32` prints). Fixed strings, so the test says the same thing every run.
GOOD_SECRETS = [
    "eu1rmHosK_UVcQXjFXs283eX7deOBdFgP5-5gqAzsac",
    "cNDKuWv3FGcqKe79xREQ5_6T9G6suaIAM3-KhjYc200",
    "01859788eede2d5a4d7b3ca78ac30972cc41e3809cb67bfe013cb828b0132041",
    "m2wOzwRzSlDLVBXmQuqR04WtfBRHKrzhgUlY7JBtEpE=",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, cookies: str | None = None) -> tuple[int, bytes]:
    """A GET with no cookies (or exactly the given Cookie header), never through a proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"Cookie": cookies} if cookies else {})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:  # not listening (yet)
        return 0, b""


# ---------------------------------------------------------------------------------------------------------------
# The cookie secret's rules


@pytest.mark.parametrize("secret", GOOD_SECRETS)
def test_generated_secrets_are_accepted(secret):
    assert access.secret_problem(secret) is None


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("a long random string", "shorter than 32"),  # the README's old example, verbatim
        ("tooShort-9f1c7be2a4d8", "shorter than 32"),
        ("x" * 40, "too few different characters"),
        ("changemechangemechangemechangeme", "placeholder"),
        ("a" * 30 + "q7Z2m9X4k1", "too predictable"),
        ("0123456789abcdef" * 3, "repeats"),
        ("abcdefghijklmnopqrstuvwxyz0123456789", "run of consecutive characters"),
        ("9f1c7be2-a-long-random-string-4d8630e5b7c2", "placeholder"),
        ("replace-with-the-output-of-token_urlsafe-32", "placeholder"),
        ("Ks8-EXAMPLE-cookie-value-q0P3zT1vW9yR4uM2nB6", "placeholder"),
        ("paste the output of: python -c 'import secrets; print(secrets.token_urlsafe(32))'", "placeholder"),
        (12345678901234567890123456789012345, "not a text value"),
    ],
)
def test_unsafe_secrets_are_refused_with_the_reason(secret, why):
    problem = access.secret_problem(secret)
    assert problem is not None and why in problem
    if isinstance(secret, str):
        assert secret not in problem  # the message never repeats the secret


def _readme_cookie_secrets() -> list[str]:
    """Every cookie_secret in the README's TOML examples."""
    found = []
    for block in re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        block = "\n".join(line.strip() for line in block.splitlines())
        if "cookie_secret" in block:
            found.append(tomllib.loads(block)["auth"]["cookie_secret"])
    return found


def test_the_readme_example_secret_is_refused():
    examples = _readme_cookie_secrets()
    assert examples, "the README shows no [auth] example with a cookie_secret"
    for example in examples:
        assert access.secret_problem(example) is not None, f"the README's example cookie_secret {example!r} is accepted"


def _auth(cookie_secret: str, port: int = 8501, idp: str = "http://127.0.0.1:9") -> dict:
    return {
        "auth": {
            "redirect_uri": f"http://localhost:{port}/oauth2callback",
            "cookie_secret": cookie_secret,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "server_metadata_url": f"{idp}/.well-known/openid-configuration",
        },
        "access": {"allow": ["@clinic.test"], "editors": [INSIDER]},
    }


def _app_test(demo_db, monkeypatch, secrets_dict: dict, user: dict) -> AppTest:
    monkeypatch.setenv(store.ENV_VAR, str(demo_db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in secrets_dict.items():
        at.secrets[key] = value
    at.user = user
    return at.run()


@pytest.mark.parametrize("user", [{"is_logged_in": False}, {"is_logged_in": True, "email": INSIDER}])
def test_an_unsafe_secret_shows_one_error_and_no_data(demo_db, monkeypatch, user):
    """Signed in or not (a cookie forged with the README's secret says 'signed in'), the page is one error."""
    at = _app_test(demo_db, monkeypatch, _auth("a long random string"), user)
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert "cookie_secret" in message and "secrets.token_urlsafe(32)" in message and "\n" not in message
    assert not at.metric and not at.button and not at.sidebar.caption and not at.dataframe


def test_a_safe_secret_shows_the_sign_in_page(demo_db, monkeypatch):
    at = _app_test(demo_db, monkeypatch, _auth(GOOD_SECRETS[0]), {"is_logged_in": False})
    assert not at.error and any(b.label == "Sign in" for b in at.button) and not at.metric


@pytest.fixture
def base_url_path():
    """Sets server.baseUrlPath for one test (Streamlit's config is process-wide) and puts it back."""
    from streamlit import config

    before = config.get_option("server.baseUrlPath")

    def set_to(value: str) -> None:
        config.set_option("server.baseUrlPath", value)

    yield set_to
    config.set_option("server.baseUrlPath", before)


@pytest.mark.parametrize("base", ["", "outcomes", "/clinic/outcomes/"])
def test_which_addresses_need_a_session(base_url_path, base):
    from dashboard import server

    base_url_path(base)
    prefix = "/" + base.strip("/") if base.strip("/") else ""
    for path in ["/media/1f2e.csv", "/media//1f2e.csv", "/media", "/_stcore/metrics", "/_stcore/metrics/"]:
        assert server.guarded(prefix + path) and server.guarded(prefix.replace("/", "//") + path), prefix + path
        assert server.guarded(path), path  # not routed under a base path, and refused all the same
    for path in ["/", "/overview", "/_stcore/health", "/_stcore/host-config", "/_stcore/stream", "/static/js/a.js"]:
        assert not server.guarded(prefix + path), prefix + path
    for path in ["/auth/login", "/oauth2callback", "/auth/logout", "/mediation", "/_stcore/metricsx"]:
        assert not server.guarded(prefix + path), prefix + path


# ---------------------------------------------------------------------------------------------------------------
# A small OpenID Connect provider


@dataclass
class Provider:
    """An OIDC provider on 127.0.0.1: /authorize signs in `next_email` at once and sends the browser back."""

    url: str = ""
    next_email: str = INSIDER
    authorize_requests: list[dict] = field(default_factory=list)
    token_requests: list[dict] = field(default_factory=list)
    _codes: dict = field(default_factory=dict)
    _key: object = None

    def discovery(self) -> dict:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def authorize(self, query: dict) -> str:
        """Where the browser goes next: back to the client with a code."""
        self.authorize_requests.append(query)
        code = secrets.token_urlsafe(16)
        self._codes[code] = (query.get("nonce", ""), self.next_email)
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def token(self, form: dict) -> dict:
        from joserfc import jwt

        self.token_requests.append(form)
        nonce, email = self._codes.pop(form.get("code", ""), ("", ""))
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": email,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 3600,
            "nonce": nonce,
            "email": email,
            "email_verified": True,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self._key)
        return {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": id_token,
        }

    def jwks(self) -> dict:
        return {"keys": [self._key.as_dict(private=False)]}


@contextlib.contextmanager
def provider() -> Iterator[Provider]:
    from joserfc.jwk import RSAKey

    idp = Provider(_key=RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"}, private=True))

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict | None = None, location: str | None = None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._send(200, idp.discovery())
            elif parts.path == "/jwks":
                self._send(200, idp.jwks())
            elif parts.path == "/authorize":
                self._send(302, location=idp.authorize(query))
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            basic = self.headers.get("Authorization", "")
            if basic.startswith("Basic "):
                form["_client"] = base64.b64decode(basic[6:]).decode()
            if urlsplit(self.path).path == "/token":
                self._send(200, idp.token(form))
            else:
                self._send(404, {"error": "not found"})

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    idp.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------------------------
# The real server with a temporary secrets.toml


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _secrets_toml(values: dict) -> str:
    lines = []
    for section, table in values.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"


def _start(folder: Path, db_path: Path, secrets_dict_for_port, secrets_text: str | None = None) -> Server:
    port = _free_port()
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(secrets_text or _secrets_toml(secrets_dict_for_port(port)), encoding="utf-8")
    log_path = folder / f"streamlit-{port}.log"
    env = {**os.environ, store.ENV_VAR: str(db_path), "NO_PROXY": "*", "no_proxy": "*"}
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)]
    command += ["--server.headless", "true", "--secrets.files", str(secrets_file)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=APP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return Server(url=f"http://localhost:{port}", port=port, process=process, log_path=log_path)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _started_or_exited(server: Server) -> str:
    """'started' once /_stcore/health answers, 'exited' if the process ends first."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return "exited"
        if _get(f"{server.url}/_stcore/health")[0] == 200:
            return "started"
        time.sleep(0.2)
    pytest.fail(f"streamlit neither answered nor exited within 90 s:\n{server.log()[-3000:]}", pytrace=False)


def test_the_server_refuses_to_start_with_an_unsafe_secret(tmp_path, demo_db):
    server = _start(tmp_path, demo_db, lambda port: _auth("a long random string", port))
    try:
        outcome = _started_or_exited(server)
    finally:
        _stop(server.process)
    log = server.log()
    assert outcome == "exited", f"the server started with the README's example secret:\n{log[-2000:]}"
    assert server.process.returncode == 2, log
    assert "Traceback" not in log, log
    lines = [line for line in log.splitlines() if "cookie_secret" in line]
    assert len(lines) == 1 and f"{tmp_path / 'secrets.toml'}, line 3" in lines[0], log
    assert "a long random string" not in log  # the secret itself is never printed


def test_the_server_refuses_to_start_with_a_broken_secrets_file(tmp_path, demo_db):
    """Streamlit logs an unreadable secrets file and runs as if it had none, which would turn sign-in off."""
    good = _secrets_toml(_auth(GOOD_SECRETS[0]))
    broken = good.replace(f'"{CLIENT_ID}"', f'"{CLIENT_ID}', 1)  # an unterminated string on line 4
    server = _start(tmp_path, demo_db, lambda port: {}, secrets_text=broken)
    try:
        outcome = _started_or_exited(server)
    finally:
        _stop(server.process)
    log = server.log()
    assert outcome == "exited", f"the server started without reading its secrets:\n{log[-2000:]}"
    assert server.process.returncode == 2 and "Traceback" not in log, log
    lines = [line for line in log.splitlines() if "not valid TOML" in line]
    assert len(lines) == 1 and lines[0].startswith(f"{tmp_path / 'secrets.toml'}, line 4, column "), log
    assert GOOD_SECRETS[0] not in log


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with provider() as p:
        yield p


@pytest.fixture(scope="module")
def signin_server(tmp_path_factory, demo_db, idp) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("signin-app")
    server = _start(folder, demo_db, lambda port: _auth(GOOD_SECRETS[0], port, idp.url))
    try:
        if _started_or_exited(server) != "started":
            pytest.fail(f"streamlit exited at start:\n{server.log()[-3000:]}", pytrace=False)
        yield server
    finally:
        _stop(server.process)


def _sign_in(browser, server: Server, idp: Provider, email: str):
    """A new browser context that clicked "Sign in" and came back from the provider as `email`; returns the
    context, its page and the query the provider's authorization endpoint received."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto("/")
    sign_in = page.get_by_role("button", name="Sign in")
    sign_in.wait_for()
    idp.next_email = email
    with page.expect_request(lambda r: r.url.startswith(f"{idp.url}/authorize")) as sent:
        sign_in.click()
    query = {k: v[0] for k, v in parse_qs(urlsplit(sent.value.url).query).items()}
    page.wait_for_url(f"{server.url}/**")
    return context, page, query


def _log_tail(server: Server) -> str:
    return f"\nstreamlit log:\n{server.log()[-3000:]}"


def test_sign_in_sends_the_browser_to_the_provider(browser, signin_server, idp):
    context, page, query = _sign_in(browser, signin_server, idp, INSIDER)
    try:
        assert query.get("client_id") == CLIENT_ID, f"{query}{_log_tail(signin_server)}"
        assert query.get("redirect_uri") == f"{signin_server.url}/oauth2callback", query
        assert query.get("response_type") == "code" and "openid" in query.get("scope", "").split(), query
        assert query.get("state") and query.get("nonce") and query.get("code_challenge_method") == "S256", query
        # ... and back: the provider's code is exchanged and the app shows who is signed in
        page.get_by_text(f"Signed in as {INSIDER}").wait_for()
        assert idp.token_requests and idp.token_requests[-1].get("code_verifier"), idp.token_requests
    finally:
        context.close()


def _forged_cookie(server: Server) -> str:
    """What the issue's attacker sends: a user cookie for an editor, signed with the README's example secret."""
    from itsdangerous import URLSafeTimedSerializer

    user = {"email": INSIDER, "origin": server.url, "is_logged_in": True, "provider": "default"}
    value = URLSafeTimedSerializer("a long random string", salt="_streamlit_user").dumps(json.dumps(user))
    return f"_streamlit_user={value}"


def test_downloads_and_metrics_need_a_signed_in_session(browser, signin_server, idp):
    context, page, _ = _sign_in(browser, signin_server, idp, INSIDER)
    outsider, _outsider_page, _ = _sign_in(browser, signin_server, idp, OUTSIDER)
    try:
        page.get_by_text(f"Signed in as {INSIDER}").wait_for()
        urls = {}
        with page.expect_download() as csv:
            page.get_by_role("button", name="Download the numbers (CSV)").first.click()
        urls["csv"] = csv.value.url
        with page.expect_download() as report:
            page.get_by_role("button", name="Download report").click()
        urls["report"] = report.value.url
        metrics = f"{signin_server.url}/_stcore/metrics"
        for name, url in [*urls.items(), ("metrics", metrics)]:
            assert "/media/" in url or name == "metrics", url
            signed_in = context.request.get(url)
            assert signed_in.status == 200, (
                f"{name}: {signed_in.status} for the signed-in session{_log_tail(signin_server)}"
            )
            status, body = _get(url)
            assert status == 403, f"{name} ({url}) answered {status} to a client without a cookie: {body[:200]!r}"
            assert outsider.request.get(url).status == 403, f"{name} is readable by an account not on the allow-list"
            assert _get(url, cookies=_forged_cookie(signin_server))[0] == 403, f"{name}: a forged cookie is accepted"
        # the same file by other spellings of its address
        path = urlsplit(urls["csv"]).path
        for variant in [
            path.replace("/media/", "//media/"),
            path.replace("/media/", "/media//"),
            "/%6Dedia/" + path[7:],
        ]:
            status, body = _get(signin_server.url + variant)
            assert status == 403, f"{variant} answered {status}: {body[:100]!r}"
        assert context.request.get(urls["csv"]).headers.get("cache-control") == "private, no-store"
    finally:
        outsider.close()
        context.close()
