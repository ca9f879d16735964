"""The outcome engine against a hand-worked fixture of twelve clients (every figure below was worked out by
hand from the fixture, not taken from the code's output)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd
import pytest

from dashboard import derive, store
from dashboard.ingest import import_files
from dashboard.outcomes import Cohort, Filters, OutcomeError, flow_table, kaplan_meier_table, outcomes_table
from dashboard.settings import Settings

T0 = datetime(2025, 1, 6, 9, 0)  # every client's first dose, day 0
IV, IM, SL, ESK = "IV infusion", "IM injection", "Sublingual / troche", "Intranasal esketamine"

# client: (modality, dose days, [(day, PHQ-9 score, item 9 or None)], integration session days)
CLIENTS = {
    # responder at week 4; SI at baseline (item 9 = 1) resolved by the last score; early improvement after dose 2
    "A": (IV, [0, 2, 4, 7, 9, 11], [(-2, 20, 1), (3, 14, None), (28, 8, None), (56, 6, 0)], [1, 5]),
    # rapid responder at 24 h (exactly -50%), then relapse: days 30 and 40 both under a 50% reduction, 10 days apart
    "B": (IV, [0, 2, 4, 7], [(-1, 18, None), (1, 9, None), (30, 10, None), (40, 11, None)], []),
    # baseline of 0: not eligible for response, left out of n_started
    "C": (IV, [0, 2, 4, 7], [(-1, 0, None), (28, 3, None)], []),
    # remitted at baseline (4 <= 4): eligible for response (-50% at day 28), not for remission
    "D": (IV, [0, 2, 4, 7], [(-1, 4, None), (28, 2, None)], []),
    # baseline exactly at the dose time; follow-up exactly at the window edge (day 35): responder and remitter
    "E": (IM, [0, 2, 4, 7], [(0, 15, None), (35, 4, None)], []),
    # two scores equidistant from day 28 (24 and 32): the later one (9, -43.75%) counts; F did respond at day 24
    "F": (IM, [0, 2, 4, 7, 9], [(-3, 16, None), (24, 7, None), (32, 9, None)], []),
    # one dose, no follow-up: counts in n_started, not evaluable
    "G": (IM, [0], [(-1, 22, None)], []),
    # follow-up one day outside the week-4 window (day 36): not evaluable at day 28; responder at last observed
    "H": (SL, [0, 3, 7, 10], [(-5, 12, None), (36, 5, None)], [2]),
    # baseline 31 days before the first dose: outside the 30-day lookback, so no baseline
    "I": (SL, [0, 3, 7, 10], [(-31, 10, None), (28, 4, None)], []),
    # two courses: doses on days 0 and 3, then a new course from day 200 (gap > 90 days); scores from day 170
    # on belong to course 2 (its baseline lookback), so course 1 has no week-26 score
    "J": (SL, [0, 3, 200, 203], [(-1, 14, None), (7, 12, None), (190, 13, None), (207, 5, None)], []),
    # eight doses; -20.8% after dose 1 (early improvement); -29.2% after dose 4 (no signal); exactly -50% at
    # day 28 (a responder); SI emerges at day 28
    "K": (ESK, [0, 3, 7, 10, 14, 17, 21, 24], [(-1, 24, 0), (1, 19, None), (11, 17, None), (28, 12, 2)], []),
    # -10.5% after dose 4: the non-improvement signal; day 21 is the lower window edge: -47.4%, not a responder
    "L": (ESK, [0, 3, 7, 10], [(-1, 19, None), (11, 17, None), (21, 10, None)], []),
}


def _items(total: int, item9: int) -> list[int]:
    """Nine PHQ-9 items with the given item 9, summing to total (items 1-8 filled 3, 3, ... then the rest)."""
    rest = total - item9
    items = []
    for _ in range(8):
        take = min(3, rest)
        items.append(take)
        rest -= take
    assert rest == 0
    return [*items, item9]


def _at(day: float) -> str:
    return (T0 + timedelta(days=day)).isoformat(timespec="minutes")


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outcomes")
    sessions, scores = [], []
    for cid, (modality, doses, points, integration) in CLIENTS.items():
        sessions += [
            {
                "client_id": cid,
                "session_at": _at(d),
                "session_type": "dosing",
                "modality": modality,
                "clinician_id": "CL1" if cid < "G" else "CL2",
                "site": "North",
            }
            for d in doses
        ]
        sessions += [
            {"client_id": cid, "session_at": _at(d + 0.25), "session_type": "integration"} for d in integration
        ]
        for day, score, item9 in points:
            row = {"client_id": cid, "assessed_at": _at(day), "instrument": "PHQ-9", "score": score}
            if item9 is not None:
                row |= {f"item_{i + 1}": v for i, v in enumerate(_items(score, item9))}
            scores.append(row)
    pd.DataFrame(sessions).to_csv(tmp / "sessions.csv", index=False)
    pd.DataFrame(scores).to_csv(tmp / "scores.csv", index=False)
    connection = store.connect(tmp / "fixture.duckdb")
    reports = import_files(connection, [tmp / "sessions.csv", tmp / "scores.csv"], after_import=derive.rebuild)
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    yield connection
    connection.close()


def _row(table, group, timepoint):
    rows = table[(table.group == group) & (table.timepoint == timepoint)]
    assert len(rows) == 1, (group, timepoint)
    return rows.iloc[0]


def _client(con, cid, course=1):
    return (
        con.execute("select * from client_outcomes where client_id = $c and course_no = $n", {"c": cid, "n": course})
        .df()
        .iloc[0]
    )


def test_courses_and_doses(con):
    courses = con.execute(
        "select client_id, course_no, n_doses, n_induction_doses, integration from courses "
        "order by client_id, course_no"
    ).df()
    assert len(courses) == 13  # twelve clients, J twice
    j = courses[courses.client_id == "J"]
    assert j.course_no.tolist() == [1, 2] and j.n_doses.tolist() == [2, 2]
    a = courses[courses.client_id == "A"].iloc[0]
    assert a.n_doses == 6 and a.integration == "with integration therapy"
    assert courses[courses.client_id == "B"].iloc[0].integration == "ketamine alone"


def test_baselines(con):
    base = (
        con.execute(
            "select client_id, baseline, baseline_day from client_outcomes where course_no = 1 order by client_id"
        )
        .df()
        .set_index("client_id")
    )
    assert "I" not in base.index  # 31 days before the first dose: outside the lookback
    assert base.baseline.to_dict() == {
        "A": 20,
        "B": 18,
        "C": 0,
        "D": 4,
        "E": 15,
        "F": 16,
        "G": 22,
        "H": 12,
        "J": 14,
        "K": 24,
        "L": 19,
    }
    assert base.loc["E", "baseline_day"] == 0  # exactly at the dose time counts as baseline
    assert _client(con, "J", 2).baseline == 13  # day 190 = 10 days before course 2


def test_person_level_flags(con):
    a, b, d, k, l_ = (_client(con, c) for c in "ABDKL")
    assert a.first_response_day == 28 and a.last_score == 6 and a.last_pct_change == pytest.approx(-70)
    assert a.is_early_improvement_dose2 and pd.isna(a.is_early_improvement_dose1) and a.is_early_improvement
    assert a.is_reliable_improvement and not a.is_reliable_deterioration  # 20 -> 6: 14 points >= 6
    assert a.has_si_at_baseline and a.is_si_resolved
    assert pd.isna(a.is_sustained_response)  # first response at day 28 is after induction: not eligible
    assert b.is_rapid_response and b.first_response_day == 1 and b.is_early_improvement_dose1
    assert b.has_relapsed and b.relapse_day == 30 and b.days_response_to_relapse_or_censor == 29
    assert not b.is_sustained_response  # day 30 score is -44%: response not kept at week 4
    assert d.is_remitted_at_baseline and d.is_response_eligible
    assert k.is_early_improvement_dose1 and not k.has_non_improvement_signal and k.is_si_emerged
    f = _client(con, "F")
    assert f.first_response_day == 24  # responded in induction, but week 4 (the later tie, -43.75%) is not
    assert not pd.isna(f.is_sustained_response) and not f.is_sustained_response
    assert k.si_first_day == 28 and not k.has_si_at_baseline
    assert l_.has_non_improvement_signal  # 19 -> 17 after dose 4: -10.5%
    assert not _client(con, "C").is_response_eligible
    g = _client(con, "G")
    assert g.n_followups == 0 and pd.isna(g.last_score) and g.days_to_response_or_censor == 0
    assert _client(con, "J", 2).last_score == 5


def test_outcomes_at_week_4_by_modality(con):
    t = outcomes_table(con, Cohort("PHQ-9", Filters(), "modality"), timepoints=[(28, 7)], min_cell=0)
    iv = _row(t, IV, "day_28")
    assert (iv.n_started, iv.n_evaluable, iv.n_responders, iv.n_remission_eligible, iv.n_remitters) == (3, 3, 2, 2, 0)
    assert iv.response_rate == pytest.approx(2 / 3) and iv.response_rate_itt == pytest.approx(2 / 3)
    # Wilson 2/3 by hand: centre (p + z²/2n)/(1 + z²/n) = 0.5731, half-width 0.3654
    assert iv.response_ci_low == pytest.approx(0.2077, abs=1e-4)
    assert iv.response_ci_high == pytest.approx(0.9385, abs=1e-4)
    assert iv.mean_baseline == pytest.approx(14) and iv.mean_score == pytest.approx(20 / 3)
    assert iv.mean_pct_change == pytest.approx(-51.4815, abs=1e-4)
    im = _row(t, IM, "day_28")
    assert (im.n_started, im.n_evaluable, im.n_responders, im.n_remission_eligible, im.n_remitters) == (3, 2, 1, 2, 1)
    assert im.response_rate_itt == pytest.approx(1 / 3) and im.remission_rate == pytest.approx(0.5)
    # Wilson 1/2 by hand: centre 0.5, half-width 0.4055
    assert im.response_ci_low == pytest.approx(0.0945, abs=1e-4)
    assert im.response_ci_high == pytest.approx(0.9055, abs=1e-4)
    assert im.mean_pct_change == pytest.approx(-58.5417, abs=1e-4)  # E -73.33 and F -43.75 (the later tie)
    sl = _row(t, SL, "day_28")
    assert (sl.n_started, sl.n_evaluable, sl.n_responders) == (2, 0, 0)
    assert pd.isna(sl.response_rate) and sl.response_rate_itt == 0  # no evaluable client: no rate
    esk = _row(t, ESK, "day_28")
    assert (esk.n_started, esk.n_evaluable, esk.n_responders, esk.n_remitters) == (2, 2, 1, 0)
    assert esk.mean_pct_change == pytest.approx(-48.6842, abs=1e-4)  # K -50, L -47.37
    assert not t.suppressed.any()


def test_last_observed_and_24h(con):
    t = outcomes_table(con, Cohort("PHQ-9", Filters(), "modality"), timepoints=[(1, 1), (182, 28)], min_cell=0)
    last_iv = _row(t, IV, "last")
    assert (last_iv.n_evaluable, last_iv.n_responders) == (3, 2)  # A 6, B 11, D 2
    assert pd.isna(last_iv.target_day) or last_iv.target_day is None
    last_sl = _row(t, SL, "last")
    assert (last_sl.n_evaluable, last_sl.n_responders) == (2, 1)  # H 5 (-58%), J course 1 day 7: 12
    last_im = _row(t, IM, "last")
    assert (last_im.n_evaluable, last_im.n_responders, last_im.n_remitters) == (2, 1, 1)
    day1 = _row(t, IV, "day_1")
    assert (day1.n_evaluable, day1.n_responders) == (1, 1)  # only B, at 24 h
    assert _row(t, SL, "day_182").n_evaluable == 0  # J's later scores belong to course 2


def test_custom_window(con):
    t = outcomes_table(con, Cohort("PHQ-9"), timepoints=[(28, 3)], min_cell=0)
    row = _row(t, "all", "day_28")
    # [25, 31]: A 28, B 30, D 28, K 28; C has baseline 0 and is not in the cohort
    assert (row.n_started, row.n_evaluable, row.n_responders) == (10, 4, 3)


def test_filters_and_min_baseline(con):
    t = outcomes_table(
        con, Cohort("PHQ-9", Filters(modalities=(IV, IM), min_baseline=10)), timepoints=[(28, 7)], min_cell=0
    )
    row = _row(t, "all", "day_28")
    # A 20, B 18, E 15, F 16, G 22 (D's baseline 4 is under 10)
    assert (row.n_started, row.n_evaluable, row.n_responders) == (5, 4, 2)
    t = outcomes_table(con, Cohort("PHQ-9", Filters(), "integration"), timepoints=[(28, 7)], min_cell=0)
    assert _row(t, "with integration therapy", "day_28").n_started == 2  # A and H
    t = outcomes_table(
        con, Cohort("PHQ-9", Filters(clinicians=("CL1",)), "clinician"), timepoints=[(28, 7)], min_cell=0
    )
    assert t.group.unique().tolist() == ["CL1"] and _row(t, "CL1", "day_28").n_started == 5  # A B D E F


def test_flow(con):
    f = flow_table(con, Cohort("PHQ-9"), min_cell=0).iloc[0]
    assert (f.n_first_dose, f.n_with_baseline, f.n_completed_induction, f.n_followup_in_window, f.n_included) == (
        12,
        11,
        9,
        8,
        7,
    )


def test_time_to_response_kaplan_meier(con):
    km = kaplan_meier_table(con, Cohort("PHQ-9"), event="response", min_cell=0)
    km = km.set_index("time")
    # durations: G 0 (censored), B 1, J 7 (c), L 21 (c), F 24, A D K 28, E 35, H 36
    assert km.loc[0, "at_risk"] == 10 and km.loc[0, "survival"] == 1
    assert km.loc[1, "survival"] == pytest.approx(8 / 9) and km.loc[1, "at_risk"] == 9
    assert km.loc[24, "at_risk"] == 6 and km.loc[24, "survival"] == pytest.approx(8 / 9 * 5 / 6)
    assert km.loc[28, "at_risk"] == 5 and km.loc[28, "events"] == 3
    assert km.loc[28, "survival"] == pytest.approx(8 / 9 * 5 / 6 * 2 / 5)
    assert km.loc[35, "survival"] == pytest.approx(8 / 9 * 5 / 6 * 2 / 5 * 1 / 2)
    assert km.loc[36, "survival"] == pytest.approx(0)


def test_time_to_relapse_kaplan_meier(con):
    km = kaplan_meier_table(con, Cohort("PHQ-9"), event="relapse", min_cell=0).set_index("time")
    # responders: D, E, H, K censored at 0 (no score after their first response), F at 8 (24 -> 32),
    # A at 28 (28 -> 56), B relapses 29 days after responding (day 1 -> day 30)
    assert km.loc[0, "at_risk"] == 7 and km.loc[0, "censored"] == 4
    assert km.loc[28, "at_risk"] == 2 and km.loc[28, "survival"] == 1
    assert km.loc[29, "at_risk"] == 1 and km.loc[29, "events"] == 1 and km.loc[29, "survival"] == 0


def test_suppression_and_complement(con):
    t = outcomes_table(con, Cohort("PHQ-9", Filters(), "modality"), timepoints=[(28, 7)], min_cell=3)
    im, iv, esk, sl = (_row(t, g, "day_28") for g in (IM, IV, ESK, SL))
    assert im.n_started == 3 and im.n_evaluable is None and im.n_responders is None and im.response_rate is None
    assert sl.n_started is None and sl.n_evaluable == 0
    # n_remitters: IM 1 is the only small cell of the column, so IV's 0 is hidden with it
    assert im.n_remitters is None and iv.n_remitters is None and iv.remission_rate is None
    assert esk.n_remitters == 0 and sl.n_remitters == 0
    assert iv.n_responders is None and iv.response_rate is None and iv.response_ci_low is None
    assert iv.n_evaluable == 3 and iv.mean_score == pytest.approx(20 / 3)
    assert t[t.timepoint == "day_28"].suppressed.tolist() == [True, True, True, True]


def test_errors(con):
    with pytest.raises(OutcomeError, match="unknown instrument"):
        outcomes_table(con, Cohort("NOPE", Filters(), "modality"))
    with pytest.raises(OutcomeError, match="unknown grouping"):
        outcomes_table(con, Cohort("PHQ-9", Filters(), "client_id; drop table scores"))
    empty = outcomes_table(con, Cohort("PHQ-9", Filters(sites=("Nowhere",)), "modality"))
    assert empty.empty and empty.columns[0] == "group"


def test_settings_change_the_course_gap(tmp_path, con):
    """A longer course gap folds J's second course into the first."""
    settings = Settings(course_gap_days=365)
    con.execute("begin")
    try:
        derive.rebuild(con, settings)
        assert con.execute("select count(*) from courses where client_id = 'J'").fetchone()[0] == 1
    finally:
        con.execute("rollback")
    assert con.execute("select count(*) from courses where client_id = 'J'").fetchone()[0] == 2
    assert math.isfinite(Settings().window_for(28))


def test_band_transitions_at_week_4(con):
    from dashboard.outcomes import band_transitions

    t = band_transitions(con, Cohort("PHQ-9"), 28, 7, min_cell=0)
    got = {(r.from_band, r.to_band): r.n_clients for r in t.itertuples()}
    # baselines: A 20, G 22, K 24 severe; B 18, E 15, F 16, L 19 moderately severe; H 12, J 14 moderate; D 4
    # minimal. Week 4: A 8, B 10, D 2, E 4, F 9 (the later tie), K 12, L 10; G, H, J have none.
    assert got == {
        ("minimal", "minimal"): 1,
        ("moderate", "no score in window"): 2,
        ("moderately severe", "minimal"): 1,
        ("moderately severe", "mild"): 1,
        ("moderately severe", "moderate"): 2,
        ("severe", "mild"): 1,
        ("severe", "moderate"): 1,
        ("severe", "no score in window"): 1,
    }


def test_improvement_by_dose(con):
    from dashboard.outcomes import improvement_by_dose

    t = improvement_by_dose(con, Cohort("PHQ-9"), min_cell=0).set_index("dose_no")
    # the first score after each dose (doses before it = k), against baseline; C (baseline 0) and I (none) are out
    # dose 1: B -50%, K -20.8% -> 2 of 2 improved >= 20%
    # dose 2: A -30% (day 3), J -14.3% (day 7, after its 2 doses) -> 1 of 2
    # dose 4: B -44.4% (day 30), D -50%, E -73.3%, H -58.3%, K -29.2% (day 11), L -10.5% -> 5 of 6
    # dose 5: F -56.3% (day 24) -> 1 of 1; dose 6: A -60% (day 28) -> 1 of 1; nobody's first score is after dose 3
    got = {d: (r.numerator, r.denominator) for d, r in t.iterrows()}
    assert got == {1: (2, 2), 2: (1, 2), 4: (5, 6), 5: (1, 1), 6: (1, 1)}


@pytest.fixture(scope="module")
def maintenance_con(tmp_path_factory):
    """Three clients with maintenance doses (doses from day 28 of a course on)."""
    doses = {  # client: (modality, dose days)
        "X": (IV, [0, 2, 30, 31, 45]),  # maintenance on days 30, 31 (week 4) and 45 (week 6)
        "Y": (IM, [0, 3, 35]),  # day 35: week 5
        # a second course from day 200 (gap > 90 days): its day-35 dose (day 235) is not a first-course dose
        "Z": (IV, [0, 29, 200, 235]),  # day 29: week 4
    }
    tmp = tmp_path_factory.mktemp("maintenance")
    rows = [
        {"client_id": c, "session_at": _at(d), "session_type": "dosing", "modality": m}
        for c, (m, days) in doses.items()
        for d in days
    ]
    pd.DataFrame(rows).to_csv(tmp / "sessions.csv", index=False)
    connection = store.connect(tmp / "maintenance.duckdb")
    reports = import_files(connection, [tmp / "sessions.csv"], after_import=derive.rebuild)
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    yield connection
    connection.close()


def test_maintenance_by_week(maintenance_con):
    from dashboard.outcomes import maintenance_by_week

    t = maintenance_by_week(maintenance_con, Cohort(None), min_cell=0)
    # week 4: X twice (days 30, 31) and Z once (day 29) -> 3 doses, 2 clients; week 5: Y; week 6: X
    assert [tuple(r) for r in t[["week", "n_doses", "n_clients"]].itertuples(index=False)] == [
        (4, 3, 2),
        (5, 1, 1),
        (6, 1, 1),
    ]
    iv = maintenance_by_week(maintenance_con, Cohort(None, Filters(modalities=(IV,))), min_cell=0)
    assert [tuple(r) for r in iv[["week", "n_doses", "n_clients"]].itertuples(index=False)] == [(4, 3, 2), (6, 1, 1)]
    # weeks with doses to fewer than k clients are hidden
    assert maintenance_by_week(maintenance_con, Cohort(None), min_cell=3).empty


def test_partial_response_at_week_4(con):
    # the week-4 score (28 +- 7, nearest, ties later) against the baseline: partial = at least 25%, under 50%
    # F: 9 vs 16 at day 32 = -43.75%; L: 10 vs 19 at day 21 = -47.4%; K: 12 vs 24 = -50% (a response);
    # A: 8 vs 20 = -60%; H: no score in the window (day 36) -> unknown; E: 4 vs 15 at day 35 = -73.3%
    got = {c: _client(con, c).is_partial_response_primary for c in "FLKAHE"}
    got = {c: None if pd.isna(v) else bool(v) for c, v in got.items()}
    assert got == {"F": True, "L": True, "K": False, "A": False, "H": None, "E": False}


def test_attrition_still_dosing_and_still_assessed(con):
    from dashboard.outcomes import attrition, share_at

    km = attrition(con, Cohort("PHQ-9"), min_cell=0)
    # the data end on day 207 (J's last score), more than 90 days after every first course's last dose and last
    # score: no one is censored. The ten who started (C's baseline is 0, I has none), by the day of their last
    # dose: G 0, J 3, B D E 7, F 9, H L 10, A 11, K 24
    dosing = share_at(km[km.measure == "dosing"], [0, 3, 7, 9, 10, 11, 14, 24]).set_index("day")
    assert dosing.share.round(9).tolist() == [0.9, 0.8, 0.5, 0.4, 0.2, 0.1, 0.1, 0.0]
    assert dosing.loc[7, "remaining"] == 5
    # by the day of their last follow-up score: G none (0), J 7, L 21, D K 28, F 32, E 35, H 36, B 40, A 56
    assessed = share_at(km[km.measure == "assessed"], [0, 7, 21, 28, 32, 35, 36, 40, 56]).set_index("day")
    assert assessed.share.round(9).tolist() == [0.9, 0.8, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    assert set(km.n_group) == {10}


def test_stopping_dose(con):
    from dashboard.outcomes import stopping_dose

    table = stopping_dose(con, Cohort("PHQ-9"), min_cell=0)
    # doses in the first course: G 1, J 2, B D E H L 4, F 5, A 6, K 8 (8 or more)
    assert dict(zip(table.n_doses, table.n_clients, strict=True)) == {1: 1, 2: 1, 4: 5, 5: 1, 6: 1, 8: 1}
    assert set(table.n_ended) == {10}
    assert table.set_index("n_doses").loc[4, "share"] == 0.5


def test_reconciliation_of_the_week_4_counts(con):
    from dashboard.outcomes import reconciliation

    table = reconciliation(con, Cohort("PHQ-9"), min_cell=0).set_index("stage")
    # first dose: all 12; baseline: not I (31 days before); started: not C (baseline 0); evaluable at 28 ± 7:
    # A B D E F K L; completed induction (4+ doses before day 28) with a baseline: not G, J, I; scored in the window
    # among those: A B C D E F K L; included (baseline above 0): A B D E F K L
    assert table.n_clients.tolist() == [12, 11, 10, 7, 9, 8, 7]
    assert table.index[3] == "Evaluable at week 4"
