"""Elapsed time is compared exactly at every boundary and tie (issue 15, defect 1). Each client below sits on one
boundary, with doses and scores at times of day other than midnight, and the right answer worked out by hand
from the README's rules: windows and relapse gaps include both ends, the course gap and the lookback are
measured from the exact dose time, day 28.0 is maintenance, and a tie between two scores equidistant from the
target goes to the later one."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import derive, store
from dashboard.ingest import import_files
from dashboard.outcomes import Cohort, outcomes_table
from dashboard.settings import Settings

SETTINGS = Settings(min_cell=0)

# client: (dose times, [(assessed_at, PHQ-9 score)]); every time is written as it would arrive in an export
CLIENTS = {
    # two week-4 scores each 21 h 05 min from day 28 (09:30 + 28 d = 2025-03-03T09:30): 12:25 on 2 March and
    # 06:35 on 4 March. The later (8, -60%) is the week-4 score: a responder
    "TIE": (
        ["2025-02-03T09:30", "2025-02-05T09:30"],
        [("2025-02-03T08:00", 20), ("2025-03-02T12:25", 12), ("2025-03-04T06:35", 8)],
    ),
    # two 24-hour scores each 21 h 05 min from 09:30 on 4 February: 12:25 on 3 February and 06:35 on 5 February.
    # The later (8, -60%) is the 24 h score: a rapid response
    "TIE24": (["2025-02-03T09:30"], [("2025-02-03T08:00", 20), ("2025-02-03T12:25", 12), ("2025-02-05T06:35", 8)]),
    # a response on day 7 (-60%), then two scores back under a 50% reduction exactly 5 days apart
    # (17 d 7 h 15 min and 22 d 7 h 15 min after the first dose): a relapse on day 17 + 7.25/24
    "RELAPSE5": (
        ["2025-02-03T09:30"],
        [("2025-02-03T09:00", 20), ("2025-02-10T14:10", 8), ("2025-02-20T16:45", 14), ("2025-02-25T16:45", 15)],
    ),
    # the same with the two scores exactly 15 days apart: a relapse
    "RELAPSE15": (
        ["2025-02-03T09:30"],
        [("2025-02-03T09:00", 20), ("2025-02-10T14:10", 8), ("2025-02-20T16:45", 14), ("2025-03-07T16:45", 15)],
    ),
    # 15 days and one minute apart: no relapse
    "NORELAPSE": (
        ["2025-02-03T09:30"],
        [("2025-02-03T09:00", 20), ("2025-02-10T14:10", 8), ("2025-02-20T16:45", 14), ("2025-03-07T16:46", 15)],
    ),
    # 4 days 23 h 59 min apart: no relapse
    "SHORTGAP": (
        ["2025-02-03T09:30"],
        [("2025-02-03T09:00", 20), ("2025-02-10T14:10", 8), ("2025-02-20T16:45", 14), ("2025-02-25T16:44", 15)],
    ),
    # the only follow-up exactly 35 days after the first dose (the week-4 window's end): evaluable, -50%
    "EDGE": (["2025-02-03T09:30"], [("2025-02-03T09:30", 20), ("2025-03-10T09:30", 10)]),
    # one minute later: not evaluable at week 4
    "PAST": (["2025-02-03T09:30"], [("2025-02-03T09:30", 20), ("2025-03-10T09:31", 10)]),
    # the same edge written with offsets: the dose at 07:30 UTC, the score at 07:30 UTC 35 days later
    "OFFSET": (["2025-02-03T09:30+02:00"], [("2025-02-03T07:00Z", 20), ("2025-03-10T08:30+01:00", 10)]),
    # a dose exactly 28 days after the first: maintenance (1 induction and 1 maintenance dose)
    "MAINT": (["2025-02-03T09:30", "2025-03-03T09:30"], [("2025-02-03T09:00", 20)]),
    # a dose one minute earlier: induction (2 induction doses)
    "INDUC": (["2025-02-03T09:30", "2025-03-03T09:29"], [("2025-02-03T09:00", 20)]),
    # a dose exactly 90 days after the last: the same course
    "GAP90": (["2025-02-03T09:30", "2025-05-04T09:30"], [("2025-02-03T09:00", 20)]),
    # a minute more: a new course
    "GAP91": (["2025-02-03T09:30", "2025-05-04T09:31"], [("2025-02-03T09:00", 20)]),
    # a baseline exactly 30 days before the first dose: it counts
    "LOOK30": (["2025-03-05T09:30"], [("2025-02-03T09:30", 20), ("2025-04-02T09:30", 8)]),
    # a minute earlier: no baseline
    "LOOK31": (["2025-03-05T09:30"], [("2025-02-03T09:29", 20), ("2025-04-02T09:30", 8)]),
    # date-only scores: 2025-02-03 is midnight, before the 09:30 dose (a baseline); 2025-03-04 is 28 d 14 h 30 min
    # after it, inside the week-4 window
    "DATEONLY": (["2025-02-03T09:30"], [("2025-02-03", 18), ("2025-03-04", 9)]),
    # two courses (a gap of 150 days): a score a minute before course 2's window (30 days before its first dose) is
    # course 1's last follow-up; one exactly at the window's start is course 2's baseline
    "NEXT": (
        ["2025-01-02T09:30", "2025-06-01T09:30"],
        [("2025-01-02T09:00", 20), ("2025-05-02T09:29", 15), ("2025-05-02T09:30", 16)],
    ),
    # first dose IV by CL1 at site N, then IM by CL2 at site S; the clients file says site W
    "MIXED": (
        [("2025-02-03T09:30", "IV infusion", "CL1", "N"), ("2025-02-05T09:30", "IM injection", "CL2", "S")],
        [("2025-02-03T09:00", 20)],
    ),
    # the same without a site in the clients file: the first dose's site
    "MIXED2": (
        [("2025-02-03T09:30", "IV infusion", "CL1", "N"), ("2025-02-05T09:30", "IM injection", "CL2", "S")],
        [("2025-02-03T09:00", 20)],
    ),
}
# integration sessions: a course's run from 30 days before its first dose (included) to 30 days before the next
# course's first dose (excluded)
INTEGRATION = {
    "INT30": ["2025-02-03T09:30"],  # exactly 30 days before the first dose (2025-03-05T09:30): with integration
    "INT31": ["2025-02-03T09:29"],  # a minute earlier: ketamine alone
    "NEXT": ["2025-05-02T09:29", "2025-05-02T09:30"],  # one for course 1, one for course 2
}
CLIENTS |= {"INT30": (["2025-03-05T09:30"], []), "INT31": (["2025-03-05T09:30"], [])}
SITES = {"MIXED": "W"}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exact")
    sessions, scores = [], []
    for cid, (doses, points) in CLIENTS.items():
        for dose in doses:
            at, modality, clinician, site = (dose, "IV infusion", "CL1", "N") if isinstance(dose, str) else dose
            sessions.append(
                {"client_id": cid, "session_at": at, "session_type": "dosing", "modality": modality}
                | {"clinician_id": clinician, "site": site}
            )
        sessions += [
            {"client_id": cid, "session_at": at, "session_type": "integration"} for at in INTEGRATION.get(cid, [])
        ]
        scores += [{"client_id": cid, "assessed_at": at, "instrument": "PHQ-9", "score": s} for at, s in points]
    pd.DataFrame(sessions).to_csv(tmp / "sessions.csv", index=False)
    pd.DataFrame(scores).to_csv(tmp / "scores.csv", index=False)
    pd.DataFrame([{"client_id": c, "site": s} for c, s in SITES.items()]).to_csv(tmp / "clients.csv", index=False)
    connection = store.connect(tmp / "exact.duckdb")
    files = [tmp / "clients.csv", tmp / "sessions.csv", tmp / "scores.csv"]
    reports = import_files(connection, files, after_import=lambda c: derive.rebuild(c, SETTINGS))
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    yield connection
    connection.close()


def _outcome(con, cid, column, course=1):
    return con.execute(
        f"select {column} from client_outcomes where client_id = $c and course_no = $n", {"c": cid, "n": course}
    ).fetchone()[0]


def _week4(con, cid):
    row = con.execute(
        "select score from timepoint_scores where client_id = $c and target_day = 28 and window_days = 7", {"c": cid}
    ).fetchone()
    return None if row is None else row[0]


def test_a_tie_goes_to_the_later_score(con):
    assert _week4(con, "TIE") == 8
    assert _outcome(con, "TIE", "pct_change_primary") == pytest.approx(-60.0)
    at_24h = "select score from timepoint_scores where client_id = 'TIE24' and target_day = 1"
    assert con.execute(at_24h).fetchone() == (8,)
    assert _outcome(con, "TIE24", "pct_change_24h") == pytest.approx(-60.0)
    assert _outcome(con, "TIE24", "is_rapid_response") is True


def test_a_tie_at_a_timepoint_not_precomputed_goes_to_the_later_score(con):
    # day 28 ± 7.5 is not precomputed, so it is found among all the scores; TIE's two scores are both inside it
    table = outcomes_table(
        con, Cohort("PHQ-9", by="none", settings=SETTINGS), timepoints=[(28, 7.5)], include_last=False
    )
    # evaluable at 28 ± 7.5 (the score nearest day 28): responders TIE (8 of 20, the later of the tie), EDGE and
    # PAST (10 of 20 at day 35 and 35 d 1 min), OFFSET (10 of 20), DATEONLY (9 of 18), LOOK30 (8 of 20 at day 28);
    # not responders RELAPSE5 and SHORTGAP (15 of 20 at day 22.3), RELAPSE15 and NORELAPSE (15 of 20 at day 32.3)
    row = table.iloc[0]
    assert (row.n_evaluable, row.n_responders) == (10, 6)


@pytest.mark.parametrize("cid, day", [("RELAPSE5", 17 + 7.25 / 24), ("RELAPSE15", 17 + 7.25 / 24)])
def test_relapse_gaps_include_both_ends(con, cid, day):
    assert _outcome(con, cid, "has_relapsed") is True
    assert _outcome(con, cid, "relapse_day") == pytest.approx(day, abs=1e-9)


@pytest.mark.parametrize("cid", ["NORELAPSE", "SHORTGAP"])
def test_relapse_gaps_outside_5_to_15_days_are_no_relapse(con, cid):
    assert _outcome(con, cid, "has_relapsed") is False


def test_the_window_end_is_inclusive_to_the_minute(con):
    assert _week4(con, "EDGE") == 10
    assert _week4(con, "PAST") is None
    assert _week4(con, "OFFSET") == 10  # 09:30+02:00 and 08:30+01:00 35 days later are 35 days apart exactly


def test_day_28_is_maintenance(con):
    counts = dict(
        (cid, (n_ind, n_main))
        for cid, n_ind, n_main in con.execute(
            "select client_id, n_induction_doses, n_maintenance_doses from courses where course_no = 1"
        ).fetchall()
    )
    assert counts["MAINT"] == (1, 1)
    assert counts["INDUC"] == (2, 0)


def test_the_course_gap_is_exact(con):
    n = dict(con.execute("select client_id, max(course_no) from courses group by client_id").fetchall())
    assert n["GAP90"] == 1
    assert n["GAP91"] == 2


def test_the_lookback_is_exact(con):
    assert _outcome(con, "LOOK30", "baseline") == 20
    assert con.execute("select count(*) from client_outcomes where client_id = 'LOOK31'").fetchone()[0] == 0


def test_a_date_only_score_is_midnight(con):
    assert _outcome(con, "DATEONLY", "baseline") == 18
    assert _outcome(con, "DATEONLY", "baseline_day") == pytest.approx(-9.5 / 24)
    assert _week4(con, "DATEONLY") == 9
    assert _outcome(con, "DATEONLY", "last_day") == pytest.approx(28 + 14.5 / 24)


def test_a_timepoint_asked_for_twice_is_counted_once(con):
    cohort = Cohort("PHQ-9", by="none", settings=SETTINGS)
    once = outcomes_table(con, cohort, timepoints=[(28, 7)], include_last=False)
    twice = outcomes_table(con, cohort, timepoints=[(28, 7), (28.0, 7.0)], include_last=False)
    # evaluable at 28 ± 7: TIE, EDGE, OFFSET, DATEONLY and LOOK30 (responders), RELAPSE5 and SHORTGAP (day 22.3),
    # RELAPSE15 and NORELAPSE (day 32.3); PAST's score is a minute outside
    assert list(twice.timepoint) == ["day_28"]
    assert (twice.n_evaluable.iloc[0], twice.n_responders.iloc[0]) == (9, 5)
    pd.testing.assert_frame_equal(once, twice)


def test_two_windows_for_one_day_get_distinct_labels(con):
    cohort = Cohort("PHQ-9", by="none", settings=SETTINGS)
    table = outcomes_table(con, cohort, timepoints=[(28, 7), (28, 3), (7, 3)], include_last=False)
    rows = {r.timepoint: (r.n_evaluable, r.n_responders) for r in table.itertuples()}
    # 28 ± 3 (day 25 to 31): TIE (the later of its two scores), DATEONLY and LOOK30, all responders.
    # day 7 ± 3: RELAPSE5, RELAPSE15, NORELAPSE and SHORTGAP at day 7.2 (8 of 20: responders)
    assert rows == {"day_7": (4, 4), "day_28±7": (9, 5), "day_28±3": (3, 3)}


def test_a_course_holds_the_scores_and_integration_sessions_of_its_window(con):
    courses = {
        (cid, n): (integration, n_sessions)
        for cid, n, integration, n_sessions in con.execute(
            "select client_id, course_no, integration, n_integration_sessions from courses"
        ).fetchall()
    }
    assert courses[("INT30", 1)] == ("with integration therapy", 1)
    assert courses[("INT31", 1)] == ("ketamine alone", 0)
    assert courses[("NEXT", 1)] == ("with integration therapy", 1)
    assert courses[("NEXT", 2)] == ("with integration therapy", 1)
    assert (_outcome(con, "NEXT", "last_score"), _outcome(con, "NEXT", "baseline", course=2)) == (15, 16)


def test_a_course_is_grouped_by_its_first_dose_and_the_clients_site(con):
    rows = {
        cid: (modality, clinician, site)
        for cid, modality, clinician, site in con.execute(
            "select client_id, modality, clinician_id, site from courses where client_id like 'MIXED%'"
        ).fetchall()
    }
    assert rows == {"MIXED": ("IV infusion", "CL1", "W"), "MIXED2": ("IV infusion", "CL1", "N")}


@pytest.mark.parametrize("day, window", [(28, 7), (2, 1), (6, 2), (10, 3), (14, 4), (30, 8), (56, 14), (0.5, 1)])
def test_the_default_window_of_a_day(day, window):
    # a standard timepoint's own window, else a quarter of the day rounded to the nearest whole day (halves up),
    # at least 1
    assert Settings().window_for(day) == window
