"""The case-conference report: one self-contained HTML file (plotly.js inline, no outside requests) built from
the same engine, charts and definitions as the app. No client ids; no dates finer than the month."""

from __future__ import annotations

import html
import platform
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from importlib import metadata

import duckdb
import pandas as pd
import plotly.offline

from dashboard import __version__, charts, definitions, instruments, outcomes, store
from dashboard.cohort import Cohort
from dashboard.outcomes import OUTCOME_LABELS, rate_rows, timepoint_label
from dashboard.settings import Settings

SECTIONS = [
    "Cohort",
    "Flow",
    "Key figures",
    "Rapid onset",
    "Long-term",
    "Attrition",
    "Cohort comparison",
    "Clinicians and sites",
    "Methods",
]
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2a33;max-width:1100px;margin:2em auto;
padding:0 1em;line-height:1.45}
h1{font-size:1.9em;margin-bottom:.1em} h2{border-bottom:2px solid #3b6e8f;padding-bottom:.2em;margin-top:2em}
.sub{color:#55626d} .note{background:#eef1f3;padding:.6em .9em;border-radius:6px}
.demo{background:#fff4d6;padding:.6em .9em;border-radius:6px}
table{border-collapse:collapse;margin:.6em 0;font-size:.8em;display:block;overflow-x:auto;max-width:100%}
th,td{border-bottom:1px solid #d5dbe0;padding:.3em .6em;text-align:left;vertical-align:top} .num{text-align:right}
.tiles{display:flex;flex-wrap:wrap;gap:.8em} .tile{border:1px solid #d5dbe0;border-radius:8px;padding:.7em 1em;
min-width:180px} .tile b{font-size:1.6em;display:block} .tile small{color:#55626d}
figcaption{color:#55626d;font-size:.9em;margin-bottom:1em}
"""


@dataclass
class Report:
    html: str
    sections: list[str]
    seconds: float


def _pct(x) -> str:
    # whole percents: the report's rates are given to 2 decimals of a fraction (outcomes._coarse)
    return "suppressed" if x is None or pd.isna(x) else f"{100 * float(x):.0f}%"


def _count(x) -> str:
    return "suppressed" if x is None or pd.isna(x) else f"{int(x):,}"


def _figure(fig, caption: str) -> str:
    body = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        config={"displaylogo": False, "responsive": True, "displayModeBar": False},
    )
    return f"<figure>{body}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _text_cell(v) -> str:
    """A text cell: HTML escaped, and $ as an entity (no label reads as TeX to a viewer that renders it)."""
    return "suppressed" if v is None or pd.isna(v) else html.escape(str(v)).replace("$", "&#36;")


def _table(frame: pd.DataFrame, formats: dict) -> str:
    """An HTML table: text cells left-aligned; the columns `formats` gives a number format (counts, rates, ratios)
    right-aligned, headings included, so their digits line up."""
    align = {c: "" if formats.get(c, _text_cell) is _text_cell else " class='num'" for c in frame.columns}
    head = "".join(f"<th{align[c]}>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, r in frame.iterrows():
        cells = []
        for c in frame.columns:
            fmt = formats.get(c, _text_cell)
            cells.append(f"<td{align[c]}>{fmt(r[c])}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _listed(labels: list[str]) -> str:
    """Timepoint labels in a sentence: ['Week 4', 'Week 12', 'Week 26'] -> 'weeks 4, 12 and 26'."""
    words = [label.lower() for label in labels]
    if len(words) > 1 and all(w.startswith("week ") for w in words):
        words = [w.removeprefix("week ") for w in words]
        return "weeks " + ", ".join(words[:-1]) + " and " + words[-1]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def _timepoints_table(con, cohort: Cohort, points: list, by_modality: pd.DataFrame, named: str) -> list[str]:
    """Response and remission at each later timepoint, all clients and by modality: the numbers behind the long-term
    rate charts, each rate with its count, denominator and Wilson interval (rounded and suppressed as everywhere)."""
    columns = [
        "group",
        "timepoint",
        "n_evaluable",
        "n_responders",
        "response_rate",
        "response_ci_low",
        "response_ci_high",
        "n_remission_eligible",
        "n_remitters",
        "remission_rate",
        "remission_ci_low",
        "remission_ci_high",
    ]
    everyone = outcomes.outcomes_table(con, cohort.grouped("none"), timepoints=points)
    rows = pd.concat(
        [
            everyone[everyone.timepoint != "last"].assign(group="All clients"),
            by_modality.sort_values(["group", "target_day"], kind="stable"),
        ]
    )[columns]
    if not len(rows):
        return []
    rows = rows.assign(timepoint=rows.timepoint.map(timepoint_label))
    shown = rows.rename(columns=OUTCOME_LABELS | {"timepoint": "Timepoint"})
    formats = {OUTCOME_LABELS[c]: _count for c in columns if c.startswith("n_")}
    formats |= {OUTCOME_LABELS[c]: _pct for c in columns if c.endswith(("_rate", "_low", "_high"))}
    return [
        f"<h3>Response and remission at {html.escape(named)}</h3>",
        _table(shown, formats),
        "<p class='note'>Response over evaluable clients; remission over evaluable clients not in remission at "
        "baseline (remission-eligible); Wilson 95% intervals.</p>",
    ]


def _attrition_section(con: duckdb.DuckDBPyConnection, cohort: Cohort, when: str) -> list[str]:
    """Still dosing and still assessed by modality (Kaplan–Meier), and the counts behind each figure."""
    s = cohort.settings
    parts: list[str] = []
    parts.append("<h2 id='attrition'>Attrition</h2>")
    att = outcomes.attrition(con, cohort.grouped("modality"))
    for measure, title in outcomes.ATTRITION_MEASURES.items():
        rows = att[att.measure == measure].drop(columns="measure")
        if len(rows):
            parts.append(
                _figure(
                    charts.km_curve(rows, f"{title} (share of starters)"),
                    f"{title}: Kaplan–Meier share of the clients who started, by modality, 95% CI. "
                    + definitions.attrition_rule(s),
                )
            )
    recon = outcomes.reconciliation(con, cohort)
    parts.append(
        f"<h3>Which clients each figure at {html.escape(when.lower())} counts</h3>"
        + _table(
            recon.rename(
                columns={"stage": "Clients", "n_clients": "Number", "rule": "Who they are", "where": "Where it is"}
            ),
            {"Number": _count},
        )
    )
    return parts


def _adjusted_section(con, cohort: Cohort, primary: tuple, when: str) -> list[str]:
    """Response by clinician or site, crude and adjusted for case mix (indirect standardisation)."""
    by = outcomes.GROUP_BY[cohort.by].lower()
    try:
        adj, model = outcomes.adjusted(con, cohort, target_day=primary[0], window_days=primary[1])
    except outcomes.OutcomeError as exc:
        why = html.escape(str(exc))
        return [f"<p class='note'>Adjusted for case mix, by {html.escape(by)}: not shown ({why}).</p>"]
    names = {"group": by.capitalize(), **outcomes.ADJUSTED_LABELS}
    shown = adj.drop(columns=["crude_ci_low", "crude_ci_high", "suppressed"]).rename(columns=names)
    number = lambda v: "suppressed" if v is None or pd.isna(v) else f"{float(v):.1f}"  # noqa: E731 (not a count)
    formats = {"Crude rate": _pct, "Adjusted rate": _pct, "Evaluable": _count, "Responders (O)": _count}
    formats |= {c: number for c in ("Expected (E)", "O/E", "O/E 95% CI low", "O/E 95% CI high")}
    return [
        f"<h3>Response at {html.escape(when.lower())} by {html.escape(by)}, adjusted for case mix</h3>",
        _table(shown, formats),
        "<p class='note'>"
        + html.escape(
            f"Observed responders over those expected from a logistic regression on baseline score, condition, "
            f"prior treatments and age band, fitted on the whole clinic's {model['n_clients']} evaluable clients "
            f"(rounded); the adjusted rate is O/E times the clinic's rate. Adjustment covers only what was measured."
        )
        + "</p>",
    ]


def _alert_quality_section(con, cohort: Cohort) -> list[str]:
    """The off-track alert's PPV and sensitivity on past courses (no client ids)."""
    from dashboard import expected

    head = "<h3>Off-track alerts: are they worth acting on?</h3>"
    try:
        q = expected.alert_quality(con, cohort.grouped("none"))
    except outcomes.OutcomeError as exc:
        return [head, f"<p class='note'>Not shown: {html.escape(str(exc))}.</p>"]
    shown = q[["measure", "numerator", "denominator", "rate", "ci_low", "ci_high"]].rename(
        columns={
            "measure": "Measure",
            "numerator": "Clients",
            "denominator": "Of",
            "rate": "Share",
            "ci_low": "95% CI low",
            "ci_high": "95% CI high",
        }
    )
    formats = {"Clients": _count, "Of": _count, "Share": _pct, "95% CI low": _pct, "95% CI high": _pct}
    return [
        head,
        _table(shown, formats),
        "<p class='note'>" + html.escape(definitions.expected_rule(cohort.settings)) + "</p>",
    ]


def build(con: duckdb.DuckDBPyConnection, cohort: Cohort) -> Report:
    """Build the report for a cohort (its instrument, filters and settings; its grouping is not used: each
    section groups as it says)."""
    started = datetime.now(UTC)
    cohort = replace(cohort, rounded=True)  # the report leaves the clinic: every count in it is rounded
    s = cohort.settings
    f = cohort.filters
    instrument = cohort.instrument
    known = instruments.load(con)
    if instrument not in known:
        raise outcomes.OutcomeError(f"unknown instrument {instrument!r}; known: {', '.join(sorted(known))}")
    inst = known[instrument]
    primary = (s.primary_day, s.window_for(s.primary_day))
    when = timepoint_label(f"day_{s.primary_day:g}")
    as_of = con.execute("select strftime(max(assessed_at), '%Y-%m') from scores").fetchone()[0] or "no data"
    demo = store.dataset_kind(con) == "demo"
    parts: list[str] = []

    parts.append(f"<h1>{html.escape(instrument)} outcomes after ketamine treatment</h1>")
    parts.append(
        f"<p class='sub'>Data as of {html.escape(as_of)} · report prepared {started:%Y-%m} · "
        f"dashboard {__version__}</p>"
    )
    if demo:
        parts.append("<p class='demo'><b>Demo data.</b> Every number in this report is synthetic.</p>")
    parts.append("<h2 id='cohort'>Cohort</h2>")
    described = f.describe()
    parts.append(
        f"<p>{html.escape(described[:1].upper() + described[1:])}; first course of each client. "
        f"{html.escape(definitions.baseline_rule(s))}</p>"
    )

    flow = outcomes.flow_table(con, cohort.grouped("none"))
    parts.append("<h2 id='flow'>Flow</h2>")
    if len(flow):
        r = flow.iloc[0]
        stages = pd.DataFrame(
            {
                "stage": ["First dose", "Baseline", "Completed induction", f"Score at {when.lower()}", "Included"],
                "n": [r.n_first_dose, r.n_with_baseline, r.n_completed_induction, r.n_followup_in_window, r.n_included],
            }
        )
        parts.append(_figure(charts.flow_chart(stages), definitions.flow_rule(s)))
    else:
        parts.append("<p>No clients match these filters.</p>")

    table = outcomes.outcomes_table(con, cohort.grouped("none"), timepoints=[primary])
    parts.append("<h2 id='key-figures'>Key figures</h2>")
    parts.append(f"<p class='note'>{html.escape(definitions.rounding_rule(s))}</p>")
    if len(table):
        resp = rate_rows(table, "response", "evaluable").query("label == @when")
        itt = rate_rows(table, "response", "itt").query("label == @when")
        rem = rate_rows(table, "remission").query("label == @when")
        doses = outcomes.doses_to_response(con, cohort.grouped("none"))
        tiles = []
        for label, rows in (
            (f"Response at {when.lower()} (evaluable)", resp),
            (f"Response at {when.lower()} (all who started)", itt),
            (f"Remission at {when.lower()}", rem),
        ):
            if len(rows):
                x = rows.iloc[0]
                detail = (
                    f"{_count(x.numerator)} of {_count(x.denominator)} · 95% CI {_pct(x.ci_low)}–{_pct(x.ci_high)}"
                    if not pd.isna(x.rate)
                    else "fewer than the minimum cell size"
                )
                tiles.append((label, _pct(x.rate), detail))
        if len(doses) and not doses.iloc[0].suppressed:
            d = doses.iloc[0]
            tiles.append(
                (
                    "Median doses to response",
                    f"{d.median_doses:g}",
                    f"IQR {d.q1_doses:g}–{d.q3_doses:g} · {int(d.n_responders):,} responders",
                )
            )
        parts.append(
            "<div class='tiles'>"
            + "".join(
                f"<div class='tile'>{html.escape(a)}<b>{html.escape(b)}</b><small>{html.escape(c)}</small></div>"
                for a, b, c in tiles
            )
            + "</div>"
        )
        parts.append(f"<p class='note'>{html.escape(definitions.response_rule(inst, s))}</p>")

    parts.append("<h2 id='rapid-onset'>Rapid onset</h2>")
    warning = definitions.recall_warning(inst, 7)
    if warning:
        parts.append(f"<p class='note'>{html.escape(warning)}</p>")
    traj = outcomes.trajectory(con, cohort.grouped("modality"), bin_days=0.5, max_day=7)
    parts.append(
        _figure(
            charts.trajectory_with_ci(traj.assign(x=traj.x * 24), "Hours since first dose", f"Mean {instrument}"),
            f"Mean {instrument} in 12-hour bins since the first dose, 95% CI, by modality.",
        )
    )
    early = outcomes.outcomes_table(con, cohort.grouped("modality"), timepoints=[(1, 1), (3, 1), (7, 3)])
    rows = rate_rows(early[early.timepoint != "last"], "response")
    parts.append(
        _figure(
            charts.rates_with_ci(rows, "Response rate"),
            "Response at 24 h, 72 h and day 7 over evaluable clients, Wilson 95% CI.",
        )
    )
    km = outcomes.kaplan_meier_table(con, cohort.grouped("modality"), event="response")
    if len(km):
        km = km.assign(survival=1 - km.survival, ci_low=1 - km.ci_high, ci_high=1 - km.ci_low)
        parts.append(
            _figure(
                charts.km_curve(km, "Share responded (1 − KM)"),
                "Time to first response (Kaplan–Meier), numbers at risk below.",
            )
        )

    parts.append("<h2 id='long-term'>Long-term</h2>")
    traj = outcomes.trajectory(con, cohort.grouped("modality"), bin_days=7, max_day=364)
    parts.append(
        _figure(
            charts.trajectory_with_ci(traj.assign(x=traj.x / 7), "Weeks since first dose", f"Mean {instrument}"),
            f"Mean {instrument} by week since the first dose, 95% CI, by modality.",
        )
    )
    points = [(d, w) for d, w in s.timepoints if d >= 28]
    named = _listed([timepoint_label(f"day_{d:g}") for d, _ in points])
    later = outcomes.outcomes_table(con, cohort.grouped("modality"), timepoints=points)
    later = later[later.timepoint != "last"]
    over = {"response": "evaluable clients", "remission": "evaluable clients not in remission at baseline"}
    for measure in ("response", "remission"):
        parts.append(
            _figure(
                charts.rates_with_ci(rate_rows(later, measure), f"{measure.title()} rate"),
                f"{measure.title()} at {named} over {over[measure]}, Wilson 95% CI.",
            )
        )
    parts += _timepoints_table(con, cohort, points, later, named)
    km = outcomes.kaplan_meier_table(con, cohort.grouped("modality"), event="relapse")
    if len(km):
        parts.append(
            _figure(
                charts.km_curve(km, "Still in response (KM)", x_title="Days since first response"),
                definitions.durability_rule(s),
            )
        )

    parts += _attrition_section(con, cohort, when)

    parts.append("<h2 id='cohort-comparison'>Cohort comparison</h2>")
    pct_fmt = {
        c: _pct for c in ("response_rate", "response_ci_low", "response_ci_high", "response_rate_itt", "remission_rate")
    }
    cnt_fmt = {c: _count for c in ("n_started", "n_evaluable", "n_responders", "n_remission_eligible", "n_remitters")}
    for by in ("modality", "integration"):
        comp = outcomes.outcomes_table(con, cohort.grouped(by), timepoints=[primary])
        comp = comp[comp.timepoint != "last"][
            [
                "group",
                "n_started",
                "n_evaluable",
                "n_responders",
                "response_rate",
                "response_ci_low",
                "response_ci_high",
                "response_rate_itt",
                "n_remission_eligible",
                "n_remitters",
                "remission_rate",
            ]
        ]
        parts.append(f"<h3>By {html.escape(outcomes.GROUP_BY[by].lower())}, {html.escape(when.lower())}</h3>")
        labelled = comp.rename(columns=outcomes.OUTCOME_LABELS)
        formats = {outcomes.OUTCOME_LABELS[c]: f for c, f in (pct_fmt | cnt_fmt).items()}
        parts.append(_table(labelled, formats) if len(comp) else "<p>No clients match these filters.</p>")

    parts.append("<h2 id='clinicians-and-sites'>Clinicians and sites</h2>")
    for by in ("clinician", "site"):
        points, limits, p0 = outcomes.funnel(con, cohort.grouped(by), target_day=primary[0], window_days=primary[1])
        if p0 is not None and len(points):
            parts.append(
                _figure(
                    charts.funnel_plot(points, limits, p0),
                    f"Response at {when.lower()} by {by} against n, with 95% and 99.8% exact "
                    f"binomial limits around the overall rate ({100 * p0:.1f}%). Not a ranking.",
                )
            )
        parts += _adjusted_section(con, cohort.grouped(by), primary, when)

    parts += _alert_quality_section(con, cohort)
    parts.append("<h2 id='methods'>Methods</h2>")
    parts.append(_methods(s, known))
    body = "\n".join(parts)
    doc = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(instrument)} outcomes report</title><style>{CSS}</style>"
        f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head>"
        f"<body>{body}</body></html>"
    )
    return Report(doc, SECTIONS, (datetime.now(UTC) - started).total_seconds())


def _methods(s: Settings, known: dict) -> str:
    items = [
        definitions.course_rule(s),
        definitions.baseline_rule(s),
        definitions.timepoint_rule(s),
        definitions.response_rule(None, s),
        definitions.denominators(s),
        definitions.flow_rule(s),
        definitions.rapid_rule(s),
        definitions.durability_rule(s),
        definitions.safety_rule(),
    ]
    out = ["<ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in items) + "</ul>"]
    rows = pd.DataFrame(
        [
            {
                "Instrument": i.name,
                "Score range": f"{i.min_score:g}–{i.max_score:g}",
                "Remission": i.remission_label or "–",
                "Reliable change": _reliable_change(i),
                "Recall period": f"{i.recall_days} days" if i.recall_days else "–",
                "Severity bands": ", ".join(label for _, label in i.bands) or "none validated",
            }
            for i in known.values()
        ]
    )
    out.append("<h3>Instruments</h3>" + _table(rows, {}))
    out.append(f"<p>Disclosure control: {html.escape(definitions.rounding_rule(s))}</p>")
    versions = {
        p: _version(p) for p in ("duckdb", "streamlit", "plotly", "pandas", "statsmodels", "lifelines", "scipy")
    }
    out.append(
        "<p>Software: ketamine outcomes dashboard "
        + html.escape(__version__)
        + ", Python "
        + html.escape(platform.python_version())
        + ", "
        + ", ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in versions.items())
        + ".</p>"
    )
    return "\n".join(out)


def _reliable_change(i: instruments.Instrument) -> str:
    """The reliable-change threshold with its unit, then where it comes from, in words: '6 points, from the
    instrument registry'; '7.01 points, Jacobson–Truax from SD 8 and reliability 0.9'."""
    if i.reliable_change is None:
        return "–"
    value = f"{i.reliable_change:g} points"
    basis = i.reliable_change_basis or ""
    # the bases instruments.parse writes: "points (registry)" or "Jacobson–Truax, SD <sd>, reliability <r>"
    if basis == "points (registry)":
        return f"{value}, from the instrument registry"
    if basis.startswith("Jacobson–Truax, SD ") and ", reliability " in basis:
        sd, _, r = basis.removeprefix("Jacobson–Truax, SD ").partition(", reliability ")
        return f"{value}, Jacobson–Truax from SD {sd} and reliability {r}"
    return f"{value}, {basis}" if basis else value


def file_name(instrument: str, filters, on: date) -> str:
    """The report's file name: instrument, the cohort in a few words and the day it was made, in letters, digits and
    dashes only: outcomes-report-PHQ-9-modality-iv-infusion-2025-03-04.html. The cohort is cut at a word to at most
    48 characters."""
    cohort = _slug(filters.describe()).lower()
    if len(cohort) > 48:
        cut = cohort[:49]
        cohort = cut.rsplit("-", 1)[0] if "-" in cut else cohort[:48]
    return f"outcomes-report-{_slug(instrument) or 'instrument'}-{cohort or 'cohort'}-{on:%Y-%m-%d}.html"


def _slug(text: str) -> str:
    """Letters (accents dropped) and digits, every other run of characters a single dash."""
    plain = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", plain).strip("-")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def write_pdf(html_path, pdf_path) -> None:
    """Print the HTML report to PDF with Debian's Chromium; a clear error when it is not installed."""
    import shutil
    import subprocess
    from pathlib import Path

    from dashboard.browser_timing import CHROMIUM_ARGS

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError(
            "--pdf needs Chromium: install it (Debian: apt-get install chromium); the HTML report was written"
        )
    subprocess.run(
        [
            chromium,
            *CHROMIUM_ARGS,
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=15000",
            "--no-pdf-header-footer",
            f"--print-to-pdf={Path(pdf_path).resolve()}",
            Path(html_path).resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
