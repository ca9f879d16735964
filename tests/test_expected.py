"""Expected response and off-track alerts (issue 17, parts 1 and 3) on simulated data with a known truth: each
client's score at day t is baseline x (1 - 0.45 x log(1 + t) / log(29)) plus normal noise (SD 2), so the true
upper quartile is that mean + 0.674 x 2. The out-of-sample band covers the truth; a client built to be off track is
flagged, one on track is not; the alert's PPV and sensitivity are computed on known flags."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from dashboard import cli, expected, store
from dashboard.cohort import Cohort, OutcomeError

DAYS = (1, 3, 7, 10, 14, 21, 28)
START = "2025-03-03T09:00"


def mean(baseline: float, day: float) -> float:
    return baseline * (1 - 0.45 * math.log1p(day) / math.log(29))


def stamp(day: float) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(START) + timedelta(days=day, minutes=30)).strftime("%Y-%m-%dT%H:%M")


PTSD_SHIFT = 3.0  # PTSD clients' scores run this much above the others' at every follow-up day


def simulate(folder: Path, n: int = 400, seed: int = 11, ptsd: int = 0, rare: int = 0) -> Path:
    """n ordinary clients (condition MDD), then `ptsd` PTSD clients whose scores are PTSD_SHIFT higher, `rare` OCD
    clients (the same course as MDD), and two built clients: OFFTRACK (no improvement) and ONTRACK (the mean)."""
    rng = random.Random(seed)
    clients = ["client_id,condition"]
    sessions = ["client_id,session_at,session_type,modality"]
    scores = ["client_id,assessed_at,instrument,score"]
    plan = [(f"C{i}", None) for i in range(n)] + [(f"P{i}", None) for i in range(ptsd)]
    plan += [(f"R{i}", None) for i in range(rare)] + [("OFFTRACK", "stuck"), ("ONTRACK", "mean")]
    for cid, kind in plan:
        clients.append(f"{cid},{ {'P': 'PTSD', 'R': 'OCD'}.get(cid[0], 'MDD') }")
        shift = PTSD_SHIFT if cid.startswith("P") else 0.0
        for d in (0, 2, 4, 6, 9, 12):  # six doses in the first two weeks
            sessions.append(f"{cid},{stamp(d - 0.02)},dosing,IV")
        baseline = 20 if kind else rng.randint(14, 26)
        scores.append(f"{cid},{stamp(-1)},PHQ-9,{baseline}")
        for day in DAYS:
            if kind == "stuck":
                value = baseline  # no improvement at all
            elif kind == "mean":
                value = round(mean(baseline, day))
            else:
                value = round(mean(baseline, day) + shift + rng.gauss(0, 2))
            scores.append(f"{cid},{stamp(day)},PHQ-9,{min(27, max(0, value))}")
    for name, lines in (("clients", clients), ("sessions", sessions), ("scores", scores)):
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    db = folder / "expected.duckdb"
    files = [str(folder / f"{name}.csv") for name in ("clients", "sessions", "scores")]
    assert cli.main(["import", *files, "--db", str(db)]) == 0
    return db


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("expected"))


def test_the_band_covers_the_truth_and_flags_the_right_clients(sim):
    con = store.connect(sim, read_only=True)
    try:
        b = expected.bands(con, Cohort("PHQ-9"))
        flagged = expected.off_track(con, Cohort("PHQ-9"))
    finally:
        con.close()
    assert b.expected.notna().all()
    # the fitted upper quartile against the true one, for ordinary clients: close on average at every day
    ordinary = b[b.client_id.str.startswith("C")]
    for day in (1, 7, 14, 28):
        at = ordinary[(ordinary.day - day).abs() < 0.1]
        truth = at.baseline.map(lambda x, d=day: mean(x, d) + 0.674 * 2)
        assert abs((at.expected - truth).mean()) < 0.6, day
    # about a quarter of ordinary scores after the second dose lie above the band (out of sample)
    after = ordinary[ordinary.doses_before >= 2]
    assert 0.18 < after.off_track.mean() < 0.32
    ids = set(flagged.client_id)
    assert "OFFTRACK" in ids and "ONTRACK" not in ids
    top = flagged.set_index("client_id").loc["OFFTRACK"]
    assert top.reason.startswith("score 20 at dose 6") and "expected ≤" in top.reason
    assert flagged.excess.is_monotonic_decreasing


def test_alert_quality_is_computed_on_the_flags(sim):
    con = store.connect(sim, read_only=True)
    try:
        q = expected.alert_quality(con, Cohort("PHQ-9"), min_cell=0)
        b = expected.bands(con, Cohort("PHQ-9"))
    finally:
        con.close()
    window = b[(b.doses_before >= 2) & ((b.doses_before <= 4) | (b.day <= 14))]
    per = window.groupby("client_id").agg(f=("off_track", "any"), r=("responded_primary", "first")).dropna()
    flagged, non = per.f.astype(bool), ~per.r.astype(bool)
    ppv, sens = q.set_index("measure").rate
    assert ppv == pytest.approx((flagged & non).sum() / flagged.sum())
    assert sens == pytest.approx((flagged & non).sum() / non.sum())
    assert (q.ci_low <= q.rate).all() and (q.rate <= q.ci_high).all()


def test_a_condition_with_enough_clients_gets_its_own_term(tmp_path):
    """300 PTSD clients run 3 points above 400 MDD clients: PTSD gets a term near +3 and its clients' band is about
    3 higher than an MDD client's of the same baseline and day; 40 OCD clients (fewer than expected_min_clients,
    100) get no term and share the most common condition's (MDD's) band."""
    db = simulate(tmp_path, n=400, ptsd=300, rare=40)
    con = store.connect(db, read_only=True)
    try:
        model = expected.fit(con, Cohort("PHQ-9"))
        b = expected.bands(con, Cohort("PHQ-9"), model)
    finally:
        con.close()
    assert model.conditions == ("PTSD",)
    effects = [t["effect"] for t in model.condition_terms]
    assert len(effects) == expected.FOLDS
    assert all(abs(e - PTSD_SHIFT) < 0.6 for e in effects), effects
    at = b[(b.baseline == 20) & ((b.day - 7).abs() < 0.1)].groupby("condition").expected.mean()
    assert at["PTSD"] - at["MDD"] == pytest.approx(PTSD_SHIFT, abs=0.6)
    assert at["OCD"] == pytest.approx(at["MDD"], abs=0.3)  # no term of its own: MDD's line (folds differ a little)


def test_the_models_are_the_whole_clinics_whatever_the_filters(sim):
    """A filtered cohort gets the same models (fitted on every client) and its own clients' bands from them; the
    fold the SQL computes for a client is the one dashboard.expected._fold gives."""
    from dashboard.cohort import Filters
    from dashboard.queries import run

    con = store.connect(sim, read_only=True)
    try:
        whole = expected.fit(con, Cohort("PHQ-9"))
        narrow = Cohort("PHQ-9", Filters(min_baseline=22))
        assert expected.fit(con, narrow) == whole
        b = expected.bands(con, narrow, whole)
        rows = run(
            con,
            "views/expected_training",
            cohort=Cohort("PHQ-9").sql(),
            max_day=expected.EXPECTED_MAX_DAY,
            folds=expected.FOLDS,
            sample_clients=100_000,
        )
    finally:
        con.close()
    assert len(b) and (b.baseline >= 22).all()
    assert rows.client_id.nunique() == 402
    assert all(expected._fold(c) == f for c, f in zip(rows.client_id, rows.fold, strict=True))


def test_too_little_history_is_a_message(tmp_path):
    db = simulate(tmp_path, n=30)
    con = store.connect(db, read_only=True)
    try:
        with pytest.raises(OutcomeError, match="too little history"):
            expected.alert_quality(con, Cohort("PHQ-9"))
    finally:
        con.close()


def test_the_command_line_prints_quality_and_the_off_track_list(sim, capsys):
    assert cli.main(["alerts", "--instrument", "PHQ-9", "--db", str(sim)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "measure,numerator,denominator,rate,ci_low,ci_high,suppressed"
    ppv = out[1].split(",")
    assert ppv[0].startswith("PPV") and int(ppv[1]) % 5 == 0 and len(ppv[3]) <= 4  # rounded: counts and rates
    assert cli.main(["alerts", "--instrument", "PHQ-9", "--db", str(sim), "--table", "off-track"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].startswith("OFFTRACK,")
    assert "for use inside the clinic only" in captured.err


def test_my_cohort_lists_off_track_clients_with_the_reason_and_a_link(sim, app_page):
    at = app_page("my_cohort", sim, {"my_section": "Off track"})
    [table] = [d.value for d in at.dataframe if "reason" in d.value.columns and "excess" in d.value.columns]
    assert table.client_id.iloc[0] == "OFFTRACK", table.head(3).to_dict()
    assert table.reason.iloc[0].startswith("score 20 at dose 6")
    assert table.link.iloc[0] == "/client-timeline?client=OFFTRACK"
    assert "ONTRACK" not in set(table.client_id)


def test_the_timeline_draws_the_band_and_says_off_track(sim, app_page):
    import json

    at = app_page("client_timeline", sim, {"client": "OFFTRACK"})
    assert at.selectbox(key="timeline_client").value == "OFFTRACK"
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(str(t.get("name", "")).startswith("Expected ≤") for t in spec["data"])
    assert any("Off track: score 20 at dose 6" in w.value for w in at.warning)


def test_the_report_and_my_cohort_show_the_alerts_quality(sim, app_page):
    from dashboard import report

    con = store.connect(sim, read_only=True)
    try:
        html = report.build(con, Cohort("PHQ-9")).html
    finally:
        con.close()
    assert "Off-track alerts: are they worth acting on?" in html and "PPV: flagged who did not respond" in html
    assert "OFFTRACK" not in html  # no client ids in the report
    at = app_page("my_cohort", sim, {"my_section": "Off track"})
    [q] = [d.value for d in at.dataframe if "measure" in d.value.columns]
    assert list(q.measure) == ["PPV: flagged who did not respond", "Sensitivity: non-responders flagged"]


def test_the_app_fits_once_and_a_filter_change_reuses_the_models(sim, app_page, monkeypatch):
    """My cohort fits the expected course once; a sidebar filter change applies the cached models (no refit) and
    still lists the off-track client."""
    fits = []
    real = expected.fit
    monkeypatch.setattr(expected, "fit", lambda con, cohort: fits.append(cohort.filters) or real(con, cohort))
    at = app_page("my_cohort", sim, {"my_section": "Off track"})
    assert len(fits) == 1
    at.number_input(key="f_min_baseline").set_value(15.0).run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    assert len(fits) == 1
    [table] = [d.value for d in at.dataframe if "reason" in d.value.columns and "excess" in d.value.columns]
    assert table.client_id.iloc[0] == "OFFTRACK"
