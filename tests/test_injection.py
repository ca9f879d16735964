"""Injection into what people see (issue 14, part 4): text from a link or from the store is shown as the characters
it holds, never as a live link, image, HTML, icon, colour or formula, in the app (AppTest and a real browser), its
charts and the HTML report; the data table's own CSV download holds no formula; a TOML instrument file cannot name
a formula; a link with more parameters than Streamlit reads says so.

The hostile store is a copy of the demo whose sites, conditions, modalities, clinicians, an instrument and its
bands, and the import log's file names and messages are replaced by markup (written with SQL, as a store built by an
older version or by hand could hold them: today's import refuses most of these characters)."""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import derive, instruments, report, store
from dashboard.cohort import Cohort, Filters
from dashboard.escape import md, plot, shorten
from dashboard.export import FORMULA_START
from dashboard.ingest import import_file
from dashboard.settings import load

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
VIEWS = ["overview", "rapid_onset", "long_term", "compare", "clinicians_sites", "client_timeline", "my_cohort", "data"]

LINK = "[x](https://evil.example)"
IMAGE = "![x](http://127.0.0.1:1/beacon)"
ANCHOR = '<a href="https://evil.example">x</a>'
BOLD = "<b>x</b>"
COLOUR = ":red[x]"
MATH = "$x$"
FORMULA = '=HYPERLINK("http://evil")'
SITES = {"North": LINK, "Central": IMAGE, "Harbour": "@SUM(1+1)*cmd|' /C calc'!A0"}
CONDITIONS = {
    "treatment-resistant depression": ANCHOR,
    "anxiety": COLOUR,
    "bipolar depression": MATH,
    "PTSD": FORMULA,
}
MODALITIES = {
    "IV infusion": "www.evil.example",
    "IM injection": "jane@evil.example",
    "Sublingual / troche": "<b>y</b>",
    "Intranasal esketamine": ":material/home: :smile: http://evil.example/m",
}
CLINICIANS = {
    "CL01": FORMULA,
    "CL02": "[c](https://evil.example/c)",
    "CL03": "![c](http://127.0.0.1:1/beacon)",
    "CL04": '<a href="https://evil.example/c">c</a>',
    "CL05": ":red[c]",
    "CL06": "$c$",
    "CL07": "<b>c</b>",
}
INSTRUMENT = '<a href="https://evil.example/i">GAD</a> $i$'  # GAD-7 renamed
BANDS = ["[minimal](https://evil.example/b)", "<b>mild</b>", "![moderate](http://127.0.0.1:1/beacon)", ":red[severe]"]
LOG_FILE = "+HYPERLINK(1)[f](https://evil.example/f).csv"
LOG_MESSAGE = "<b>m</b> ![m](http://127.0.0.1:1/beacon)"
STORED = [
    *SITES.values(),
    *CONDITIONS.values(),
    *MODALITIES.values(),
    *CLINICIANS.values(),
    INSTRUMENT,
    *BANDS,
    LOG_FILE,
    LOG_MESSAGE,
]
PHISH = "[Session expired - sign in again](https://evil.example/login)"
REFLECTED = {"site": PHISH, IMAGE: "1", "instrument": BOLD, "rates": COLOUR, "from": ANCHOR}

# markdown that would be live in Streamlit: each pattern skips what escape.md escapes (a backslash before the
# character, a word joiner after ':' and '@' and before the '.' of 'www.')
LIVE_MARKDOWN = {
    "link or image": re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\("),
    "HTML tag": re.compile(r"(?<!\\)<[A-Za-z/!]"),
    "directive": re.compile(r"(?<!\\):[a-z]+(?<!\\)\["),
    "icon or emoji": re.compile(r"(?<!\\):(material/home|smile)(?<!\\):"),  # the store's (the app uses icons)
    "math": re.compile(r"(?<!\\)\$[^$]+(?<!\\)\$"),
    "bare URL": re.compile(r"(?i)\b(https?://|www\.)"),
    "e-mail address": re.compile(r"[\w.+-]+@[\w-]+\.\w"),
}
TEXT_FIELDS = {"body", "label", "help", "caption", "text"}


def live_markdown(text: str) -> list[str]:
    return [name for name, pattern in LIVE_MARKDOWN.items() if pattern.search(text)]


def rename(con, table: str, column: str, mapping: dict[str, str]) -> None:
    for old, new in mapping.items():
        con.execute(f"update {table} set {column} = $new where {column} = $old", {"new": new, "old": old})


@pytest.fixture(scope="module")
def hostile_db(demo_db, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "hostile.duckdb"
    shutil.copy(demo_db, path)
    con = store.connect(path)
    try:
        for table in ("clients", "sessions"):
            rename(con, table, "site", SITES)
        rename(con, "clients", "condition", CONDITIONS)
        rename(con, "sessions", "modality", MODALITIES)
        rename(con, "sessions", "clinician_id", CLINICIANS)
        bands = [{"max": m, "label": label} for m, label in zip((4.0, 9.0, 14.0, 21.0), BANDS, strict=True)]
        con.execute(
            "update instruments set name = $new, bands = $bands, remission_label = $new where name = 'GAD-7'",
            {"new": INSTRUMENT, "bands": bands},
        )
        rename(con, "scores", "instrument", {"GAD-7": INSTRUMENT})
        con.execute(
            "update import_log set file_name = $f, message = $m, rejected = 1", {"f": LOG_FILE, "m": LOG_MESSAGE}
        )
        derive.rebuild(con)
    finally:
        con.close()
    return path


@pytest.fixture
def app(monkeypatch):
    def make(db: Path, query: dict | None = None, state: dict | None = None) -> AppTest:
        monkeypatch.setenv(store.ENV_VAR, str(db))
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(APP, default_timeout=180)
        for key, value in (query or {}).items():
            at.query_params[key] = value
        for key, value in (state or {}).items():
            at.session_state[key] = value
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


def _open(at: AppTest, view: str) -> AppTest:
    at.run()
    if view != "overview":
        at.switch_page(f"dashboard/views/{view}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _strings(message, out: list[str]) -> None:
    """Every text field (body, label, help, caption, text) of a proto message and the messages inside it."""
    for descriptor, value in message.ListFields():
        if descriptor.type == descriptor.TYPE_MESSAGE:
            for item in [value] if hasattr(value, "ListFields") else value:
                _strings(item, out)
        elif descriptor.name in TEXT_FIELDS and isinstance(value, str) and value:
            out.append(value)


def rendered_text(at: AppTest) -> list[str]:
    """The markdown Streamlit renders on the page: element bodies, labels, help tooltips, captions, progress text."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        # the app's own CSS: presentation mode's markdown, and the narrow-window style block (st.html holding only a
        # <style> element, which draws nothing)
        body = getattr(proto, "body", "")
        style_only = node.type == "html" and bool(re.fullmatch(r"\s*<style>[^<]*</style>\s*", body or ""))
        trusted = getattr(proto, "allow_html", False) or style_only
        if (
            proto is not None
            and hasattr(proto, "ListFields")
            and not trusted
            and node.type not in ("plotly_chart", "arrow_data_frame")
        ):
            _strings(proto, out)
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return out


def assert_no_live_markdown(at: AppTest, where: str) -> None:
    bad = [(text[:160], found) for text in rendered_text(at) if (found := live_markdown(text))]
    assert not bad, f"{where}: live markdown in {len(bad)} text(s): {bad[:6]}"


def chart_strings(at: AppTest) -> list[str]:
    """Every string in the plotly figures the page sends (names, texts, hovers, titles, annotations, categories)."""
    out: list[str] = []

    def collect(value) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)

    for chart in at.get("plotly_chart"):
        collect(json.loads(chart.proto.spec))
    return out


def assert_no_live_plotly_text(strings: list[str], where: str) -> None:
    """No stored label verbatim (plotly would read its tags and entities) and no link of any kind."""
    bad = [s for s in strings if any(label in s for label in STORED if re.search(r"[<>&$]", label)) or "<a" in s]
    assert not bad, f"{where}: live plotly text: {bad[:6]}"


# --- reflected: link parameters -------------------------------------------------------------------------------


def test_link_parameters_are_quoted_as_text_in_the_notices(app, demo_db):
    at = _open(app(demo_db, REFLECTED), "overview")
    notices = [w.value for w in at.warning]
    assert len(notices) >= 5, notices
    for notice in notices:
        assert not live_markdown(notice), (live_markdown(notice), notice)
    shown = " ".join(notices)
    for value in (PHISH, IMAGE, BOLD, COLOUR, ANCHOR):
        assert md(shorten(value)) in shown, (value, notices)
    assert_no_live_markdown(at, "overview with a hostile link")


def test_many_unknown_parameters_make_one_notice(app, demo_db):
    at = _open(app(demo_db, {f"p{i}": "1" for i in range(40)}), "overview")
    notices = [w.value for w in at.warning]
    assert len(notices) == 1 and "and 35 more" in notices[0], notices


# --- stored: labels, instrument, bands, file names ------------------------------------------------------------

HOSTILE_LINK = {
    "site": [LINK, IMAGE],
    "condition": [ANCHOR, COLOUR, MATH],
    "modality": list(MODALITIES.values())[:3],
    "instrument": INSTRUMENT,
}


@pytest.mark.parametrize("view", VIEWS)
def test_stored_labels_are_shown_as_text_on_every_view(app, hostile_db, view):
    at = _open(app(hostile_db, HOSTILE_LINK), view)
    ignored = [w.value for w in at.warning if "Ignored" in w.value]
    assert not ignored, ignored  # every value of the link is in the store
    assert_no_live_markdown(at, view)
    assert_no_live_plotly_text(chart_strings(at), view)
    if view in ("rapid_onset", "long_term", "overview"):
        captions = " ".join(c.value for c in at.caption)
        assert f"Mean {md(INSTRUMENT)}" in captions, captions[:500]
    if view == "overview":
        assert md(ANCHOR) in " ".join(c.value for c in at.caption)  # the cohort, in the flow chart's caption


def test_presentation_subtitle_quotes_the_cohort_as_text(app, hostile_db):
    at = _open(app(hostile_db, {**HOSTILE_LINK, "present": "1"}), "overview")
    subtitle = " ".join(m.value for m in at.markdown)
    for value in (INSTRUMENT, LINK, IMAGE, ANCHOR, COLOUR, MATH):
        assert md(value) in subtitle, (value, subtitle[:400])
    assert_no_live_markdown(at, "presentation mode")


def test_charts_quote_labels_for_plotly(app, hostile_db):
    at = _open(app(hostile_db, {"instrument": INSTRUMENT}), "rapid_onset")
    strings = chart_strings(at)
    assert plot("<b>y</b>") in strings  # a modality as a legend name
    at = _open(app(hostile_db, {"instrument": INSTRUMENT}), "clinicians_sites")
    # a clinician in a funnel point's hover (points inside the limits carry no label on the plot)
    assert f"<b>{plot('<b>c</b>')}</b>" in " ".join(chart_strings(at))
    at = _open(app(hostile_db, {"instrument": INSTRUMENT, "long_section": "Severity bands"}), "long_term")
    strings = " ".join(chart_strings(at))
    assert all(plot(band) in strings for band in BANDS[:2]), strings[:500]  # the Sankey's node labels


def test_upload_summary_quotes_file_names_and_headers(app, hostile_db, tmp_path):
    con = store.connect(tmp_path / "summary.duckdb")
    path = tmp_path / "clients.csv"
    # a header of a label's characters is shown (escaped); one with other characters is named by its position
    header = "<b>h</b> :red:#x (www.evil.example/h)"
    withheld = "[h](https://evil.example/h) ![h](http://127.0.0.1:1/beacon)"
    path.write_text(f"client_id,site,{header},{withheld}\nZZ001,North,1,2\n", encoding="utf-8")
    name = "[u](https://evil.example/u) :red[u].csv"
    result = import_file(con, path, name=name, after_import=derive.refresh)
    con.close()
    at = _open(app(hostile_db, state={"last_import": [result]}), "data")
    boxes = [b.value for b in [*at.success, *at.warning, *at.error]]
    assert any(md(name) in b and md(header) in b and "column 4" in b for b in boxes), boxes
    assert not any(md(withheld) in b or withheld in b for b in boxes), boxes
    assert_no_live_markdown(at, "the Data page after an import")


# --- the data table's own CSV download ----------------------------------------------------------------------


def _formula_cells(frame) -> list[str]:
    cells = [str(c) for c in frame.columns]
    for column in frame.columns:
        cells += [v for v in frame[column].tolist() if isinstance(v, str)]
    return [c for c in cells if c.lstrip().startswith(FORMULA_START) and not re.fullmatch(r"-\d+(\.\d*)?", c)]


@pytest.mark.parametrize("view", ["data", "compare"])
def test_tables_hold_no_formula_for_their_own_download(app, hostile_db, view):
    at = _open(app(hostile_db, {"instrument": INSTRUMENT}), view)
    if view == "compare":
        at.selectbox(key="compare_by").set_value("site").run()
    frames = [d.value for d in at.dataframe]
    assert frames, "no table"
    bad = [cell for frame in frames for cell in _formula_cells(frame)]
    assert not bad, bad[:6]
    if view == "data":
        shown = " ".join(str(v) for frame in frames for v in [*frame.columns, *frame.astype(str).to_numpy().ravel()])
        assert "'" + LOG_FILE in shown and "'" + SITES["Harbour"] in shown


# --- instrument files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "toml",
    [
        '[instruments."=HYPERLINK(1)"]\nmin = 0\nmax = 10\n',
        '[instruments.X]\nmin = 0\nmax = 10\naliases = [" =cmd"]\n',
        '[instruments.X]\nmin = 0\nmax = 10\nbands = [{max = 5, label = "=HYPERLINK(1)"}]\n',
        '[instruments.X]\nmin = 0\nmax = 10\nremission_max = 2\nremission_label = "=1+1"\n',
    ],
    ids=["name", "alias", "band", "remission-label"],
)
def test_instrument_file_labels_may_not_start_with_equals(tmp_path, toml):
    path = tmp_path / "instruments.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(instruments.InstrumentError, match="starts with =, which a spreadsheet would run"):
        instruments.parse_file(path)


# --- the report -----------------------------------------------------------------------------------------------


def test_report_carries_no_live_tag(hostile_db):
    con = store.connect(hostile_db, read_only=True)
    try:
        html = report.build(con, Cohort(INSTRUMENT, Filters(), "none", load())).html
    finally:
        con.close()
    body = html[html.index("<body>") :]
    # the figures' JSON escapes < > / as \\u003c etc.: decoded, it is what plotly reads
    decoded = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), body)
    for label in STORED:
        if re.search(r"[<>&$]", label):
            assert label not in decoded, label
    assert not re.search(r"<a[\s>]", decoded), "a live link in the report"
    assert plot("<b>y</b>") in decoded and json.dumps(plot(INSTRUMENT))[1:-1] in decoded


# --- the real browser -----------------------------------------------------------------------------------------


def _browser_session(server_url: str, port: int, folder: Path) -> dict:
    """Open every view on the hostile store (with a hostile link), the reflected link, a link of 1,001 parameters,
    and an upload under a hostile file name; report what the pages held and every request made."""
    from playwright.sync_api import sync_playwright

    from tests import test_browser as tb

    found: dict = {"links": {}, "images": {}, "legends": {}, "notices": {}, "requests": [], "errors": []}
    link_query = "&".join(
        f"{quote(k)}={quote(v)}"
        for k, values in HOSTILE_LINK.items()
        for v in ([values] if isinstance(values, str) else values)
    )
    reflected = "&".join(f"{quote(k)}={quote(v)}" for k, v in REFLECTED.items())
    visits = {f"{p.replace('_', '-')}": f"/{p.replace('_', '-')}?{link_query}" for p in VIEWS}
    visits["reflected"] = f"/overview?{reflected}"
    visits["root-reflected"] = f"/?{reflected}"
    visits["too-many"] = "/overview?" + "&".join(f"p{i}={i}" for i in range(1001)) + "&site=" + quote(LINK)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=tb.CHROMIUM, headless=True, args=tb.CHROMIUM_ARGS)
        try:
            for name, url in visits.items():
                context = browser.new_context(base_url=server_url, viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.on("request", lambda r: found["requests"].append(r.url))
                page.on("pageerror", lambda e: found["errors"].append(str(e)))
                page.goto(url)
                tb.wait_idle(page)
                page.wait_for_timeout(500)  # the link check reports after the first run
                tb.wait_idle(page)
                found["links"][name] = page.eval_on_selector_all("a[href*='evil']", "els => els.map(e => e.outerHTML)")
                found["images"][name] = page.eval_on_selector_all(
                    "img[src*='127.0.0.1:1']", "els => els.map(e => e.outerHTML)"
                )
                found["legends"][name] = [t for chart in page.evaluate(tb._LEGENDS_JS) for t in chart]
                found["notices"][name] = [t.replace("\u2060", "") for t in page.locator(tb.WARNING).all_inner_texts()]
                if name == "data":
                    upload = folder / "[u](https:evil.example) ![b](http:127.0.0.1:1).csv"
                    upload.write_text("client_id,site\nZZ901,North\n", encoding="utf-8")
                    uploader = page.locator(tb.UPLOADER).filter(has_text="Files to import")
                    uploader.locator("input[type=file]").set_input_files(str(upload))
                    tb.expect(uploader.locator('[data-testid="stFileChipName"]')).to_have_count(1)
                    found["chip"] = uploader.locator('[data-testid="stFileChipName"]').inner_text()
                    tb.wait_idle(page)
                    tb.click_import_and_wait(tb.UI(page=page, server=None, shot_dir=folder, name="upload"))
                    found["links"]["upload"] = page.eval_on_selector_all(
                        "a[href*='evil']", "els => els.map(e => e.outerHTML)"
                    )
                    found["images"]["upload"] = page.eval_on_selector_all(
                        "img[src*='127.0.0.1']", "els => els.map(e => e.outerHTML)"
                    )
                    found["upload"] = [
                        t.replace("\u2060", "")
                        for t in page.locator(f"{tb.SUCCESS}, {tb.WARNING}, {tb.ERROR}").all_inner_texts()
                    ]
                context.close()
        finally:
            browser.close()
    found["port"] = port
    return found


@pytest.fixture(scope="module")
def browser_run(hostile_db, tmp_path_factory) -> dict:
    tb = pytest.importorskip("tests.test_browser")  # skips (or fails in CI) without chromium and playwright
    folder = tmp_path_factory.mktemp("injection-browser")
    with tb.serve(hostile_db, folder) as server, ThreadPoolExecutor(1) as worker:
        # in a thread of its own: the Sync API runs one Playwright per thread, and test_browser.py's may be running
        return worker.submit(_browser_session, server.url, server.port, folder).result()


@pytest.mark.browser
def test_browser_shows_no_link_and_fetches_no_image_from_labels(browser_run):
    assert not browser_run["errors"], browser_run["errors"]
    assert not {k: v for k, v in browser_run["links"].items() if v}, browser_run["links"]
    assert not {k: v for k, v in browser_run["images"].items() if v}, browser_run["images"]
    beacons = [u for u in browser_run["requests"] if urlsplit(u).hostname == "127.0.0.1" and urlsplit(u).port == 1]
    assert not beacons, beacons
    assert "upload" in browser_run["links"], "the upload did not run"


@pytest.mark.browser
def test_browser_shows_labels_literally(browser_run):
    legends = browser_run["legends"]["rapid-onset"]
    assert "<b>y</b>" in legends and "www.evil.example" in legends, legends  # the characters, not bold, no link
    notices = " ".join(browser_run["notices"]["reflected"])
    assert shorten(PHISH) in notices and shorten(IMAGE) in notices, notices
    assert any("[u](https:evil.example) ![b](http:127.0.0.1:1).csv" in t for t in browser_run["upload"])


@pytest.mark.browser
def test_browser_says_when_a_link_has_too_many_parameters(browser_run):
    notices = browser_run["notices"]["too-many"]
    assert any("Ignored the whole link: it has 1,002 parameters" in n for n in notices), notices
    assert not any("whole link" in n for n in browser_run["notices"]["reflected"])
