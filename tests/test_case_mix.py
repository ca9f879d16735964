"""Case-mix-adjusted comparison (issue 17, part 4) on simulated data whose truth is known: response depends on the
baseline score alone. Two clinicians with the same true effect but different severity differ crudely and not once
adjusted; a third, with a real extra effect, stays apart after adjustment. Rounded output follows the disclosure
rules."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pytest

from dashboard import cli, outcomes, store
from dashboard.cohort import Cohort, OutcomeError


def truth(baseline: float, boost: float = 0.0) -> float:
    """The true probability of response at week 4: lower for more severe clients."""
    return 1 / (1 + math.exp(-(3.2 - 0.2 * baseline + boost)))


def simulate(folder: Path, seed: int = 17) -> Path:
    rng = random.Random(seed)
    clients, sessions, scores = (
        ["client_id,condition,age_band"],
        ["client_id,session_at,session_type,modality,clinician_id"],
        ["client_id,assessed_at,instrument,score"],
    )
    plan = [("SEVERE", 400, (17, 27), 0.0), ("MILD", 400, (6, 16), 0.0), ("BETTER", 400, (6, 16), 1.5)]
    for clinician, n, (lo, hi), boost in plan:
        for i in range(n):
            cid = f"{clinician}{i}"
            clients.append(f"{cid},{rng.choice(['MDD', 'PTSD'])},{rng.choice(['18-34', '35-54', '55+'])}")
            for d in range(4):
                sessions.append(f"{cid},2025-03-{3 + 3 * d:02d}T09:00,dosing,IV,{clinician}")
            baseline = rng.randint(lo, hi)
            responded = rng.random() < truth(baseline, boost)
            later = math.floor(baseline * 0.3) if responded else math.ceil(baseline * 0.8)
            scores.append(f"{cid},2025-03-01,PHQ-9,{baseline}")
            scores.append(f"{cid},2025-03-31T09:00,PHQ-9,{later}")
    for name, lines in (("clients", clients), ("sessions", sessions), ("scores", scores)):
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    db = folder / "sim.duckdb"
    files = [str(folder / f"{n}.csv") for n in ("clients", "sessions", "scores")]
    assert cli.main(["import", *files, "--db", str(db)]) == 0
    return db


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("casemix"))


def test_adjustment_removes_a_difference_that_is_only_case_mix_and_keeps_a_real_one(sim):
    con = store.connect(sim, read_only=True)
    try:
        table, model = outcomes.adjusted(con, Cohort("PHQ-9", by="clinician"), min_cell=0)
    finally:
        con.close()
    rows = table.set_index("group")
    severe, mild, better = rows.loc["SEVERE"], rows.loc["MILD"], rows.loc["BETTER"]
    # crude: the severe caseload looks worse than the mild one, by far
    assert severe.crude_rate < mild.crude_rate - 0.15
    assert severe.crude_ci_high < mild.crude_ci_low
    # adjusted: the two with the same true effect are each compatible with the clinic's expectation ...
    expected_oe = {}
    for name, r in (("SEVERE", severe), ("MILD", mild)):
        assert r.oe_ci_low < 1.0 < r.oe_ci_high or abs(r.oe - 1) < 0.1, (name, r.oe, r.oe_ci_low, r.oe_ci_high)
        expected_oe[name] = r.oe
    # ... and with each other: their O/E intervals overlap, and the adjusted rates are close
    assert severe.oe_ci_high > mild.oe_ci_low and mild.oe_ci_high > severe.oe_ci_low
    assert abs(severe.adjusted_rate - mild.adjusted_rate) < abs(severe.crude_rate - mild.crude_rate) / 2
    # the clinician with a real extra effect stays apart: above what the clinic's model expects for their clients
    assert better.oe_ci_low > mild.oe_ci_high or better.oe_ci_low > 1.0
    assert better.adjusted_rate > mild.adjusted_rate + 0.1
    # observed = responders counted, expected = sum of predicted probabilities; the same totals for the clinic
    assert int(table.observed.sum()) == model["n_responders"] and int(table.n.sum()) == model["n_clients"] == 1200
    assert table.expected.sum() == pytest.approx(model["n_responders"], rel=1e-6)
    assert model["variables"] == ["baseline", "condition", "prior_treatments_band", "age_band"]


def test_rounded_output_follows_the_disclosure_rules(sim):
    con = store.connect(sim, read_only=True)
    try:
        table, model = outcomes.adjusted(con, Cohort("PHQ-9", by="clinician", rounded=True))
        small, _ = outcomes.adjusted(con, Cohort("PHQ-9", by="clinician", rounded=True).where(clinicians=["SEVERE"]))
    finally:
        con.close()
    assert all(v % 5 == 0 for v in table.n) and all(v % 5 == 0 for v in table.observed)
    assert model["n_clients"] % 5 == 0
    assert all(round(v, 2) == v for v in table.crude_rate)
    assert list(small.group) == ["SEVERE"]


def test_too_little_data_is_a_message(tmp_path):
    db = tmp_path / "tiny.duckdb"
    (tmp_path / "s.csv").write_text("client_id,session_at,session_type,modality\nA,2025-03-03,dosing,IV\n")
    (tmp_path / "c.csv").write_text(
        "client_id,assessed_at,instrument,score\nA,2025-03-01,PHQ-9,20\nA,2025-03-31,PHQ-9,5\n"
    )
    assert cli.main(["import", str(tmp_path / "s.csv"), str(tmp_path / "c.csv"), "--db", str(db)]) == 0
    con = store.connect(db, read_only=True)
    try:
        with pytest.raises(OutcomeError, match="at least 20 responders and 20 non-responders"):
            outcomes.adjusted(con, Cohort("PHQ-9", by="clinician"))
        with pytest.raises(OutcomeError, match="precomputed timepoint"):
            outcomes.adjusted(con, Cohort("PHQ-9"), target_day=30, window_days=2)
    finally:
        con.close()


def test_the_command_line_prints_both_and_says_what_the_model_covers(sim, capsys):
    assert cli.main(["adjusted", "--instrument", "phq9", "--by", "clinician", "--db", str(sim)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("group,n,observed,expected,crude_rate,crude_ci_low,crude_ci_high,oe,oe_ci_low")
    assert [line.split(",")[0] for line in lines[1:]] == ["BETTER", "MILD", "SEVERE"]
    assert "on baseline, condition, prior_treatments_band, age_band" in err
    assert "adjustment covers only what was measured" in err


def test_the_compare_page_shows_both(sim, app_page):
    import json

    at = app_page("compare", sim)
    at.selectbox(key="compare_by").set_value("site").run()  # every client has no site: one group
    at.toggle(key="compare_adjusted").set_value(True).run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    drawn = json.dumps(spec["data"])
    assert "Crude" in drawn and "Adjusted for case mix" in drawn, drawn[:500]
    assert any("Adjustment covers only what was measured" in c.value for c in at.caption)


def test_the_report_has_the_adjusted_comparison(sim):
    from dashboard import report

    con = store.connect(sim, read_only=True)
    try:
        html = report.build(con, Cohort("PHQ-9")).html
    finally:
        con.close()
    assert "Response at week 4 by clinician, adjusted for case mix" in html
    # rounded counts, as everywhere in the report (number cells carry their right-alignment class)
    assert re.search(r"<td>SEVERE</td><td[^>]*>400</td><td[^>]*>100</td>", html), html[:200]
    assert "Adjustment covers only what was measured" in html


def test_the_funnel_of_observed_over_expected(sim, app_page):
    import json

    from dashboard import stats

    at = app_page("clinicians_sites", sim)
    at.toggle(key="funnel_adjusted").set_value(True).run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    points = [t for t in spec["data"] if t.get("legendgroup") == "points"]  # one trace per band against the limits
    hover = " ".join(h for t in points for h in t["hovertext"])
    assert all(f"<b>{g}</b>" in hover for g in ("BETTER", "MILD", "SEVERE"))
    assert any(t.get("name") == "Expected (O/E = 1)" for t in spec["data"])
    assert "BETTER</b><br>Observed / expected responders: 1.10<br>expected 328.0" in hover and "limit" in hover
    # limits: Poisson, around 1, narrowing as E grows
    lim = stats.ratio_funnel_limits(300)
    assert (lim["lower_0.95"] <= 1).all() and (lim["upper_0.95"] >= 1).all()
    assert (
        lim["upper_0.998"].iloc[-1] - lim["lower_0.998"].iloc[-1]
        < lim["upper_0.998"].iloc[5] - lim["lower_0.998"].iloc[5]
    )
