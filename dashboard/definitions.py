"""What every number means, in words, from the same settings and registry the engine uses (DOMAIN.md §3–5).
Shown in the app's "How is this calculated?" expanders and the report's methods appendix."""

from __future__ import annotations

from dashboard.instruments import Instrument
from dashboard.settings import Settings


def timepoint_rule(s: Settings) -> str:
    points = ", ".join(f"day {d:g} ± {w:g}" for d, w in s.timepoints)
    return (
        f"A client's score at a timepoint is their score nearest to the target day within the window, both ends "
        f"included (ties go to the later score), counted in exact elapsed time from the first dose of their first "
        f"course (day 28 = 28 × 24 hours after it; a score recorded as a date only is at midnight). Standard "
        f"timepoints: {points}. Last observed = the client's last score after the first dose."
    )


def baseline_rule(s: Settings) -> str:
    return (
        f"Baseline: the last score at or before the first dose, no earlier than "
        f"{s.baseline_lookback_days} days before it (exact elapsed time). Clients without one are not in "
        "the outcome cohort; clients with a baseline of 0 cannot respond and are not counted as started."
    )


def course_rule(s: Settings) -> str:
    return (
        f"A course starts at a client's first dosing session; more than {s.course_gap_days} days without "
        f"dosing starts a new one. Doses before day {s.induction_days} are induction, from day "
        f"{s.induction_days}.0 on maintenance. A course's scores and integration sessions are those from "
        f"{s.baseline_lookback_days} days before its first dose up to {s.baseline_lookback_days} days before the "
        f"next course's first dose (those belong to the next course). Cohorts use each client's first course, "
        f"grouped by its first dose's modality and clinician, and by the client's site (else the first dose's); "
        f"later courses appear on client timelines. A course counts as with integration therapy when it has at "
        f"least {s.integration_min_sessions} integration session(s)."
    )


def response_rule(inst: Instrument | None, s: Settings) -> str:
    remission = (
        f"Remission: {inst.remission_label}"
        if inst and inst.remission_label
        else "Remission: at or under the instrument's remission threshold"
    )
    return (
        f"Response: a reduction of at least {s.response_pct:g}% from baseline (percent change ≤ "
        f"−{s.response_pct:g}; partial response −{s.partial_response_pct:g} to −{s.response_pct:g}). Only "
        f"clients with a baseline above 0 can respond. {remission}; clients already in remission at baseline "
        "are left out of remission rates. Means are over the evaluable clients; the mean percent change is the "
        "mean of each client's own change."
    )


def denominators(s: Settings) -> str:
    return (
        "Every rate has two denominators: evaluable (clients with a score in the window) and all who "
        "started (intention to treat: a missing score counts as non-response). No last observation is "
        f"carried forward. Proportions carry a Wilson 95% interval. Counts under {s.min_cell} are "
        "suppressed (shown as suppressed, with a second cell hidden where a total would give one back)."
    )


def rounding_rule(s: Settings) -> str:
    return (
        f"Counts are rounded to the nearest 5 and counts from 1 to {s.min_cell - 1} are hidden, so that no small "
        "count can be recovered by subtracting one figure from another. Rates, intervals and means are computed "
        f"from the exact counts and shown where their rounded denominator is at least {s.min_cell}; rates to the "
        "whole percent."
    )


def flow_rule(s: Settings) -> str:
    return (
        f"Flow: first dose → a baseline → completed induction (at least {s.min_induction_doses} doses in "
        f"the first {s.induction_days} days) → a score in the window → included (baseline above 0 and at "
        "least the minimum baseline severity, when one is set). Rates use everyone with a baseline and a "
        "score in the window, whatever the number of doses."
    )


def rapid_rule(s: Settings) -> str:
    return (
        f"Rapid response: response at ~24 h (day {s.rapid_day:g} ± {s.rapid_window_days:g}). Early "
        f"improvement: a reduction of at least {s.early_improvement_pct:g}% at the first score after dose 1 "
        f"or 2. Non-improvement signal: less than {s.early_improvement_pct:g}% reduction at the first score "
        "after dose 4 (a 2024 Translational Psychiatry study found non-improvement at 24 h after infusion 4 "
        "had > 90% sensitivity for eventual non-response)."
    )


def durability_rule(s: Settings) -> str:
    return (
        f"Relapse: after a response, the reduction falls back under {s.response_pct:g}% on two consecutive "
        "assessments "
        f"{s.relapse_gap_min_days:g}–{s.relapse_gap_max_days:g} days apart (both ends included); dated from the "
        "first of the two. "
        "Time to relapse runs from the first response and is censored at the last assessment "
        "(Kaplan–Meier, with numbers at risk). Sustained response: a response at 24 h or during induction "
        "still met at week 4 (one lapse allowed; a missing week-4 score is not met)."
    )


def attrition_rule(s: Settings) -> str:
    return (
        "Of the clients who started (a baseline above 0), still dosing at day t: a dose of the first course later "
        "than day t; still assessed at day t: a follow-up score of the instrument later than day t (whole days "
        "since the first dose, rounded up). A client whose last dose (or last score) is "
        f"{s.course_gap_days} days or less before the end of the data may go on, and is censored there "
        "(Kaplan–Meier, 95% CI, numbers at risk below). The dose after which clients stopped counts the doses of "
        f"first courses that have ended (the last dose more than {s.course_gap_days} days before the end of the "
        "data)."
    )


def safety_rule() -> str:
    return (
        "Suicidal ideation: PHQ-9 item 9 (thoughts of self-harm) above 0. Resolved: present at baseline and "
        "0 at the last assessment with items. Emerged: absent at baseline and above 0 at any later "
        "assessment — a safety signal."
    )


def recall_warning(inst: Instrument, days_shown: float) -> str | None:
    """DOMAIN.md §2 guardrail: a scale asks about the last N days; a change inside that is not rapid onset."""
    if inst.recall_days and inst.recall_days > days_shown:
        return (
            f"{inst.name} asks about the last {inst.recall_days} days, longer than the {days_shown:g} days "
            f"shown here: a change measured hours after a dose on it is not a rapid-onset measurement. "
            f"Use a scale with a short recall (e.g. MADRS rated for the last 24 h) for rapid onset."
        )
    return None


def reliable_change(inst: Instrument) -> str:
    if inst.reliable_change is None:
        return f"{inst.name}: no reliable-change threshold defined."
    return (
        f"Reliable improvement / deterioration on {inst.name}: a change of at least "
        f"{inst.reliable_change:g} points ({inst.reliable_change_basis})."
    )


def references(
    instrument: str,
    measure: str,
    timepoint_day: float | None = None,
    denominator: str | None = None,
    at_label: str | None = None,
) -> list[dict]:
    """Published figures (DOMAIN.md §6) whose definition matches: the instrument, the measure, the timepoint (its
    own day) and the denominator ('evaluable' or 'itt'), each with its source, n and definition. `at_label`: the
    chart's category the figure belongs at (rates_with_ci draws a reference only there)."""
    import tomllib
    from pathlib import Path

    data = tomllib.loads((Path(__file__).with_name("references.toml")).read_text(encoding="utf-8"))
    found = [
        r
        for r in data.get("reference", [])
        if r["instrument"] == instrument
        and r["measure"] == measure
        and (timepoint_day is None or r["timepoint_day"] == timepoint_day)
        and (denominator is None or r.get("denominator") == denominator)
    ]
    return [r | {"at_label": at_label} for r in found] if at_label else found


def settings_in_force(s: Settings) -> str:
    """Every threshold the engine applies, with its setting's name (OUTCOMES_SETTINGS changes them)."""
    points = ", ".join(f"{d:g} ± {w:g}" for d, w in s.timepoints)
    return (
        f"Settings in force: response ≥ {s.response_pct:g}% reduction (`response_pct`); partial response ≥ "
        f"{s.partial_response_pct:g}% (`partial_response_pct`); early improvement ≥ {s.early_improvement_pct:g}% "
        f"(`early_improvement_pct`); remission at or under each instrument's threshold (instruments.toml); "
        f"a new course after {s.course_gap_days} days without dosing (`course_gap_days`); induction "
        f"{s.induction_days} days (`induction_days`), completed with {s.min_induction_doses} doses "
        f"(`min_induction_doses`); baseline up to {s.baseline_lookback_days} days before the first dose "
        f"(`baseline_lookback_days`); integration therapy from {s.integration_min_sessions} session(s) "
        f"(`integration_min_sessions`); rapid response at day {s.rapid_day:g} ± {s.rapid_window_days:g} "
        f"(`rapid_day`, `rapid_window_days`); relapse gap {s.relapse_gap_min_days:g}–{s.relapse_gap_max_days:g} "
        f"days (`relapse_gap_min_days`, `relapse_gap_max_days`); timepoints (day ± window) {points} "
        f"(`timepoints`); cells under {s.min_cell} suppressed (`min_cell`)."
    )


def case_mix_rule(s: Settings, model: dict | None = None) -> str:
    """How the case-mix-adjusted comparison is computed (README: How it is computed)."""
    fitted = f" Fitted on {model['n_clients']} evaluable clients ({model['n_responders']} responders)." if model else ""
    return (
        "Indirect standardisation. A logistic regression of response (a reduction of at least "
        f"{s.response_pct:g}% at the timepoint) on the baseline score, condition, prior-treatments band and age band "
        "is fitted on the whole clinic's evaluable first courses of the instrument, whatever the filters."
        + fitted
        + " A group's expected responders E are the sum of its clients' predicted probabilities; O/E is its observed "
        "responders over E, with an exact Poisson 95% interval on O divided by E; the adjusted rate is O/E times the "
        "clinic's rate. O/E above 1: more responders than the clinic's own clients of the same case mix had. "
        "Adjustment covers only what was measured: severity, condition, prior treatments and age band, not "
        "everything that differs between caseloads."
    )


def mmrm_rule(s: Settings) -> str:
    """How the trial-matched estimate is computed (README: How it is computed)."""
    return (
        "A mixed model for repeated measures (statsmodels MixedLM, REML), fitted per group: the change from baseline "
        "at every standard visit up to this timepoint (each client's score at the visit, as for the outcomes table) "
        "on the visit as a factor and the baseline score centred on the group's mean, with a random intercept per "
        "client (compound symmetry). The estimate is the model's mean change at this visit for a client with the "
        "group's mean baseline, with a 95% interval (estimate ± 1.96 standard errors). Every client with a score at "
        "any visit counts, so a client who left early informs the estimate through their earlier visits (missing at "
        f"random). A group needs at least 20 clients in the model. The completers' mean is over clients with a score "
        f"at this visit only, with a t interval. Rounded output: counts as everywhere, changes to 1 decimal; "
        f"a value is hidden where its count is (k = {s.min_cell})."
    )


def expected_rule(s: Settings) -> str:
    """How the expected course and the off-track flag are computed (README: How it is computed)."""
    return (
        f"The expected course is the upper {100 * s.expected_quantile:.0f}% of the scores of the clinic's clients of "
        "the same baseline and modality (and condition, for a condition at least "
        f"{s.expected_min_clients} clients have) by day since the first dose (a quantile regression on the baseline, "
        "log(1 + day), its square, the modality and the condition, up to day 56, on the whole clinic whatever the "
        "filters), fitted without this client: clients are split into five groups and each group's line comes from "
        "the other four. A score after the second dose above the line is off track. The model needs "
        f"{s.expected_min_clients} clients' history."
    )


def client_outcome_columns(s: Settings) -> dict[str, tuple[str, str]]:
    """The client timeline's outcome columns (queries/views/client_outcome_rows.sql): header, with its unit, and what
    the column means. Days run from the course's first dose; an empty tick box means the outcome does not apply."""
    response = f"a reduction of at least {s.response_pct:g}% from baseline"
    primary = f"day {s.primary_day} (± {s.window_for(s.primary_day):g})"
    return {
        "course_no": ("Course", "1 = the client's first course; a later one follows a gap without dosing."),
        "instrument": ("Instrument", "The outcome measure of this row."),
        "baseline": ("Baseline score", baseline_rule(s)),
        "last_score": ("Last score", "The course's last follow-up score."),
        "last_day": ("Last score (days)", "Days from the course's first dose to its last follow-up score."),
        "last_pct_change": (
            "Change at last score (%)",
            "Percent change from baseline to the last follow-up score; negative = fewer symptoms.",
        ),
        "first_response_day": (
            "First response (days)",
            f"Days from the course's first dose to the first score with {response}; empty if none yet.",
        ),
        "is_rapid_response": (
            "Rapid response",
            f"{response[0].upper()}{response[1:]} at ~24 h (day {s.rapid_day:g} ± {s.rapid_window_days:g}).",
        ),
        "is_partial_response_primary": (
            f"Partial response, day {s.primary_day}",
            f"At {primary}: a reduction of at least {s.partial_response_pct:g}% and less than {s.response_pct:g}%.",
        ),
        "is_early_improvement": (
            "Early improvement",
            f"A reduction of at least {s.early_improvement_pct:g}% at the first score after dose 1, or after dose 2.",
        ),
        "has_non_improvement_signal": (
            "Non-improvement signal",
            f"Less than {s.early_improvement_pct:g}% reduction at the first score after dose 4: a signal of eventual "
            "non-response.",
        ),
        "is_sustained_response": (
            "Sustained response",
            f"A response at 24 h or before day {s.primary_day} still met at {primary} (one lapse allowed).",
        ),
        "has_relapsed": (
            "Relapsed",
            f"After a response, two consecutive scores {s.relapse_gap_min_days:g}–{s.relapse_gap_max_days:g} days "
            f"apart both short of {response}.",
        ),
        "is_reliable_improvement": (
            "Reliable improvement",
            "The last follow-up score at least the instrument's reliable-change points below baseline.",
        ),
        "is_reliable_deterioration": (
            "Reliable deterioration",
            "The last follow-up score at least the instrument's reliable-change points above baseline.",
        ),
        "has_si_at_baseline": (
            "Suicidal ideation at baseline",
            "The instrument's safety item (PHQ-9 item 9, thoughts of self-harm) above 0 at baseline.",
        ),
        "is_si_resolved": (
            "Suicidal ideation resolved",
            "Present at baseline and 0 at the last follow-up score with items.",
        ),
        "is_si_emerged": (
            "Suicidal ideation emerged",
            "Absent at baseline and above 0 at any follow-up score: a safety signal.",
        ),
    }
