"""Speed as a person feels it: the app served by `streamlit run`, driven by Debian's chromium through Playwright, timed
from a sidebar filter change (or a deep link opened) to the page settled with every chart drawn. Used by `python -m
dashboard bench`; the page-state scripts here are also what the browser tests wait on (tests/test_browser.py)."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

APP_DIR = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUIET_MS = 400

# `busy`: Streamlit is not connected, a script run is under way, anything is stale, spinning or loading, or the main
# area has no element yet.
_BUSY_JS = """
  const app = document.querySelector('[data-testid="stApp"]');
  const busy = !app
    || app.getAttribute('data-test-connection-state') !== 'CONNECTED'
    || app.getAttribute('data-test-script-state') !== 'notRunning'
    || document.querySelector('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stSpinner"], '
                              + '[data-testid="stSkeleton"], [data-testid="stFileChipIconSpinner"], '
                              + '[data-stale="true"]')
    || !document.querySelector('[data-testid="stMain"] [data-testid="stElementContainer"]');
"""
# True once Streamlit has connected, run the script to the end, and nothing is stale, spinning or running;
# it must stay so for `quietMs` (a rerun can be requested just after a run ends).
IDLE_JS = (
    "(quietMs) => {"
    + _BUSY_JS
    + """
  const now = performance.now();
  if (busy) { window.__e2eQuietSince = undefined; return false; }
  if (window.__e2eQuietSince === undefined) window.__e2eQuietSince = now;
  return now - window.__e2eQuietSince >= quietMs;
}
"""
)
STATE_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return {
    script: app && app.getAttribute('data-test-script-state'),
    connection: app && app.getAttribute('data-test-connection-state'),
    running: !!document.querySelector('[data-testid="stStatusWidgetRunningIcon"]'),
    spinners: document.querySelectorAll('[data-testid="stSpinner"]').length,
    stale: document.querySelectorAll('[data-stale="true"]').length,
  };
}
"""
# Before a change: forget the last settled time, note when the next key goes down (the change), and when the page
# learns that the script run after it started (the server's word) and ended, from the app's script-state attribute
# (a change that the page settles from before its run began would time nothing).
ARM_JS = """
() => {
  Object.assign(window, {__benchRan: false, __benchSettledAt: undefined, __benchChangedAt: undefined,
                         __benchRunStartedAt: null, __benchRunEndedAt: null});
  const app = document.querySelector('[data-testid="stApp"]');
  const state = 'data-test-script-state';
  if (window.__benchObserver) window.__benchObserver.disconnect();
  window.__benchObserver = new MutationObserver((records) => {
    const now = performance.now();
    records.forEach((r, i) => {
      const after = i + 1 < records.length ? records[i + 1].oldValue : app.getAttribute(state);
      if (after === 'running' && window.__benchRunStartedAt === null) window.__benchRunStartedAt = now;
      if (r.oldValue !== 'notRunning') window.__benchRan = true;
      if (after === 'notRunning' && window.__benchRunStartedAt !== null) window.__benchRunEndedAt = now;
    });
  });
  window.__benchObserver.observe(app, {attributes: true, attributeOldValue: true, attributeFilter: [state]});
  window.addEventListener('keydown', (e) => { window.__benchChangedAt = e.timeStamp; }, {capture: true, once: true});
}
"""
# Settled: idle as above, the run after the change seen (when armed), and every chart in the main area drawn (its
# plotly SVG present and shown); it must stay so for `quietMs`. Returns when it became so (page clock, ms since the
# page's navigation started), when the change was made and its run started and ended, and the number of charts.
SETTLED_JS = (
    "(quietMs) => {"
    + _BUSY_JS
    + """
  const charts = Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stPlotlyChart"]'));
  const drawn = charts.filter((chart) => {
    const plot = chart.querySelector('.js-plotly-plot');
    return plot && plot.querySelector('.main-svg') && getComputedStyle(plot).visibility === 'visible';
  }).length;
  const now = performance.now();
  if (busy || drawn < charts.length || window.__benchRan === false) {
    window.__benchSettledAt = undefined;
    return false;
  }
  if (window.__benchSettledAt === undefined) window.__benchSettledAt = now;
  if (now - window.__benchSettledAt < quietMs) return false;
  return {settledAt: window.__benchSettledAt, changedAt: window.__benchChangedAt ?? null, charts: charts.length,
          runStartedAt: window.__benchRunStartedAt ?? null, runEndedAt: window.__benchRunEndedAt ?? null};
}
"""
)

# The views whose charts follow the sidebar's filters, by URL path
VIEWS = ("overview", "rapid-onset", "long-term", "compare", "clinicians-sites", "attrition", "my-cohort")
CHANGES = 20  # filter changes per view
DEEP_LINKS = 3  # deep links opened, each in a fresh browser context
MIN_BASELINE = "Minimum baseline score"
SETTLE_TIMEOUT_MS = 180_000
VIEWPORT = {"width": 1400, "height": 1000}


def unavailable() -> str | None:
    """Why the app cannot be timed in a browser here, or None when it can."""
    if shutil.which("chromium") is None:
        return "Chromium not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements.txt)"
    return None


def launch(playwright):
    """Debian's chromium (never a browser Playwright downloads)."""
    return playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(db: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run streamlit_app.py` on a free port with OUTCOMES_DB=db (and no store key: the benchmark's store
    is not encrypted), its output in `log`; returns the process and the app's address at once."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "OUTCOMES_DB_KEY"} | {"OUTCOMES_DB": str(db)}
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*command, "--server.headless", "true"],
            cwd=APP_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return proc, f"http://localhost:{port}"


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


@contextlib.contextmanager
def serving(db: Path, timeout: float = 120) -> Iterator[str]:
    """The app on `db`, answering its health check, until the block ends; yields its address."""
    log = db.parent / f"streamlit-bench-{os.getpid()}.log"
    proc, url = start_app(db, log)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"streamlit did not start (exit status {proc.poll()}): {tail}")
            time.sleep(0.2)
        yield url
    finally:
        stop_app(proc)


def settled(page) -> dict:
    """Wait until the page has settled (see SETTLED_JS); its settledAt, changedAt (ms, page clock) and charts."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        handle = page.wait_for_function(SETTLED_JS, arg=QUIET_MS, polling="raf", timeout=SETTLE_TIMEOUT_MS)
    except PlaywrightTimeoutError:
        state = page.evaluate(STATE_JS)
        raise RuntimeError(f"{page.url} did not settle within {SETTLE_TIMEOUT_MS / 1000:.0f} s: {state}") from None
    if page.locator('[data-testid="stException"]').count():
        raise RuntimeError(f"{page.url} shows an exception")
    return handle.json_value()


def _summary(ms: list[float]) -> dict:
    ordered = sorted(ms)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "runs": len(ordered),
        "ms_each": ms,
    }


def _split(changes: list[dict]) -> dict:
    """Where a change's time goes, medians in ms: from the key to the script run starting (the change reaching the
    server), the run (the server computing and sending the page, the browser drawing what arrives meanwhile), and
    from its end to every chart drawn (the browser alone)."""
    timed = [c for c in changes if c["runStartedAt"] is not None and c["runEndedAt"] is not None]
    if not timed:
        return {}
    median = statistics.median
    return {
        "to_run_ms": median(c["runStartedAt"] - c["changedAt"] for c in timed),
        "run_ms": median(c["runEndedAt"] - c["runStartedAt"] for c in timed),
        "after_run_ms": median(c["settledAt"] - c["runEndedAt"] for c in timed),
    }


def pages() -> list[tuple[str, str]]:
    """What the filter changes are timed on: each view in VIEWS, and for a view drawn a section at a time (tabs,
    views.common.SECTIONS) each of its sections, as (name, link path and section parameter)."""
    from dashboard.sections import SECTION_VIEWS, SECTIONS

    out = []
    for view in VIEWS:
        key = SECTION_VIEWS.get(view)
        if key is None:
            out.append((view, view))
            continue
        for label in SECTIONS[key]:
            out.append((f"{view} · {label}", f"{view}?{urlencode({key: label}, quote_via=quote)}"))
    return out


def _filter_changes(page, url: str, view: str, start: tuple[str, str], changes: int) -> dict:
    """A new session on `view` (a link path, with its section's parameter if any), starting from its own cohort;
    then the sidebar's minimum baseline score set to 1, 2, … `changes` (typed, then Enter), each timed from the key
    going down to the page settled."""
    query, described = start
    page.goto(f"{url}/{view}{'&' if '?' in view else '?'}{query}")
    settled(page)
    field = (
        page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"]')
        .filter(has=page.locator('[data-testid="stWidgetLabel"]', has_text=MIN_BASELINE))
        .locator("input")
    )
    each = []
    for value in range(1, changes + 1):
        field.fill(str(value))
        page.evaluate(ARM_JS)
        field.press("Enter")
        done = settled(page)
        if done["changedAt"] is None or f"min_baseline={value}" not in page.url:
            raise RuntimeError(f"{view}: the minimum baseline score {value} was not applied ({page.url})")
        each.append(done)
    return _summary([c["settledAt"] - c["changedAt"] for c in each]) | {
        "charts": sorted({c["charts"] for c in each}),
        "starting_cohort": described,
        "split": _split(each),
    }


def _deep_link(browser, url: str, link: str) -> dict:
    """A fresh browser context (no cache, a new session) opening `link`: ms from the navigation's start to the page
    settled with its charts drawn."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(url + link)
        done = settled(page)
    finally:
        context.close()
    return {"ms": done["settledAt"], "charts": done["charts"]}


def starting_cohorts(options: dict[str, list[str]], n: int) -> list[tuple[str, str]]:
    """n starting cohorts as link parameters and in words, each every value of one filter but one (e.g. every modality
    but IV infusion), so that each view's filter changes compute cohorts no other view has computed (the app caches
    results per cohort); then every value of one filter but two, where that leaves at least one. Repeated when the
    data have too few values."""
    out = []
    for size in (1, 2):
        for param, values in options.items():
            if len(values) <= size:
                continue
            for left_out in itertools.combinations(values, size):
                query = urlencode([(param, v) for v in values if v not in left_out], quote_via=quote)
                out.append((query, f"{param}: all but {' and '.join(left_out)}"))
    return list(itertools.islice(itertools.cycle(out or [("", "all clients")]), n))


def deep_links(modalities: list[str], n: int) -> list[str]:
    """n links to the long-term view of one modality each (a cohort the filter changes never compute)."""
    return [f"/long-term?{urlencode({'modality': m}, quote_via=quote)}" for m in itertools.islice(modalities, n)]


def first_visits(sites: list[str], n: int) -> list[str]:
    """n links to the app's address (the overview) with one site each: a cohort no other timing computes."""
    return [f"/?{urlencode({'site': x}, quote_via=quote)}" for x in itertools.islice(sites, n)] or ["/"]


def measure(db: Path, options: dict[str, list[str]], changes: int = CHANGES, links: int = DEEP_LINKS) -> dict:
    """The app on `db` in Chromium: per view (and per section, `pages`), p50 / p95 ms from a sidebar filter change to
    every chart redrawn and the run finished (each session starting from its own cohort); then the median ms from
    opening a deep link in a fresh browser context (nothing cached) to the page drawn, and the same for the app's
    address (the overview: the first visit of the day, on a server already running). `options`: each cohort
    filter's values (modality first)."""
    from playwright.sync_api import sync_playwright

    timed = pages()
    starts = starting_cohorts(options, len(timed))
    load_before = os.getloadavg()
    with serving(db) as url, sync_playwright() as p:
        browser = launch(p)
        try:
            # the views one after the other in one browser (its cache warm, as for someone using the app)
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            views = {
                name: _filter_changes(page, url, path, start, changes)
                for (name, path), start in zip(timed, starts, strict=True)
            }
            context.close()
            opened = {link: _deep_link(browser, url, link) for link in deep_links(options.get("modality", []), links)}
            visits = {link: _deep_link(browser, url, link) for link in first_visits(options.get("site", []), links)}
        finally:
            browser.close()
    each = [o["ms"] for o in opened.values()]
    firsts = [o["ms"] for o in visits.values()]
    return {
        "views": views,
        "change": f"the sidebar's minimum baseline score set to 1, 2, … {changes} (typed, Enter)",
        "deep_link": {
            "median_ms": statistics.median(each) if each else None,
            "ms_each": each,
            "links": list(opened),
            "charts": [o["charts"] for o in opened.values()],
        },
        "first_visit": {
            "median_ms": statistics.median(firsts) if firsts else None,
            "ms_each": firsts,
            "links": list(visits),
            "charts": [o["charts"] for o in visits.values()],
        },
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
