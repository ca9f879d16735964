"""Real-browser end-to-end tests: the app served by `streamlit run`, driven by Debian's chromium through Playwright.

One Streamlit server (on a freshly built demo database) and one browser are shared by the whole session; every test
opens its own browser context, so each has its own Streamlit session. Run with
`python -m pytest tests/test_browser.py -q` (or `-m browser`). Without chromium the module is skipped, except in CI
(the environment variable CI is set), where that is a failure.

On failure the assertion message carries the path of a screenshot of the page, the browser console errors seen and,
when the app raised, the traceback from the server's log (the page itself hides the details: showErrorDetails=none).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import duckdb
import pytest

from dashboard.browser_timing import CHROMIUM_ARGS as CHROMIUM_ARGS  # other tests read test_browser.CHROMIUM_ARGS
from dashboard.browser_timing import IDLE_JS as _IDLE_JS
from dashboard.browser_timing import QUIET_MS
from dashboard.browser_timing import STATE_JS as _STATE_JS
from dashboard.sections import SECTION_VIEWS, SECTIONS

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

APP_DIR = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")
IN_CI = bool(os.environ.get("CI"))


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (the environment variable CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


if CHROMIUM is None:
    _unavailable("the browser tests need Debian's chromium on PATH: install it with `apt-get install chromium`")
if sync_playwright is None:
    _unavailable("the browser tests need the playwright Python package: `pip install -r requirements.txt`")

pytestmark = pytest.mark.browser

# The views of the spec, by URL path. Overview is the default page (Streamlit serves a default page at "/").
EXPECTED_VIEWS = {
    "overview",
    "rapid-onset",
    "long-term",
    "compare",
    "clinicians-sites",
    "attrition",
    "client-timeline",
    "my-cohort",
    "data",
}
DEFAULT_VIEW = "overview"

MAIN = '[data-testid="stMain"]'
SIDEBAR = '[data-testid="stSidebar"]'
NAV_LINK = '[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]'
NAV_VIEW_MORE = '[data-testid="stSidebarNavViewButton"]'
CHART_OR_TABLE = '.js-plotly-plot, [data-testid="stPlotlyChart"], [data-testid="stDataFrame"], [data-testid="stTable"]'
EXCEPTION = '[data-testid="stException"]'
DIALOG = '[data-testid="stDialog"]'
METRIC = '[data-testid="stMetric"]'
MULTISELECT = '[data-testid="stMultiSelect"]'
UPLOADER = '[data-testid="stFileUploader"]'
SUCCESS, WARNING, ERROR = (
    '[data-testid="stAlertContentSuccess"]',
    '[data-testid="stAlertContentWarning"]',
    '[data-testid="stAlertContentError"]',
)

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
# The only console errors that are expected: on a deep link (/<page>?...) the frontend first asks for
# /<page>/_stcore/health and /<page>/_stcore/host-config, gets 404s, and then uses the root ones.
KNOWN_404 = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\]):\d+/[^/?#]+/_stcore/(health|host-config)$")

RENDER_TIMEOUT_MS = 60_000
_METRICS_JS = """
() => Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stMetric"]'))
  .filter(m => !m.closest('[data-stale="true"]'))
  .map(m => [(m.querySelector('[data-testid="stMetricLabel"]') || {}).innerText || '',
             (m.querySelector('[data-testid="stMetricValue"]') || {}).innerText || ''])
  .map(([label, value]) => [label.trim(), value.trim()])
"""
_LEGENDS_JS = """
() => Array.from(document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot'))
  .map(chart => Array.from(chart.querySelectorAll('.legendtext')).map(t => t.textContent.trim()))
"""


# ---------------------------------------------------------------------------------------------------------------
# The server and the browser (one each per session)


@dataclass
class AppServer:
    url: str
    port: int
    process: subprocess.Popen
    log_path: Path
    db_path: Path

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def status(self) -> str:
        code = self.process.poll()
        if code is None:
            return "running"
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        return f"NOT RUNNING ({how}; log {self.log_path})"

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip()
    except OSError:
        return ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def serve(db_path: Path, folder: Path) -> Iterator[AppServer]:
    """`streamlit run streamlit_app.py` on a free port with OUTCOMES_DB=db_path, until the block ends."""
    port = _free_port()
    log_path = folder / f"streamlit-{port}.log"
    env = {**os.environ, "OUTCOMES_DB": str(db_path)}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=APP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = AppServer(url=f"http://localhost:{port}", port=port, process=process, log_path=log_path, db_path=db_path)
    try:
        deadline = time.monotonic() + 60
        while _health(server.url) != "ok":
            if process.poll() is not None:
                pytest.fail(
                    f"streamlit exited with {process.returncode} before answering /_stcore/health:\n"
                    f"{server.log_since(0)[-3000:]}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit did not answer /_stcore/health within 60 s:\n{server.log_since(0)[-3000:]}",
                    pytrace=False,
                )
            time.sleep(0.2)
        yield server
    finally:
        with open(log_path, "a") as log:
            log.write(f"\n[test_browser.py] stopping the server (it was {server.status()})\n")
        _stop(process)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Iterator[AppServer]:
    """The app on a demo database built for this run."""
    folder = tmp_path_factory.mktemp("browser-app")
    db_path = folder / "demo.duckdb"
    build = subprocess.run(
        [sys.executable, "-m", "dashboard", "demo", "--db", str(db_path)],
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"building the demo database failed:\n{build.stdout}\n{build.stderr}"
    with serve(db_path, folder) as server:
        yield server


@pytest.fixture(scope="session")
def shot_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser-screenshots")


# ---------------------------------------------------------------------------------------------------------------
# A page with what it saw: console errors, requests, the server's log from its start


@dataclass
class UI:
    page: Page
    server: AppServer
    shot_dir: Path
    name: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    log_offset: int = 0

    def __repr__(self) -> str:
        return f"UI({self.name!r}, {self.page.url})"

    def screenshot(self, label: str = "") -> Path | None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.name}{'-' + label if label else ''}")[:150]
        path = self.shot_dir / f"{safe}-{int(time.time() * 1000)}.png"
        try:
            # Streamlit's main area scrolls by itself: bring the first exception or error into view.
            trouble = self.page.locator(f"{EXCEPTION}, {ERROR}, {DIALOG}")
            if trouble.count():
                trouble.first.scroll_into_view_if_needed(timeout=5_000)
            self.page.screenshot(path=str(path), full_page=True, timeout=15_000)
        except PlaywrightError:
            return None
        return path

    def server_traceback(self) -> str:
        text = self.server.log_since(self.log_offset)
        if "Traceback" not in text and "Uncaught app" not in text:
            return ""
        return "\n".join(text.strip().splitlines()[-40:])

    def failure_details(self, label: str = "") -> str:
        shot = self.screenshot(label)
        parts = [
            f"page: {self.page.url}",
            f"screenshot: {shot or '(could not be taken)'}",
            f"streamlit server: {self.server.status()}",
        ]
        if self.console_errors:
            parts.append("browser console errors:\n  " + "\n  ".join(self.console_errors))
        traceback = self.server_traceback()
        if traceback:
            parts.append(f"streamlit server log ({self.server.log_path}):\n{traceback}")
        return "\n".join(parts)


def _is_known_404(message) -> bool:
    return "404" in message.text and bool(KNOWN_404.match(message.location.get("url", "")))


def _open_ui(browser: Browser, server: AppServer, shot_dir: Path, name: str) -> tuple[UI, object]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    ui = UI(page=page, server=server, shot_dir=shot_dir, name=name, log_offset=server.log_size())

    def on_console(message):
        if message.type == "error" and not _is_known_404(message):
            where = message.location.get("url", "")
            ui.console_errors.append(f"{message.text} ({where})" if where else message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: ui.console_errors.append(f"uncaught page error: {error}"))
    page.on("request", lambda request: ui.requests.append(request.url))
    page.on("websocket", lambda ws: ui.requests.append(ws.url))
    return ui, context


@pytest.fixture
def ui(browser, app_server, shot_dir, request) -> Iterator[UI]:
    """A fresh browser context and page for one test."""
    handle, context = _open_ui(browser, app_server, shot_dir, request.node.name)
    yield handle
    context.close()


def screenshot_on_failure(test):
    """Turn a failed assertion or Playwright error into one message with a screenshot path and the server log."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        try:
            return test(*args, **kwargs)
        except (AssertionError, PlaywrightError) as exc:
            raise AssertionError(f"{exc}\n\n{kwargs['ui'].failure_details()}") from exc

    return wrapper


# ---------------------------------------------------------------------------------------------------------------
# Helpers on the Streamlit page


def wait_idle(page: Page, timeout_ms: int = RENDER_TIMEOUT_MS) -> None:
    """Wait until the script run has finished and the page has settled (nothing running, stale or spinning)."""
    try:
        page.wait_for_function(_IDLE_JS, arg=QUIET_MS, timeout=timeout_ms, polling=100)
    except PlaywrightTimeoutError:
        state = page.evaluate(_STATE_JS)
        raise AssertionError(f"the app did not finish rendering within {timeout_ms / 1000:.0f} s: {state}") from None


def page_not_found(page: Page) -> str:
    dialog = page.locator(DIALOG).filter(has_text="Page not found")
    return dialog.first.inner_text() if dialog.count() else ""


def exception_texts(page: Page) -> list[str]:
    return [t.strip() for t in page.locator(EXCEPTION).all_inner_texts()]


def assert_no_exception(ui: UI) -> None:
    boxes = exception_texts(ui.page)
    assert not boxes, f"the app shows {len(boxes)} exception box(es): {boxes}"


def assert_found(page: Page, requested: str) -> None:
    text = page_not_found(page)
    assert not text, (
        f"Streamlit says 'Page not found' for {requested} ({text!r}) and runs the default page at {page.url}. "
        "(Streamlit serves the default page only at '/': a deep link to the default page's url_path is not found.)"
    )


def metrics(page: Page) -> dict[str, str]:
    return dict(page.evaluate(_METRICS_JS))


def metric(page: Page, label: str) -> str:
    values = metrics(page)
    assert label in values, f"no metric labelled {label!r} on {page.url}; metrics shown: {values}"
    return values[label]


def number(text: str) -> int:
    digits = re.sub(r"[^\d]", "", text)
    assert digits, f"not a number: {text!r}"
    return int(digits)


def snapshot(page: Page) -> dict:
    return {"tiles": metrics(page), "legends": page.evaluate(_LEGENDS_JS)}


def nav_links(page: Page) -> list[tuple[str, str]]:
    """The navigation's links as (title, absolute href), in menu order."""
    more = page.locator(NAV_VIEW_MORE)
    if more.count() and "more" in more.first.inner_text().lower():
        more.first.click()
        page.wait_for_timeout(200)
    links = []
    for link in page.locator(NAV_LINK).all():
        label = link.locator("span[label]")
        title = label.first.get_attribute("label") if label.count() else link.inner_text().strip()
        links.append((title, link.get_attribute("href")))
    return links


def url_path(href: str) -> str:
    return urlsplit(href).path.strip("/")


def open_view(ui: UI, path: str) -> None:
    """Open a view the way a user does: the app's root, then its link in the navigation.

    When there is no link with that path (an app with one page has no navigation), the root view is the one."""
    page = ui.page
    page.goto("/")
    wait_idle(page)
    for _title, href in nav_links(page):
        if url_path(href) == path:
            page.locator(f'{NAV_LINK}[href="{href}"]').click()
            page.wait_for_url(lambda u: url_path(u) == path)
            wait_idle(page)
            break


def sidebar_multiselect(page: Page, label: str):
    return page.locator(f"{SIDEBAR} {MULTISELECT}").filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)
    )


def chips(select) -> list[str]:
    tags = select.locator("[data-tag]").all()
    return [tag.get_attribute("aria-label") or tag.inner_text().strip() for tag in tags]


def upload(ui: UI, path: Path) -> None:
    """Put a file in the 'Files to import' uploader, wait for it to be uploaded and for the rerun to finish."""
    page = ui.page
    uploader = page.locator(UPLOADER).filter(has_text="Files to import")
    expect(uploader).to_be_visible()
    uploader.locator("input[type=file]").set_input_files(str(path))
    expect(uploader.locator('[data-testid="stFileChipName"]', has_text=path.name)).to_be_visible()
    wait_idle(page)


def click_import_and_wait(ui: UI) -> None:
    page = ui.page
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator(f"{SUCCESS}, {WARNING}, {ERROR}").first).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    wait_idle(page)


# ---------------------------------------------------------------------------------------------------------------
# Every view: one visit each in a fresh context, shared by the rendering, console and network tests


@dataclass
class Visit:
    title: str
    url: str
    problems: list[str]
    console_errors: list[str]
    requests: list[str]
    screenshot: Path | None = None


def _visit(ui: UI, title: str, url: str) -> Visit:
    page = ui.page
    problems: list[str] = []
    try:
        page.goto(url)
        wait_idle(page)
        missing = page_not_found(page)
        if missing:
            problems.append(f"'Page not found' dialog: {missing!r}")
        boxes = exception_texts(page)
        if boxes:
            problems.append(f"exception box(es): {boxes}")
        if page.locator(CHART_OR_TABLE).count() == 0:
            problems.append("no chart (.js-plotly-plot / stPlotlyChart) and no table (stDataFrame / stTable)")
    except (AssertionError, PlaywrightError) as exc:
        problems.append(f"{str(exc).splitlines()[0]} (streamlit server: {ui.server.status()})")
    traceback = ui.server_traceback()
    if traceback:
        problems.append(f"streamlit server log:\n{traceback}")
    visit = Visit(title, url, problems, list(ui.console_errors), list(ui.requests))
    if problems or visit.console_errors or _foreign(visit.requests, ui.server.port):
        visit.screenshot = ui.screenshot(f"view-{title}")
    return visit


@pytest.fixture(scope="session")
def sweep(browser, app_server, shot_dir) -> dict:
    """Discover the views from the navigation on '/', then open each (by its link's URL) in a fresh context."""
    ui, context = _open_ui(browser, app_server, shot_dir, "navigation")
    try:
        ui.page.goto("/")
        wait_idle(ui.page)
        links = nav_links(ui.page)
        if not links:  # one page only: Streamlit shows no navigation, the root is the only view
            links = [(ui.page.title() or "root", f"{app_server.url}/")]
        root = Visit("navigation (/)", f"{app_server.url}/", [], list(ui.console_errors), list(ui.requests))
    finally:
        context.close()
    visits = [root]
    for title, href in links:
        view_ui, view_context = _open_ui(browser, app_server, shot_dir, "sweep")
        try:
            visits.append(_visit(view_ui, title, href))
        finally:
            view_context.close()
    return {"links": links, "visits": visits}


def _foreign(urls: list[str], port: int) -> list[str]:
    """The URLs that do not go to the local server (data: and blob: URLs are fine)."""
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob"):
            continue
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname in LOCAL_HOSTS and parts.port == port:
            continue
        out.append(url)
    return out


def test_navigation_lists_the_expected_views(sweep):
    links = sweep["links"]
    paths = {url_path(href) for _title, href in links}
    # The default page is served at "/" (path ""): then its own url_path does not appear in the links.
    ok = paths == EXPECTED_VIEWS or paths == (EXPECTED_VIEWS - {DEFAULT_VIEW}) | {""}
    if not ok:
        pytest.fail(
            f"the navigation should list the {len(EXPECTED_VIEWS)} views {sorted(EXPECTED_VIEWS)} (with "
            f"{DEFAULT_VIEW!r} as the default page at '/'); it lists {len(links)}: {links}",
            pytrace=False,
        )


def test_every_view_renders_a_chart_or_table_without_exception(sweep):
    failed = [v for v in sweep["visits"][1:] if v.problems]
    report = "\n\n".join(
        f"{v.title} ({v.url}):\n  " + "\n  ".join(v.problems) + f"\n  screenshot: {v.screenshot}" for v in failed
    )
    if failed:
        pytest.fail(f"{len(failed)} of {len(sweep['visits']) - 1} views failed:\n\n{report}", pytrace=False)


def test_browser_console_has_no_errors(sweep):
    bad = [v for v in sweep["visits"] if v.console_errors]
    report = "\n".join(
        f"{v.title} ({v.url}), screenshot {v.screenshot}:\n  " + "\n  ".join(v.console_errors) for v in bad
    )
    if bad:
        pytest.fail(f"browser console errors on {len(bad)} page(s):\n{report}", pytrace=False)


def test_no_request_leaves_the_local_server(sweep, app_server):
    bad = {v.title: _foreign(v.requests, app_server.port) for v in sweep["visits"]}
    bad = {title: urls for title, urls in bad.items() if urls}
    assert sum(len(v.requests) for v in sweep["visits"]) > 0, "no requests were recorded at all"
    if bad:
        pytest.fail(f"requests to hosts other than {app_server.url}: {bad}", pytrace=False)


def test_a_page_asks_the_browser_to_fetch_plotly_js_at_once(browser, app_server):
    """A page's response names Streamlit's plotly.js chunk in a `Link: rel=modulepreload` header (the address the
    page itself imports it from), so the browser fetches it while loading the page's own scripts: in Chromium the
    chunk is requested before the page's script run has started."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{app_server.url}/long-term?modality=IV%20infusion", timeout=10) as response:
        link = response.headers.get("Link")
    match = re.fullmatch(r"<(/static/js/PlotlyChart\.[\w-]+\.js)>; rel=modulepreload", link or "")
    assert match, link
    with opener.open(app_server.url + match[1], timeout=10) as chunk:
        assert chunk.status == 200 and "javascript" in chunk.headers.get("Content-Type", "")
    context = browser.new_context(base_url=app_server.url)
    try:
        page = context.new_page()
        page.goto("/data")  # a page without a chart: Streamlit itself would never fetch the chunk here
        wait_idle(page)
        fetched = page.evaluate("performance.getEntriesByType('resource').map(r => new URL(r.name).pathname)")
        assert match[1] in fetched, fetched
    finally:
        context.close()


def _get(url: str, headers: dict[str, str] | None = None):
    """status, headers, body of a GET straight to the server (never through a proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        return response.status, response.headers, response.read()


def test_a_page_imports_plotly_js_once_it_has_loaded(app_server):
    """Every page carries one small module script before </head> that imports the chunk named in its modulepreload
    header, sent unzipped with its length, whether or not the browser accepts gzip (Streamlit gzips a page at any
    address but the root)."""
    for path in ("/", "/long-term?modality=IV%20infusion", "/data"):
        for accept in ({}, {"Accept-Encoding": "gzip"}):
            status, headers, body = _get(app_server.url + path, accept)
            page = body.decode()
            link = headers.get("Link") or ""
            chunk = re.fullmatch(r"<(/static/js/PlotlyChart\.[\w-]+\.js)>; rel=modulepreload", link)
            assert status == 200 and chunk and "Content-Encoding" not in headers, (path, accept, dict(headers))
            scripts = re.findall(r'<script type="module">(.*?)</script>', page, flags=re.S)
            assert len(scripts) == 1 and f'import("{chunk[1]}")' in scripts[0], (path, accept, scripts)
            assert page.index(scripts[0]) < page.index("</head>"), "the script is not in the page's head"
            assert int(headers["Content-Length"]) == len(body), (headers["Content-Length"], len(body))


# The page's script-run state as Streamlit marks it, with when (page clock)
_RUN_STATES_JS = """
window.__runStates = [];
new MutationObserver((changes) => changes.forEach((c) => {
  if (c.attributeName === 'data-test-script-state')
    window.__runStates.push([performance.now(), c.target.getAttribute('data-test-script-state')]);
})).observe(document, {subtree: true, attributes: true});
"""


def test_chromium_sets_plotly_js_up_while_the_first_run_is_under_way(browser, app_server):
    """In Chromium, on a page without a chart (Streamlit itself would never load plotly.js there): the page's script
    imports the chunk as its first script run starts (its mark on the page's timeline falls between the run's start
    and its end, not at the 3 s fallback)."""
    context = browser.new_context(base_url=app_server.url)
    try:
        context.add_init_script(_RUN_STATES_JS)
        page = context.new_page()
        page.goto("/data")
        wait_idle(page)
        states = page.evaluate("window.__runStates")
        marks = page.evaluate("performance.getEntriesByName('outcomes:plotly-import').map((m) => m.startTime)")
        started = [t for t, state in states if state == "running"]
        ended = [t for t, state in states if state == "notRunning"]
        assert started and ended and len(marks) == 1, (states, marks)
        assert started[0] - 1 <= marks[0] <= ended[0], f"imported at {marks[0]:.0f} ms; run states {states}"
    finally:
        context.close()


def test_streamlit_assets_come_from_memory_as_streamlit_would_send_them(app_server):
    """A plain GET for one of Streamlit's built assets (answered from memory by server.StaticAssets) has the status,
    body and headers Streamlit's own static handler gives the same file, which answers a conditional GET. A name
    that is not one of its files, or a path out of the folder, still reaches Streamlit."""
    page = _get(app_server.url + "/data")[2].decode()
    assets = re.findall(r'(?:src|href)="\./(static/(?:js|css|media)/[^"]+)"', page)
    assert {a.split("/")[1] for a in assets} >= {"js", "css", "media"}, assets
    for asset in assets:
        ours = _get(f"{app_server.url}/{asset}")
        # modified since 1999: Streamlit answers it, with the whole file
        streamlits = _get(f"{app_server.url}/{asset}", {"If-Modified-Since": "Fri, 01 Jan 1999 00:00:00 GMT"})
        assert ours[0] == streamlits[0] == 200 and ours[2] == streamlits[2], asset
        for name in ("Content-Type", "Content-Length", "Last-Modified", "ETag", "Cache-Control"):
            assert ours[1].get(name) == streamlits[1].get(name), (
                asset,
                name,
                ours[1].get(name),
                streamlits[1].get(name),
            )
    _status, _headers, body = _get(f"{app_server.url}/static/js/no-such-module.js")
    assert b"<!DOCTYPE html>" in body, "an unknown asset name did not reach Streamlit (its answer is the app's page)"
    for bad in ("/static/js/..%2f..%2findex.html", "/static/js/%2e%2e/%2e%2e/index.html"):
        try:
            status = _get(app_server.url + bad)[0]
        except urllib.error.HTTPError as error:
            status = error.code
        assert status == 400, (bad, status)


# ---------------------------------------------------------------------------------------------------------------
# Filters


@screenshot_on_failure
def test_changing_a_sidebar_filter_changes_the_overview(ui):
    page = ui.page
    page.goto("/")  # Overview is the default page
    wait_idle(page)
    assert_found(page, "/")
    assert_no_exception(ui)
    expect(page.locator(f"{MAIN} {METRIC}").filter(has_text="Clients started")).to_be_visible()
    modalities = sidebar_multiselect(page, "Modalities")
    expect(modalities).to_have_count(1)
    before, url_before = snapshot(page), page.url

    selected = chips(modalities)
    if selected:  # remove one modality (all selected means all; one selected: removing it means all again)
        modalities.get_by_role("button", name=f"Remove {selected[0]}", exact=True).click()
        expect(modalities.locator("[data-tag]")).to_have_count(len(selected) - 1)
    else:  # nothing selected means every modality: narrow to one
        modalities.get_by_role("combobox").click()
        option = page.get_by_role("option").filter(has_not_text="Select all").first
        chosen = option.inner_text().strip()
        option.click()
        page.keyboard.press("Escape")
        expect(modalities.locator("[data-tag]")).to_have_count(1)
        assert chips(modalities) == [chosen]

    deadline = time.monotonic() + 30
    wait_idle(page)
    while snapshot(page) == before and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        wait_idle(page)
    after = snapshot(page)
    assert after != before, f"changing 'Modalities' changed no tile and no chart legend: {before}"
    assert_no_exception(ui)
    assert page.url != url_before, f"the filter change is not in the URL's query string: {page.url}"


@screenshot_on_failure
def test_deep_link_with_query_parameters_opens_the_filtered_view(ui):
    page = ui.page
    page.goto("/overview")
    wait_idle(page)
    assert_found(page, "/overview")
    assert_no_exception(ui)
    unfiltered = metric(page, "Clients started")

    page.goto("/overview?modality=IV%20infusion")
    wait_idle(page)
    assert_found(page, "/overview?modality=IV%20infusion")
    assert_no_exception(ui)
    assert chips(sidebar_multiselect(page, "Modalities")) == ["IV infusion"]
    filtered = metric(page, "Clients started")
    assert filtered != unfiltered, f"'Clients started' is {filtered} with modality=IV infusion and without it"


@screenshot_on_failure
def test_the_root_is_the_overview_and_its_own_address_leads_there(ui):
    """The app's root runs the overview itself, link parameters and all, with Overview marked in the menu (it used
    to switch to /overview: a second page run on every first visit). /overview opens the root with its link's
    parameters, so old and new links agree."""
    page = ui.page
    current = f'{NAV_LINK}[aria-current="page"]'
    page.goto("/?site=North")
    wait_idle(page)
    assert urlsplit(page.url).path == "/" and "site=North" in page.url, page.url
    expect(page.locator(current)).to_have_count(1)
    expect(page.locator(current)).to_contain_text("Overview")
    assert chips(sidebar_multiselect(page, "Sites")) == ["North"]
    assert metric(page, "Clients started")

    page.goto("/overview?modality=IV%20infusion")
    page.wait_for_url(lambda u: urlsplit(u).path == "/")
    wait_idle(page)
    assert_found(page, "/overview?modality=IV%20infusion")
    assert "modality=IV" in page.url, page.url
    expect(page.locator(current)).to_contain_text("Overview")
    assert chips(sidebar_multiselect(page, "Modalities")) == ["IV infusion"]
    assert_no_exception(ui)


@screenshot_on_failure
def test_bad_query_parameter_shows_a_notice_not_an_exception(ui):
    page = ui.page
    page.goto("/overview?modality=Nope")
    wait_idle(page)
    assert_found(page, "/overview?modality=Nope")
    assert_no_exception(ui)
    expect(page.locator(WARNING).first).to_be_visible()
    assert page.locator(CHART_OR_TABLE).count() > 0, "the view shows no chart or table after a bad parameter"


@screenshot_on_failure
def test_a_link_opens_a_view_with_its_own_controls(ui):
    """A view's own controls are in its link too: opened fresh, the page shows them as linked (no notice), and a
    changed control is written back to the address beside the sidebar's filters."""
    page = ui.page
    page.goto("/clinicians-sites?funnel_by=site&funnel_day=84&modality=IV%20infusion")
    wait_idle(page)
    assert_found(page, "/clinicians-sites?funnel_by=site&funnel_day=84&modality=IV%20infusion")
    assert_no_exception(ui)
    expect(page.get_by_role("radio", name="Sites")).to_have_attribute("aria-checked", "true")
    expect(page.locator(f'{MAIN} [data-testid="stSlider"]')).to_contain_text("Week 12")
    assert page.locator(WARNING).filter(has_text="Ignored").count() == 0
    page.get_by_role("radio", name="Clinicians").click()
    page.wait_for_url(lambda u: "funnel_by" not in u)  # the default: left out of the link
    wait_idle(page)
    assert "funnel_day=84" in page.url and "modality=IV" in page.url, page.url


@screenshot_on_failure
def test_a_views_sections_are_tabs_whose_open_one_is_in_the_link(ui):
    """Long-term is drawn a section at a time: its link opens the section it names; choosing another tab draws that
    section's charts (and only those), writes it to the address beside the filters, and the first is the default,
    left out of the link."""
    page = ui.page
    page.goto("/long-term?long_section=Durability&modality=IV%20infusion")
    wait_idle(page)
    assert_no_exception(ui)
    tab = page.get_by_role("tab", name="Durability")
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(page.locator(f'{MAIN} [data-testid="stPlotlyChart"]')).to_have_count(2)  # the KM curve, maintenance
    page.get_by_role("tab", name="Response and remission").click()
    page.wait_for_url(lambda u: "long_section=Response" in u)
    wait_idle(page)
    assert "modality=IV" in page.url, page.url
    expect(page.locator(f'{MAIN} [data-testid="stPlotlyChart"]')).to_have_count(2)  # response, remission
    expect(page.get_by_role("tab", name="Response and remission")).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name="Trajectory").click()
    page.wait_for_url(lambda u: "long_section" not in u)
    wait_idle(page)
    expect(page.locator(f'{MAIN} [data-testid="stPlotlyChart"]')).to_have_count(1)


@pytest.mark.parametrize(("width", "sidebar_open"), [(800, False), (1100, False), (1440, True)])
def test_a_narrow_window_opens_with_the_sidebar_closed(browser, app_server, width, sidebar_open):
    """At 1,100 px and below the sidebar starts closed, so the charts get the page's width (Streamlit itself closes
    it only below 768 px); its button opens it again, and it stays open from then on."""
    context = browser.new_context(base_url=app_server.url, viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto("/long-term")
        wait_idle(page)
        sidebar = page.locator(SIDEBAR)
        expect(page.locator('[data-testid="stExpandSidebarButton"]')).to_have_count(0 if sidebar_open else 1)
        assert (sidebar.bounding_box()["width"] > 200) is sidebar_open
        if not sidebar_open:
            page.locator('[data-testid="stExpandSidebarButton"]').click()
            page.get_by_role("tab", name="Durability").click()
            wait_idle(page)
            assert sidebar.bounding_box()["width"] > 200
    finally:
        context.close()


@screenshot_on_failure
def test_a_client_level_link_in_presentation_mode_says_why_it_is_not_shown(ui):
    page = ui.page
    page.goto("/client-timeline?present=1&client=K000001")
    wait_idle(page)
    assert_no_exception(ui)
    expect(page.get_by_text("The client timeline is not shown in presentation mode")).to_be_visible()
    assert page.locator(CHART_OR_TABLE).count() == 0


# ---------------------------------------------------------------------------------------------------------------
# Data view: importing


@screenshot_on_failure
def test_uploading_a_valid_file_imports_it_and_shows_the_report(ui, tmp_path):
    page = ui.page
    scores = tmp_path / "e2e_scores.csv"
    scores.write_text(
        "client_id,assessed_at,instrument,score\n"
        "E2E-B1,2025-01-06,PHQ-9,18\nE2E-B1,2025-01-13,PHQ-9,11\nE2E-B1,2025-02-03,PHQ-9,6\n"
    )
    open_view(ui, "data")
    scores_before = number(metric(page, "Scores"))

    upload(ui, scores)
    click_import_and_wait(ui)
    assert_no_exception(ui)
    report = page.locator(SUCCESS).filter(has_text=scores.name)
    expect(report).to_be_visible()
    text = report.inner_text()
    assert re.search(r"\b3 imported\b", text) and re.search(r"\b0 rejected\b", text), text
    expect(page.locator('[data-testid="stDataFrame"] [role="gridcell"]', has_text=scores.name).first).to_be_attached()

    page.reload()  # a new session: the metrics are computed again
    wait_idle(page)
    assert number(metric(page, "Scores")) == scores_before + 3


@screenshot_on_failure
def test_uploading_a_file_with_an_identifier_column_is_refused(ui, tmp_path):
    page = ui.page
    refused = tmp_path / "e2e_with_email.csv"
    refused.write_text(
        "client_id,email,assessed_at,instrument,score\n"
        "E2E-R1,someone@example.org,2025-01-06,PHQ-9,18\n"
        "E2E-R1,someone@example.org,2025-01-20,PHQ-9,9\n"
    )
    open_view(ui, "data")
    before = metrics(page)
    assert "Scores" in before, f"no 'Scores' metric on the Data view: {before}"

    upload(ui, refused)
    click_import_and_wait(ui)
    assert_no_exception(ui)
    refusal = page.locator(ERROR).filter(has_text=refused.name)
    expect(refusal).to_be_visible()
    assert "email" in refusal.inner_text(), f"the refusal does not name the column: {refusal.inner_text()!r}"
    assert page.locator(SUCCESS).count() == 0, f"a success report too: {page.locator(SUCCESS).all_inner_texts()}"

    page.reload()  # a new session: the metrics are computed again
    wait_idle(page)
    after = metrics(page)
    assert after["Scores"] == before["Scores"], f"'Scores' went from {before['Scores']} to {after['Scores']}"
    assert after.get("Clients") == before.get("Clients"), f"'Clients' changed: {before} -> {after}"


def test_the_report_opens_offline_and_draws_its_charts(browser, demo_db, tmp_path):
    """The case-conference report in a real browser: no console error, no request anywhere, charts drawn."""
    import shutil as _shutil

    from dashboard import report, store
    from dashboard.cohort import Cohort

    copy = tmp_path / "copy.duckdb"
    _shutil.copy(demo_db, copy)
    con = store.connect(copy)
    try:
        html = report.build(con, Cohort("PHQ-9")).html
    finally:
        con.close()
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    context = browser.new_context()
    page = context.new_page()
    errors, outside = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    try:
        page.goto(path.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        n_figures = page.locator("figure").count()
        n_drawn = page.locator("figure .js-plotly-plot").count()
    finally:
        context.close()
    assert not errors, errors
    assert not outside, outside
    assert n_figures >= 8 and n_drawn == n_figures


# ---------------------------------------------------------------------------------------------------------------
# Importing from the command line while the app serves


def test_a_command_line_import_while_the_app_serves_shows_after_a_reload(browser, app_server, shot_dir, tmp_path):
    """A scheduled import runs while a browser is on the app: the import succeeds (no "in use" refusal), the open
    page keeps working on what it had, and a reload shows the new data (no restart)."""
    db = tmp_path / "served.duckdb"
    shutil.copyfile(app_server.db_path, db)
    with serve(db, tmp_path) as server:
        ui, context = _open_ui(browser, server, shot_dir, "cli-import-while-serving")
        try:
            page = ui.page
            open_view(ui, "data")
            clients_before, scores_before = number(metric(page, "Clients")), number(metric(page, "Scores"))
            clients = tmp_path / "nightly_clients.csv"
            clients.write_text("client_id,site\n" + "".join(f"NIGHT{i},North\n" for i in range(7)))
            scores = tmp_path / "nightly_scores.csv"
            scores.write_text(
                "client_id,assessed_at,instrument,score\n"
                + "".join(f"NIGHT{i},2025-03-03,PHQ-9,15\n" for i in range(7))
            )
            env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DB_KEY"}
            done = subprocess.run(
                [sys.executable, "-m", "dashboard", "import", str(clients), str(scores), "--db", str(db)],
                cwd=APP_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, ui.failure_details(f"the import failed: {done.stdout}\n{done.stderr}")
            assert "in use" not in done.stderr
            page.reload()
            wait_idle(page)
            assert_no_exception(ui)
            assert number(metric(page, "Clients")) == clients_before + 7, ui.failure_details("clients after reload")
            assert number(metric(page, "Scores")) == scores_before + 7, ui.failure_details("scores after reload")
            open_view(ui, "overview")
            assert_no_exception(ui)
            assert not ui.console_errors, ui.console_errors
        finally:
            context.close()


@screenshot_on_failure
def test_a_file_with_its_own_column_names_imports_through_a_saved_mapping(browser, app_server, shot_dir, tmp_path):
    """Issue 16: next week's export, whose columns are named as the EHR names them, imports in the real browser
    through the mapping saved by name (here by the command line, with a value mapping for the route)."""
    db = tmp_path / "mapped.duckdb"
    shutil.copyfile(app_server.db_path, db)
    header = "PatientCode,Visit Date,Visit Kind,Route,Dose\n"
    first = tmp_path / "ehr_week1.csv"
    first.write_text(header + "MAP1,2025-05-05T09:00,dosing,Ketamine IV 0.5mg/kg,40\n")
    env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DB_KEY"}
    mapped = "client_id=PatientCode,session_at=Visit Date,session_type=Visit Kind,modality=Route,dose_mg=Dose"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "dashboard", "import", str(first), "--db", str(db), "--map", mapped),
            *("--map-value", "modality:Ketamine IV 0.5mg/kg=IV infusion", "--save-mapping", "EHR weekly"),
        ],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    week2 = tmp_path / "ehr_week2.csv"
    week2.write_text(
        header + "MAP1,2025-05-12T09:00,dosing,Ketamine IV 0.5mg/kg,42\nMAP2,2025-05-13T09:00,dosing,IM,50\n"
    )
    with serve(db, tmp_path) as server:
        ui, context = _open_ui(browser, server, shot_dir, "saved-mapping")
        try:
            page = ui.page
            open_view(ui, "data")
            upload(ui, week2)
            select = page.locator('[data-testid="stSelectbox"]').filter(
                has=page.locator('[data-testid="stWidgetLabel"]', has_text="Column mapping")
            )
            select.click()
            page.get_by_role("option", name="EHR weekly").click()
            wait_idle(page)
            expect(page.get_by_text("client_id ← PatientCode", exact=False)).to_be_visible()
            click_import_and_wait(ui)
            assert_no_exception(ui)
            report = page.locator(SUCCESS).filter(has_text=week2.name)
            expect(report).to_be_visible()
            assert re.search(r"\b2 imported\b", report.inner_text()), report.inner_text()
            ui.screenshot("imported through the saved mapping")
        finally:
            context.close()
    con = duckdb.connect(str(db), read_only=True)
    try:
        got = con.execute(
            "select client_id, modality, dose_mg from sessions where client_id like 'MAP%' order by all"
        ).fetchall()
    finally:
        con.close()
    assert got == [("MAP1", "IV infusion", 40.0), ("MAP1", "IV infusion", 42.0), ("MAP2", "IM injection", 50.0)]


# ---------------------------------------------------------------------------------------------------------------
# Issue 18: nothing on a chart overlaps or is cut off, at a desktop width and at 800 px

_LAYOUT_JS = """
() => {
  const problems = [];
  const inter = (a, b) =>
    a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const inside = (r, c) =>
    r.left >= c.left - 1 && r.right <= c.right + 1 && r.top >= c.top - 1 && r.bottom <= c.bottom + 1;
  const box = (el) => el.getBoundingClientRect();
  const label = (el) => (el.textContent || "").trim().slice(0, 60);
  const titleSel = ".g-xtitle text, .g-x2title text, .g-ytitle text, .g-y2title text";
  document.querySelectorAll(".js-plotly-plot").forEach((plot, i) => {
    const svg = plot.querySelector(".main-svg");
    if (!svg) return;
    const frame = box(svg);
    const titles = [...plot.querySelectorAll(titleSel)].filter((t) => label(t));
    const notes = [...plot.querySelectorAll(".annotation")].filter((a) => label(a));
    const texts = [...plot.querySelectorAll(".textpoint text")].filter((t) => label(t));
    for (const n of notes) {
      for (const t of titles) {
        if (inter(box(n), box(t))) problems.push({chart: i, kind: "note over axis title", note: label(n)});
      }
      if (!inside(box(n), frame)) problems.push({chart: i, kind: "note outside the figure", note: label(n)});
    }
    for (let a = 0; a < notes.length; a++) {
      for (let b = a + 1; b < notes.length; b++) {
        if (inter(box(notes[a]), box(notes[b]))) {
          problems.push({chart: i, kind: "notes overlap", a: label(notes[a]), b: label(notes[b])});
        }
      }
    }
    for (let a = 0; a < texts.length; a++) {
      for (let b = a + 1; b < texts.length; b++) {
        if (inter(box(texts[a]), box(texts[b]))) {
          problems.push({chart: i, kind: "texts overlap", a: label(texts[a]), b: label(texts[b])});
        }
      }
    }
    const heading = plot.querySelector(".g-gtitle text");
    const legend = plot.querySelector(".legend");
    if (heading && legend && inter(box(heading), box(legend))) {
      problems.push({chart: i, kind: "heading over legend", heading: label(heading)});
    }
    if (heading && !inside(box(heading), frame)) {
      problems.push({chart: i, kind: "heading outside the figure", heading: label(heading)});
    }
    for (const t of texts) {
      if (!inside(box(t), frame)) problems.push({chart: i, kind: "text outside the figure", text: label(t)});
      // cut off by its panel: a text point in a clipped layer that reaches past the clip rectangle
      const layer = t.closest("[clip-path]");
      const id = layer && (layer.getAttribute("clip-path").match(/#([^)'"]+)/) || [])[1];
      const rect = id && document.getElementById(id) && document.getElementById(id).querySelector("rect");
      if (rect && !inside(box(t), box(rect))) problems.push({chart: i, kind: "text clipped", text: label(t)});
    }
  });
  return problems;
}
"""
LAYOUT_VIEWS = [
    f"{view}?{urlencode({SECTION_VIEWS[view]: label}, quote_via=quote)}" if view in SECTION_VIEWS else view
    for view in ["overview", "rapid-onset", "long-term", "compare", "clinicians-sites", "attrition", "my-cohort"]
    for label in SECTIONS.get(SECTION_VIEWS.get(view), [None])
]  # every section of a view drawn a section at a time
LAYOUT_VIEWS += ["long-term?present=1&long_section=Durability", "attrition?present=1"]  # the projector's larger type


@pytest.mark.parametrize("width", [1440, 800])
def test_chart_notes_labels_and_numbers_at_risk_are_neither_overlapped_nor_clipped(browser, app_server, width):
    """Every chart of every grouped view, drawn in Chromium: no note under a plot (suppressed groups, missing
    groups, reference definitions) overlaps an axis title or another note or runs outside the figure, and no text
    on a chart (the numbers at risk under a Kaplan–Meier curve, a funnel's labels) is cut off by its panel."""
    context = browser.new_context(base_url=app_server.url, viewport={"width": width, "height": 1000})
    try:
        page = context.new_page()
        found = {}
        for view in LAYOUT_VIEWS:
            page.goto(f"/{view}")
            wait_idle(page)
            if not page.locator(f'{MAIN} [data-testid="stPlotlyChart"]').count():
                continue  # a section of tables only
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
            page.wait_for_timeout(500)  # plotly's last relayout after the page is idle
            problems = page.evaluate(_LAYOUT_JS)
            if problems:
                found[view] = problems[:5]
        assert not found, f"at {width} px: {found}"
    finally:
        context.close()
