"""Every figure the engine, the CLI and the report produce, on the demo and on the hand-worked fixture, as one
JSON-able dict: the before/after comparison kept for refactors (tests/test_figures_unchanged.py).

    python -m tests.figures write   # record tests/fixtures/figures.json.gz from the code as it is now
    python -m tests.figures diff    # compare the code as it is now with the recorded figures

Record only from a commit whose figures are known good (they were, when the file was first written, the figures
of the code before the cohort redesign); a refactor must leave them unchanged."""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd

RECORD = Path(__file__).resolve().parent / "fixtures" / "figures.json.gz"


def _clean(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 9)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _frame(frame) -> list:
    if isinstance(frame, tuple):
        return [_frame(f) if isinstance(f, pd.DataFrame) else _clean(f) for f in frame]
    frame = frame.astype(object).where(frame.notna(), None)
    return _clean(frame.to_dict(orient="records"))


def _filter_sets(con) -> dict:
    """A spread of cohorts: everyone, subsets of each filter, a period, a minimum baseline, a focus."""
    from dashboard.outcomes import Filters

    def values(column):
        return [
            r[0]
            for r in con.execute(f"select distinct {column} from courses where course_no = 1 order by 1").fetchall()
        ]

    months = values("cohort_month")
    clinicians = values("clinician_id")
    sets = {
        "all": Filters(),
        "first_two_modalities": Filters(modalities=tuple(values("modality")[:2])),
        "integration": Filters(integration=True),
        "no_integration": Filters(integration=False),
        "one_site": Filters(sites=tuple(values("site")[:1])),
        "one_condition": Filters(conditions=tuple(values("condition")[:1])),
        "min_baseline_15": Filters(min_baseline=15.0),
        "nothing_selected": Filters(modalities=()),
    }
    if len(months) > 2:
        sets["period"] = Filters(cohort_from=months[1], cohort_to=months[-2])
    if clinicians:
        sets["focus"] = Filters(focus=clinicians[0])
        sets["two_clinicians"] = Filters(clinicians=tuple(clinicians[:2]))
    return sets


def collect(con) -> dict:
    """The figures of one database."""
    from dashboard import outcomes as o
    from dashboard.cohort import Cohort

    out: dict = {}
    instruments = [r[0] for r in con.execute("select distinct instrument from client_outcomes order by 1").fetchall()]
    sets = _filter_sets(con)
    everyone = sets["all"]
    for inst in instruments:
        for by in o.GROUP_BY:
            f = sets["focus"] if by == "clinician_vs_rest" and "focus" in sets else everyone
            out[f"outcomes|{inst}|{by}"] = _frame(o.outcomes_table(con, Cohort(inst, f, by)))
            out[f"outcomes_k0|{inst}|{by}"] = _frame(o.outcomes_table(con, Cohort(inst, f, by), min_cell=0))
        out[f"outcomes_custom|{inst}"] = _frame(
            o.outcomes_table(
                con, Cohort(inst, everyone, "modality"), timepoints=[(14, 4), (56, 7), (28, 3)], min_cell=0
            )
        )
        for name, f in sets.items():
            key = f"{inst}|{name}"
            c = Cohort(inst, f, "modality")
            out[f"outcomes_f|{key}"] = _frame(o.outcomes_table(con, c, min_cell=0))
            out[f"flow|{key}"] = _frame(o.flow_table(con, c, min_cell=0))
            out[f"flow_custom|{key}"] = _frame(
                o.flow_table(con, c.grouped("none"), target_day=56, window_days=7, min_cell=0)
            )
            for event in ("response", "relapse"):
                out[f"km_{event}|{key}"] = _frame(o.kaplan_meier_table(con, c, event=event, min_cell=0))
            for bins in (0.5, 7.0):
                for measure in ("score", "pct_change"):
                    out[f"traj_{bins}_{measure}|{key}"] = _frame(
                        o.trajectory(con, c, bin_days=bins, measure=measure, min_cell=0)
                    )
            out[f"dose|{key}"] = _frame(o.improvement_by_dose(con, c, min_cell=0))
            out[f"bands|{key}"] = _frame(o.band_transitions(con, c, 28, 7, min_cell=0))
            out[f"bands_custom|{key}"] = _frame(o.band_transitions(con, c, 56, 7, min_cell=0))
            out[f"doses_to_response|{key}"] = _frame(o.doses_to_response(con, c, min_cell=0))
            out[f"si|{key}"] = _frame(o.suicidal_ideation(con, c, min_cell=0))
        for by in ("clinician", "site"):
            out[f"funnel|{inst}|{by}"] = _frame(o.funnel(con, Cohort(inst, everyone, by), 28, 7))
        out[f"dose_k|{inst}"] = _frame(o.improvement_by_dose(con, Cohort(inst)))
        out[f"km_k|{inst}"] = _frame(o.kaplan_meier_table(con, Cohort(inst, everyone, "modality")))
        out[f"traj_k|{inst}"] = _frame(o.trajectory(con, Cohort(inst, everyone, "modality")))
    for name, f in sets.items():
        out[f"maintenance|{name}"] = _frame(o.maintenance_by_week(con, Cohort(None, f), min_cell=0))
    return out


def _cli(db: Path) -> dict:
    from dashboard import cli

    runs = {
        "phq9_modality": ["outcomes", "--instrument", "PHQ-9"],
        "phq9_site_json": ["outcomes", "--instrument", "PHQ-9", "--by", "site", "--format", "json"],
        "phq9_custom": ["outcomes", "--instrument", "PHQ-9", "--at-days", "14:4,56", "--min-cell", "0"],
        "phq9_filtered": [
            "outcomes",
            "--instrument",
            "PHQ-9",
            "--integration",
            "yes",
            "--min-baseline",
            "10",
            "--by",
            "condition",
            "--min-cell",
            "0",
        ],
    }
    out = {}
    for name, argv in runs.items():
        buf = io.StringIO()
        with redirect_stdout(buf):
            code = cli.main([*argv, "--exact", "--db", str(db)])
        out[f"cli|{name}"] = [code, buf.getvalue()]
    # recorded before outputs to share were rounded: the engine's exact figures (--exact)
    return out


def _report(con) -> dict:
    """The report's text (numbers and words, without markup, embedded images or the time it was made)."""
    from dashboard import report
    from dashboard.cohort import Cohort

    html = report.build(con, Cohort("PHQ-9")).html
    html = re.sub(r"<script.*?</script>|<style.*?</style>|data:[^\"')]+", "", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", html)
    text = re.sub(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\b", "<time>", text)
    text = re.sub(r"\(\d+(\.\d+)? s\)|\d+(\.\d+)? s to build", "<seconds>", text)
    # the software's versions are not figures (an upgrade of a library must not read as a change of results)
    text = re.sub(r"Software: .*?\d\.(?=\s|$)", "Software: <versions>.", text)
    return {"report|PHQ-9": re.sub(r"\s+", " ", text).strip()}


def _fixture_db(directory: Path) -> Path:
    """The hand-worked twelve-client fixture of tests/test_outcomes.py, imported through the normal path."""
    from dashboard import derive, store
    from dashboard.ingest import import_files
    from tests import test_outcomes as t

    sessions, scores = [], []
    for cid, (modality, doses, points, integration) in t.CLIENTS.items():
        sessions += [
            {
                "client_id": cid,
                "session_at": t._at(d),
                "session_type": "dosing",
                "modality": modality,
                "clinician_id": "CL1" if cid < "G" else "CL2",
                "site": "North",
            }
            for d in doses
        ]
        sessions += [
            {"client_id": cid, "session_at": t._at(d + 0.25), "session_type": "integration"} for d in integration
        ]
        for day, score, item9 in points:
            row = {"client_id": cid, "assessed_at": t._at(day), "instrument": "PHQ-9", "score": score}
            if item9 is not None:
                row |= {f"item_{i + 1}": v for i, v in enumerate(t._items(score, item9))}
            scores.append(row)
    pd.DataFrame(sessions).to_csv(directory / "sessions.csv", index=False)
    pd.DataFrame(scores).to_csv(directory / "scores.csv", index=False)
    path = directory / "fixture.duckdb"
    con = store.connect(path)
    try:
        import_files(con, [directory / "sessions.csv", directory / "scores.csv"], after_import=derive.rebuild)
    finally:
        con.close()
    return path


def everything(demo_db: Path | None = None) -> dict:
    """The figures of the demo (built here unless given) and of the fixture."""
    from dashboard import store
    from dashboard.demo import build_demo

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if demo_db is None:
            demo_db = tmp / "demo.duckdb"
            build_demo(demo_db)
        for name, db in (("demo", demo_db), ("fixture", _fixture_db(tmp))):
            con = store.connect(db, read_only=True)
            try:
                figures = collect(con) | (_report(con) if name == "demo" else {})
            finally:
                con.close()
            figures |= _cli(db)
            out |= {f"{name}|{k}": v for k, v in figures.items()}
    return out


def recorded() -> dict:
    with gzip.open(RECORD, "rt", encoding="utf-8") as f:
        return json.load(f)


def differences(now: dict, before: dict) -> list[str]:
    keys = sorted(set(now) | set(before))
    return [k for k in keys if now.get(k, "<missing>") != before.get(k, "<missing>")]


def main(argv: list[str]) -> int:
    now = everything()
    if argv[:1] == ["write"]:
        RECORD.parent.mkdir(exist_ok=True)
        with gzip.open(RECORD, "wt", encoding="utf-8") as f:
            json.dump(now, f, sort_keys=True)
        print(f"recorded {len(now):,} figures in {RECORD}")
        return 0
    diff = differences(now, recorded())
    print(f"{len(now):,} figures; {len(diff):,} differ" + "".join(f"\n  {k}" for k in diff[:50]))
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
