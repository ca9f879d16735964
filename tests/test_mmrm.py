"""The trial-matched estimate (issue 17, part 5) on simulated data with a known truth: every client's expected
change from baseline is -6 at 24 h, -7 at day 7 and -8 at week 4; clients who improved less by day 7 are more likely
to drop out before week 4 (missing at random). The completers' mean at week 4 is then too good; the mixed model for
repeated measures recovers the truth, as the trials' estimand does."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import cli, outcomes, stats, store
from dashboard.cohort import Cohort, OutcomeError

TRUE_CHANGE = {1: -6.0, 7: -7.0, 28: -8.0}


def simulate(folder: Path, n: int = 500, seed: int = 5) -> Path:
    rng = random.Random(seed)
    sessions = ["client_id,session_at,session_type,modality"]
    scores = ["client_id,assessed_at,instrument,score"]
    for i in range(n):
        cid = f"M{i}"
        for d in range(4):
            sessions.append(f"{cid},2025-03-{3 + 3 * d:02d}T09:00,dosing,IV")
        baseline = min(26, round(rng.gauss(20, 2.5)))
        own = rng.gauss(0, 2.5)  # the client's own level, shared by all their visits (compound symmetry)
        scores.append(f"{cid},2025-03-02T09:00,PHQ-9,{baseline}")
        change7 = None
        for day, stamp in ((1, "2025-03-04T09:00"), (7, "2025-03-10T09:00"), (28, "2025-03-31T09:00")):
            change = TRUE_CHANGE[day] + own + rng.gauss(0, 1.5)
            if day == 28 and change7 is not None and change7 > -7 and rng.random() < 0.75:
                break  # less improved by day 7: mostly gone by week 4
            scores.append(f"{cid},{stamp},PHQ-9,{min(27, max(0, round(baseline + change)))}")
            if day == 7:
                change7 = change
    (folder / "sessions.csv").write_text("\n".join(sessions) + "\n")
    (folder / "scores.csv").write_text("\n".join(scores) + "\n")
    db = folder / "mmrm.duckdb"
    assert cli.main(["import", str(folder / "sessions.csv"), str(folder / "scores.csv"), "--db", str(db)]) == 0
    return db


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("mmrm"))


def test_the_mixed_model_recovers_the_truth_the_completers_miss(sim):
    con = store.connect(sim, read_only=True)
    try:
        [row] = outcomes.mmrm(con, Cohort("PHQ-9"), min_cell=0).to_dict("records")
    finally:
        con.close()
    assert row["n_started"] == row["n_in_model"] == 500
    assert 250 < row["n_completers"] < 400  # dropout happened
    # completers: biased towards improvement (those who stayed had improved more)
    assert row["completer_change"] < TRUE_CHANGE[28] - 0.7
    assert row["completer_ci_high"] < TRUE_CHANGE[28]
    # the mixed model: the true -8 inside its interval, and much nearer than the completers' mean
    assert row["mmrm_ci_low"] < TRUE_CHANGE[28] < row["mmrm_ci_high"]
    assert abs(row["mmrm_change"] - TRUE_CHANGE[28]) < abs(row["completer_change"] - TRUE_CHANGE[28]) / 2


def test_hand_worked_balanced_fit():
    """Four clients, two visits, every score present, centred baselines -3, -1, 1, 3; changes A (-2, -4),
    B (-5, -5), C (-4, -8), D (-9, -11). Balanced data with a covariate constant within a client: REML equals the
    ANOVA estimates. Visit means -5 and -7; slope = sum b (client mean - grand mean) / sum b^2 = -22/20 = -1.1;
    within-client residual SS 4 on 3 df, sigma2 = 4/3; between-client residual SS 2 x 1.8 = 3.6 on 2 df, mean
    square 1.8 = sigma2 + 2 tau2, tau2 = 7/30; var(visit mean) = (sigma2 + tau2)/4 = 47/120; var(slope) =
    (tau2 + sigma2/2)/20 = 0.045."""
    patterns = pd.DataFrame(
        [
            {
                "n_visits": 2,
                "clients": 4,
                "sum_b": 0.0,
                "sum_bb": 20.0,
                "sum_t": -48.0,
                "sum_tt": 680.0,
                "sum_bt": -44.0,
                "sum_yy": 352.0,
                "bits": [0, 1],
                "visit_sum_y": [-20.0, -28.0],
                "visit_sum_yy": [126.0, 226.0],
            }
        ]
    )
    fit = stats.compound_symmetry_reml(patterns)
    assert fit.beta == pytest.approx([-5.0, -7.0, -1.1], abs=1e-9)
    assert fit.sigma2 == pytest.approx(4 / 3, abs=1e-6)
    assert fit.tau2 == pytest.approx(7 / 30, abs=1e-6)
    assert np.diag(fit.cov) == pytest.approx([47 / 120, 47 / 120, 0.045], abs=1e-6)
    assert (fit.clients, fit.scores) == (4, 8)


def test_the_fit_is_statsmodels_mixedlm(sim):
    """The same model fitted by statsmodels MixedLM on the client-level rows: the same estimate and variance
    components; the interval's standard error is the GLS one, sigma2 (X'V^-1 X)^-1, recomputed here row by row
    from statsmodels' variance components."""
    import warnings

    import statsmodels.formula.api as smf

    con = store.connect(sim, read_only=True)
    try:
        [row] = outcomes.mmrm(con, Cohort("PHQ-9"), min_cell=0).to_dict("records")
        rows = con.execute(
            "select client_id, baseline, target_day as visit, score - baseline as change from timepoint_scores "
            "where instrument = 'PHQ-9' and (target_day, window_days) in ((1, 1), (7, 3), (28, 7))"
        ).df()
    finally:
        con.close()
    centre = rows.groupby("client_id").baseline.first().mean()
    data = rows.assign(visit=rows.visit.map(lambda v: f"{v:g}"), baseline_c=rows.baseline - centre)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm(
            "change ~ C(visit, Treatment(reference='28')) + baseline_c", data, groups=data["client_id"]
        ).fit(reml=True)
    assert row["mmrm_change"] == pytest.approx(fit.params["Intercept"], abs=1e-5)
    sigma2, tau2 = fit.scale, float(fit.cov_re.iloc[0, 0])
    x = fit.model.exog
    xvx = np.zeros((x.shape[1], x.shape[1]))
    for ix in data.groupby("client_id").indices.values():
        v = sigma2 * np.eye(len(ix)) + tau2
        xvx += x[ix].T @ np.linalg.solve(v, x[ix])
    se = float(np.sqrt(np.linalg.inv(xvx)[0, 0]))
    assert (row["mmrm_ci_high"] - row["mmrm_ci_low"]) / (2 * 1.96) == pytest.approx(se, rel=1e-4)


def test_rounded_and_messages(sim):
    con = store.connect(sim, read_only=True)
    try:
        rounded = outcomes.mmrm(con, Cohort("PHQ-9", rounded=True))
        with pytest.raises(OutcomeError, match="standard timepoint"):
            outcomes.mmrm(con, Cohort("PHQ-9"), target_day=30)
    finally:
        con.close()
    row = rounded.iloc[0]
    assert row.n_in_model % 5 == 0 and row.n_completers % 5 == 0
    assert round(row.mmrm_change, 1) == row.mmrm_change


def test_the_command_line_prints_it(sim, capsys):
    assert cli.main(["estimand", "--instrument", "PHQ-9", "--by", "none", "--db", str(sim), "--exact"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "group,n_started,n_in_model,n_completers,completer_change,completer_ci_low,completer_ci_high,mmrm_change,"
        "mmrm_ci_low,mmrm_ci_high,suppressed"
    )
    assert out[1].startswith("all,500,500,")


def test_the_compare_page_shows_it(sim, app_page):
    at = app_page("compare", sim)
    at.toggle(key="compare_mmrm").set_value(True).run()
    assert not at.exception, [e.stack_trace for e in at.exception]
    [frame] = [d.value for d in at.dataframe if "mmrm_change" in d.value.columns]
    assert frame.mmrm_change.iloc[0] == pytest.approx(-7.9, abs=0.05)  # rounded on screen
