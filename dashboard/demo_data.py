"""Synthetic demo data (pseudonymous clients, sessions, scores of a multi-site practice) in the input contract."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

SITES = ("North", "Central", "Harbour")
SITE_P = (0.45, 0.33, 0.22)
# Clinicians CL01..CL10 are based at one site each: North CL01-04, Central CL05-07, Harbour CL08-10.
SITE_CLINICIANS = np.array([[0, 4], [4, 7], [7, 10]])  # [first, stop) index per site
CLINICIANS = np.array([f"CL{i:02d}" for i in range(1, 11)], dtype=object)

CONDITIONS = ("treatment-resistant depression", "anxiety", "PTSD", "bipolar depression")
CONDITION_P = (0.55, 0.17, 0.16, 0.12)
TRD, ANXIETY, PTSD, BIPOLAR = range(4)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_P = (0.10, 0.26, 0.25, 0.19, 0.13, 0.07)
SEXES = ("F", "M", "X")
SEX_P = (0.57, 0.40, 0.03)

DOSING, INTEGRATION, PREPARATION, ASSESSMENT = range(4)
SESSION_TYPES = np.array(["dosing", "integration", "preparation", "assessment"], dtype=object)

IV, IM, SL, ESK = range(4)
MODALITIES = ("IV infusion", "IM injection", "Sublingual / troche", "Intranasal esketamine")
# Rows: condition, columns: modality. Esketamine is licensed for depression only, so anxiety and
# PTSD clients get none; the marginal mix comes out near IV 40%, IM 15%, SL 30%, esketamine 15%.
MODALITY_P = np.array(
    [
        [0.40, 0.13, 0.22, 0.25],
        [0.35, 0.20, 0.45, 0.00],
        [0.45, 0.20, 0.35, 0.00],
        [0.45, 0.15, 0.25, 0.15],
    ]
)
# Labels as clinic exports spell them, so the importer's alias normalisation gets exercised.
MODALITY_ALIASES = (("iv", "infusion"), ("IM",), ("troche", "lozenge"), ("spravato",))
ALIAS_SHARE = 0.05
# KAP practices pair sublingual and IM dosing with therapy more often than infusion centres do.
INTEGRATION_P = np.array([0.40, 0.65, 0.65, 0.25])

# Induction plan per modality: P(4, 5, 6, 7, 8 planned doses) and the days between doses.
PLAN_P = np.array(
    [
        [0.05, 0.05, 0.75, 0.10, 0.05],  # IV: ~6 infusions in ~3 weeks
        [0.10, 0.10, 0.60, 0.10, 0.10],
        [0.35, 0.10, 0.45, 0.05, 0.05],  # SL: 4-session at-home programmes are common
        [0.00, 0.00, 0.10, 0.05, 0.85],  # esketamine: twice weekly for 4 weeks
    ]
)
GAP_DAYS = np.array([[2, 5], [3, 7], [3, 7], [3, 4]])  # inclusive range per modality
MAX_INDUCTION, MAX_BOOSTERS = 8, 8
MAX_DOSES = MAX_INDUCTION + MAX_BOOSTERS
MAINTENANCE_P = np.array([0.45, 0.35, 0.30, 0.65])  # among responders who completed induction

RAPID, GRADUAL, LATE, NON = range(4)
# Response classes per modality: rapid, gradual, late (after week 4), non-responder.
CLASS_P = np.array(
    [
        [0.32, 0.25, 0.10, 0.33],
        [0.30, 0.25, 0.10, 0.35],
        [0.20, 0.38, 0.12, 0.30],
        [0.20, 0.30, 0.12, 0.38],
    ]
)
# Dropout after the first dose, by class: people who feel nothing leave sooner.
STOP_AFTER_1_P = np.array([0.12, 0.16, 0.20, 0.30])
STOP_EARLY_P = np.array([0.13, 0.13, 0.13, 0.25])  # stop after dose 2-5

PHQ9, GAD7, PCL5, MADRS = range(4)
INSTRUMENTS = np.array(["PHQ-9", "GAD-7", "PCL-5", "MADRS"], dtype=object)
SCORE_MAX = np.array([27, 21, 80, 60])
NOISE_SD = np.array([1.8, 1.5, 4.5, 2.5])
N_ITEM_COLUMNS = 20
# Relative weights of the non-suicidality items: fatigue, mood and sleep carry most of a total.
PHQ9_ITEM_WEIGHTS = np.array([1.2, 1.3, 1.2, 1.4, 0.9, 1.0, 1.0, 0.6])
GAD7_ITEM_WEIGHTS = np.array([1.2, 1.2, 1.3, 1.0, 0.8, 1.1, 0.9])

# Questionnaires: weekly during induction, then about monthly for up to a year (days after dose 1).
FOLLOW_UP_DAYS = np.array([7, 14, 21, 28, *range(56, 365, 28)])
MISSING_P = 0.10
# Confirmatory re-assessment: when a monthly questionnaire of a client who had responded shows the
# reduction back under 50% (PHQ-9, or GAD-7 where given), the clinic re-assesses 6-14 days later at a
# clinic visit, so a relapse can be told from a one-off blip (two consecutive scores 5-15 days apart).
CONFIRM_FROM_DAY = 28  # from here the next planned questionnaire is four weeks away
CONFIRM_GAP_DAYS = (6, 14)  # inclusive; with the clock times the gap stays within 5-15 days
CONFIRM_MISSED_P = 0.12
MINUTES_PER_DAY = 1440
HISTORY_DAYS = 912  # first doses spread over ~2.5 years
UNUSED_DAY = 10**9  # sorts unused dose slots last without overflowing minute arithmetic


def generate(
    n_clients: int = 600, seed: int = 7, end: datetime.date = datetime.date(2026, 6, 30)
) -> dict[str, pd.DataFrame]:
    """Return {"clients", "sessions", "scores"} frames for `n_clients` synthetic clients.

    Deterministic for a given (n_clients, seed, end). Every timestamp is at or before 00:00 on `end`,
    so it is not later than `end` whether compared as a date or as a datetime."""
    if n_clients < 1:
        raise ValueError(f"n_clients must be at least 1, not {n_clients}")
    rng = np.random.default_rng(seed)
    end_day = int(np.datetime64(end.isoformat()[:10], "D").astype(np.int64))
    clients, person = _clients(rng, n_clients)
    courses = _courses(rng, person, end_day)
    madrs = _madrs_times(rng, courses)  # shared: follow-up ratings are also assessment sessions
    cutoff = end_day * MINUTES_PER_DAY
    # Scores first: whether a confirmatory visit (an assessment session) happens depends on them.
    scores, visits = _scores(rng, courses, madrs, person, cutoff)
    return {"clients": clients, "sessions": _sessions(rng, courses, madrs, visits, person, cutoff), "scores": scores}


# --- helpers ------------------------------------------------------------------------------------


def _choice(rng: np.random.Generator, p, size: int) -> np.ndarray:
    """Category indices drawn with probabilities `p` (one row of p, or one row per draw)."""
    cum = np.cumsum(np.asarray(p, dtype=float), axis=-1)
    u = rng.random(size) * cum[..., -1]
    if cum.ndim == 1:
        return np.searchsorted(cum, u, side="right")
    return np.minimum((u[:, None] >= cum).sum(axis=1), cum.shape[1] - 1)


def _uniform_int(rng: np.random.Generator, low, high, size) -> np.ndarray:
    """Integers in [low, high] inclusive, with per-element bounds."""
    low, high = np.asarray(low), np.asarray(high)
    return (low + np.floor(rng.random(size) * (high - low + 1))).astype(np.int64)


def _clock(rng: np.random.Generator, size, first_hour: int, last_hour: int, step: int = 15) -> np.ndarray:
    """Minutes after midnight on a `step`-minute grid between the given hours, as booked slots are."""
    slots = (last_hour - first_hour) * 60 // step
    return first_hour * 60 + step * rng.integers(0, slots, size)


def _client_ids(numbers: np.ndarray) -> np.ndarray:
    """Pseudonymous codes "K000123" for the given numbers."""
    width = max(6, len(str(len(numbers))))
    return np.char.add("K", np.char.zfill(numbers.astype(str), width)).astype(object)


def _iso(minutes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """ISO 8601 text without offset ("YYYY-MM-DDTHH:MM:SS") for minutes since 1970-01-01.

    Joins a small table of day strings with one of clock strings; formatting each timestamp on its
    own is about five times slower at a million rows."""
    day, minute = np.divmod(minutes, MINUTES_PER_DAY)
    first = int(day.min()) if len(day) else 0
    days = np.datetime_as_string(np.arange(first, int(day.max()) + 1 if len(day) else first).astype("datetime64[D]"))
    clock = [f"{h:02d}:{m:02d}:00" for h in range(24) for m in range(60)]
    text = pc.binary_join_element_wise(
        pa.array(days).take(pa.array(day - first)), pa.array(clock).take(pa.array(minute)), "T"
    )
    return pd.array(text, dtype="str")


# --- clients and courses ------------------------------------------------------------------------


def _clients(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The clients frame plus the per-client indices later draws depend on."""
    site = _choice(rng, SITE_P, n)
    condition = _choice(rng, CONDITION_P, n)
    # Referral to ketamine usually follows several failed trials; TRD by definition at least two.
    prior = rng.poisson(np.where(condition == TRD, 3.2, 1.6), n)
    prior = np.clip(np.where(condition == TRD, np.maximum(prior, 2), prior), 0, 8)
    lo, hi = SITE_CLINICIANS[site, 0], SITE_CLINICIANS[site, 1] - 1
    # Codes are handed out in random order, so a code says nothing about when a client started.
    id_number = rng.permutation(n) + 1
    person = {
        "id_number": id_number,
        "client_id": _client_ids(id_number),
        "site": site,
        "condition": condition,
        "prior": prior,
        "clinician": _uniform_int(rng, lo, hi, n),
    }
    rows = np.argsort(id_number)
    frame = (
        pd.DataFrame(
            {
                "client_id": person["client_id"],
                "site": np.array(SITES, dtype=object)[site],
                "condition": np.array(CONDITIONS, dtype=object)[condition],
                "age_band": np.array(AGE_BANDS, dtype=object)[_choice(rng, AGE_P, n)],
                "sex": np.array(SEXES, dtype=object)[_choice(rng, SEX_P, n)],
                "prior_treatments": prior.astype(np.int64),
            }
        )
        .iloc[rows]
        .reset_index(drop=True)
    )
    return frame, person


def _baseline_phq9(rng: np.random.Generator, n: int) -> np.ndarray:
    """True baseline PHQ-9: mostly moderate to severe (mean ~17), a few mild, a few already remitted."""
    kind = _choice(rng, (0.04, 0.08, 0.88), n)
    return np.select(
        [kind == 0, kind == 1],
        [rng.uniform(1.0, 4.5, n), rng.uniform(5.0, 9.5, n)],
        np.clip(rng.normal(18.5, 3.8, n), 10.0, 27.0),
    )


def _courses(rng: np.random.Generator, person: dict, end_day: int) -> dict[str, np.ndarray]:
    """One course per client, plus a second course for ~3% (mostly relapsers) after a 90+ day gap."""
    n = len(person["site"])
    client = np.arange(n)
    modality = _choice(rng, MODALITY_P[person["condition"]], n)
    # A practice that grows: half the starts uniform, half weighted towards recent months.
    u = rng.random(n)
    recency = np.where(rng.random(n) < 0.5, u, np.sqrt(u))
    start_day = end_day - 1 - np.floor((1 - recency) * (HISTORY_DAYS - 1)).astype(np.int64)
    first = _course(rng, client, person, modality, _baseline_phq9(rng, n), start_day)

    # Second courses: re-treatment of relapsers mostly, started 91-240 days after the last dose.
    last_dose_day = start_day + first["dose_day"][client, first["n_doses"] - 1]
    start2 = last_dose_day + rng.integers(91, 241, n)
    eligible = (first["n_ind"] >= 3) & (start2 <= end_day - 14)
    weight = np.where(first["relapse"], 8.0, 1.0) * eligible
    p = np.minimum(1.0, weight * 0.03 * n / max(weight.sum(), 1.0))
    again = np.flatnonzero(rng.random(n) < p)
    m = len(again)
    switch = rng.random(m) < 0.2
    modality2 = np.where(switch, _choice(rng, MODALITY_P[person["condition"][again]], m), modality[again])
    base2 = np.clip(first["base"][again, PHQ9] * rng.uniform(0.8, 1.05, m), 0.0, 27.0)
    second = _course(rng, again, person, modality2, base2, start2[again])
    # Course-1 questionnaires (confirmatory ones included) stop at least two weeks before the new
    # preparation session.
    first["horizon"][again] = np.minimum(first["horizon"][again], start2[again] - start_day[again] - 25)
    first["confirm_until"][again] = np.minimum(first["confirm_until"][again], first["horizon"][again])
    return {k: np.concatenate([first[k], second[k]]) for k in first}


def _course(
    rng: np.random.Generator,
    client: np.ndarray,
    person: dict,
    modality: np.ndarray,
    base_phq9: np.ndarray,
    start_day: np.ndarray,
) -> dict[str, np.ndarray]:
    """Draw everything about a set of courses: plan, dropout, dose times, trajectory, follow-up."""
    n = len(client)
    condition, prior = person["condition"][client], person["prior"][client]
    integration = rng.random(n) < INTEGRATION_P[modality]

    # Response class; each prior failed treatment beyond three makes non-response a little likelier.
    class_p = CLASS_P[modality].copy()
    shift = np.clip(0.02 * (prior - 3), -0.06, 0.10)
    class_p[:, :NON] *= ((1 - class_p[:, NON] - shift) / (1 - class_p[:, NON]))[:, None]
    class_p[:, NON] += shift
    cls = _choice(rng, class_p, n)
    responder = cls != NON

    # Planned induction, cut short by dropout.
    n_plan = 4 + _choice(rng, PLAN_P[modality], n)
    u = rng.random(n)
    stop = np.where(
        u < STOP_AFTER_1_P[cls],
        1,
        np.where(u < STOP_AFTER_1_P[cls] + STOP_EARLY_P[cls], rng.integers(2, 6, n), MAX_INDUCTION),
    )
    n_ind = np.minimum(n_plan, stop)
    completed = n_ind == n_plan
    maintained = completed & (rng.random(n) < MAINTENANCE_P[modality] * np.where(responder, 1.0, 0.1))
    n_boost = np.where(maintained, np.clip(1 + rng.poisson(3.0, n), 1, MAX_BOOSTERS), 0)
    dose_day, dose_min = _dose_schedule(rng, modality, n_ind, n_boost)
    n_doses = n_ind + n_boost
    rows = np.arange(n)
    last_ind_day = dose_day[rows, n_ind - 1]
    last_dose_day = dose_day[rows, n_doses - 1]

    # Trajectory: improvement fraction f(t) of baseline severity (see _improvement).
    r_max = np.where(responder, rng.uniform(0.5, 0.9, n), rng.uniform(0.0, 0.35, n))
    r_max = np.minimum(r_max + 0.02 * integration, 0.98)
    tau = np.select(
        [cls == RAPID, cls == NON], [rng.uniform(0.3, 2.0, n), rng.uniform(3.0, 14.0, n)], rng.uniform(5.0, 12.0, n)
    )
    t50 = rng.uniform(35.0, 70.0, n)
    # Relapse is likelier without maintenance; integration therapy helps durability a little.
    p_relapse = np.where(maintained, 0.18, 0.40) * np.where(integration, 0.65, 1.0)
    relapse = responder & (rng.random(n) < p_relapse)
    t_relapse = last_ind_day + rng.uniform(14.0, 150.0, n)
    t_relapse = np.where(cls == LATE, np.maximum(t_relapse, t50 + 30.0), t_relapse)
    relapse_depth = np.where(relapse, rng.uniform(0.6, 1.0, n), 0.0)

    # Follow-up horizon (days after dose 1): stayers answer for 6-12 months, dropouts rarely.
    long_follow_up = rng.random(n) < 0.55 + 0.2 * responder
    horizon = np.where(long_follow_up, rng.uniform(182, 365, n), rng.uniform(35, 150, n))
    dropout_horizon = np.where(rng.random(n) < 0.35, rng.uniform(30, 63, n), last_ind_day + rng.uniform(2, 14, n))
    horizon = np.where(completed, horizon, dropout_horizon)
    horizon = np.where(n_boost > 0, np.maximum(horizon, last_dose_day + 21), horizon)

    # Baselines of the other instruments, correlated with PHQ-9.
    gad = np.where(condition == ANXIETY, rng.normal(15.0, 3.0, n), 0.55 * base_phq9 + rng.normal(2.0, 3.0, n))
    base = np.column_stack(
        [
            base_phq9,
            np.clip(gad, 0, 21),
            np.clip(rng.normal(52.0, 10.0, n), 20, 80),
            np.clip(8.0 + 1.35 * base_phq9 + rng.normal(0.0, 3.0, n), 0, 60),
        ]
    )
    gain = np.column_stack([np.ones(n), rng.uniform(0.75, 1.05, n), rng.uniform(0.6, 1.0, n), np.ones(n)])

    # Suicidal ideation (PHQ-9 item 9): commoner in severe depression; resolves as f(t) passes si_resolve.
    p_si = np.clip(0.04 + 0.032 * (base_phq9 - 10), 0.02, 0.6)
    si_base = np.where(rng.random(n) < p_si, 1 + _choice(rng, (0.6, 0.3, 0.1), n), 0)
    emerges = (si_base == 0) & (rng.random(n) < 0.05)
    emerge_from = np.where(emerges, rng.uniform(7, 150, n), np.inf)

    # Preparation 1-10 days before dose 1; baseline there, or on dosing day shortly before the dose.
    prep = -rng.integers(1, 11, n) * MINUTES_PER_DAY + _clock(rng, n, 9, 17) - dose_min[:, 0]
    baseline = np.where(rng.random(n) < 0.6, prep + rng.integers(10, 41, n), -rng.integers(30, 121, n))

    return {
        "client": client,
        "condition": condition,
        "modality": modality,
        "integration": integration,
        "cls": cls,
        "n_ind": n_ind,
        "n_doses": n_doses,
        "start": start_day * MINUTES_PER_DAY + dose_min[:, 0],
        "dose_day": dose_day,
        "dose_off": dose_day * MINUTES_PER_DAY + dose_min - dose_min[:, :1],
        "r_max": r_max,
        "tau": tau,
        "t50": t50,
        "relapse": relapse,
        "t_relapse": t_relapse,
        "relapse_depth": relapse_depth,
        "horizon": horizon,
        "confirm_until": horizon + CONFIRM_GAP_DAYS[1] + 1,  # a re-assessment may follow the last questionnaire
        "base": base,
        "gain": gain,
        "acute": rng.uniform(0.05, 0.3, n),
        "si_base": si_base,
        "si_resolve": rng.uniform(0.25, 0.55, n),
        "emerge_from": emerge_from,
        "emerge_to": emerge_from + rng.uniform(14, 60, n),
        "has_gad7": rng.random(n) < np.where(condition == ANXIETY, 0.9, 0.7),
        "prep_off": prep,
        "baseline_off": baseline,
        "weight_kg": np.clip(rng.normal(78.0, 16.0, n), 45.0, 140.0),
        "escalate": rng.random(n) < 0.3,
        "dose_start": rng.integers(0, 3, n),
        "dose_cap": rng.integers(0, 3, n),
    }


def _dose_schedule(
    rng: np.random.Generator, modality: np.ndarray, n_ind: np.ndarray, n_boost: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Dose days after dose 1 and clock minutes, both (n, MAX_DOSES); doses past n_ind + n_boost are unused.

    Induction doses come every few days (per modality); boosters every 3-6 weeks after induction."""
    n = len(modality)
    lo, hi = GAP_DAYS[modality, 0], GAP_DAYS[modality, 1]
    gaps = _uniform_int(rng, lo[:, None], hi[:, None], (n, MAX_INDUCTION - 1))
    induction = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(gaps, axis=1)], axis=1)
    last = induction[np.arange(n), n_ind - 1]
    boosters = last[:, None] + np.cumsum(rng.integers(21, 43, (n, MAX_BOOSTERS)), axis=1)
    k = np.arange(MAX_INDUCTION)
    # Boosters follow the last induction dose actually given, so shift them into the free slots.
    days = np.concatenate([induction, boosters], axis=1)
    is_dose = np.concatenate([k < n_ind[:, None], k < n_boost[:, None]], axis=1)
    days = np.sort(np.where(is_dose, days, UNUSED_DAY), axis=1)
    return days, _clock(rng, (n, MAX_DOSES), 8, 17)


# --- trajectories -------------------------------------------------------------------------------


def _improvement(c: dict, course: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Fraction of baseline severity gone at t days after dose 1 (0 = unchanged, 1 = symptom-free).

    Rapid, gradual and non-responders approach their plateau exponentially (time constant tau); late
    responders improve a little, then respond around day t50; relapsers lose most of it after t_relapse."""
    t = np.maximum(t, 0.0)
    cls = c["cls"][course]
    onset = 1.0 - np.exp(-t / c["tau"][course])
    late = 0.15 * (1.0 - np.exp(-t / 7.0)) + 0.85 / (1.0 + np.exp(-(t - c["t50"][course]) / 6.0))
    f = c["r_max"][course] * np.where(cls == LATE, late, onset)
    lost = c["relapse_depth"][course] / (1.0 + np.exp(-np.clip(t - c["t_relapse"][course], -60, 60) / 4.0))
    return f * (1.0 - lost)


def _acute(c: dict, course: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Transient extra improvement after the latest dose (peaks within hours, fades over days)."""
    doses = c["dose_off"][course]
    before = np.where(
        (doses <= off[:, None]) & (np.arange(MAX_DOSES) < c["n_doses"][course][:, None]), doses, -np.inf
    ).max(axis=1)
    hours = np.where(np.isfinite(before), (off - before) / 60.0, np.inf)
    return c["acute"][course] * (1.0 - np.exp(-hours / 1.5)) * np.exp(-hours / 60.0)


# --- sessions -----------------------------------------------------------------------------------


def _sessions(
    rng: np.random.Generator, c: dict, madrs: tuple, visits: tuple, person: dict, cutoff: int
) -> pd.DataFrame:
    """Dosing, integration, preparation and assessment sessions (MADRS follow-ups and confirmatory
    re-assessments `visits`), one row each."""
    ids = person["client_id"]
    course, k = np.nonzero(np.arange(MAX_DOSES) < c["n_doses"][:, None])
    dose_off = c["dose_off"][course, k]
    mod = c["modality"][course]

    # Integration the day after a dose (two days when the next dose is not that close).
    gap = c["dose_day"][course, np.minimum(k + 1, MAX_DOSES - 1)] - c["dose_day"][course, k]
    gap = np.where(k + 1 < c["n_doses"][course], gap, 99)
    p_int = np.where(k < c["n_ind"][course], 0.8, 0.6)
    has_int = c["integration"][course] & (rng.random(len(k)) < p_int)
    shift = 1 + ((gap >= 3) & (rng.random(len(k)) < 0.5))
    int_day = c["dose_day"][course, k] + shift
    int_off = int_day * MINUTES_PER_DAY + _clock(rng, len(k), 9, 18) - c["start"][course] % MINUTES_PER_DAY

    madrs_course, madrs_off, madrs_kind = madrs
    follow_up = madrs_kind >= 2  # ratings after the dosing visit are separate assessment visits

    n_courses = len(c["client"])
    parts = [  # (course, offset minutes, session type)
        (course, dose_off, DOSING),
        (course[has_int], int_off[has_int], INTEGRATION),
        (np.arange(n_courses), c["prep_off"], PREPARATION),
        (madrs_course[follow_up], madrs_off[follow_up], ASSESSMENT),
        (visits[0], visits[1], ASSESSMENT),
    ]
    crs = np.concatenate([p[0] for p in parts])
    off = np.concatenate([p[1] for p in parts])
    stype = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    at = c["start"][crs] + off
    n_dose_rows = len(course)

    modality = np.full(len(crs), None, dtype=object)
    modality[:n_dose_rows] = _modality_labels(rng, mod)
    dose_mg = np.full(len(crs), np.nan)
    dose_mg[:n_dose_rows] = _dose_mg(c, course, k, mod)

    client = c["client"][crs]
    site = person["site"][client]
    clinician = _clinicians(rng, person["clinician"][client], site)

    rows = _row_order(at <= cutoff, person["id_number"][client], at, stype)
    return pd.DataFrame(
        {
            "client_id": ids[client[rows]],
            "session_at": _iso(at[rows]),
            "session_type": SESSION_TYPES[stype[rows]],
            "modality": modality[rows],
            "dose_mg": dose_mg[rows],
            "clinician_id": CLINICIANS[clinician[rows]],
            "site": np.array(SITES, dtype=object)[site[rows]],
        }
    )


def _modality_labels(rng: np.random.Generator, mod: np.ndarray) -> np.ndarray:
    """Canonical modality labels, with ~5% replaced by an alias as clinic exports write them."""
    labels = np.array(MODALITIES, dtype=object)[mod]
    flat = np.array([a for aliases in MODALITY_ALIASES for a in aliases], dtype=object)
    count = np.array([len(a) for a in MODALITY_ALIASES])
    first = np.cumsum(count) - count
    alias = np.flatnonzero(rng.random(len(mod)) < ALIAS_SHARE)
    pick = np.floor(rng.random(len(alias)) * count[mod[alias]]).astype(np.int64)
    labels[alias] = flat[first[mod[alias]] + pick]
    return labels


def _dose_mg(c: dict, course: np.ndarray, k: np.ndarray, mod: np.ndarray) -> np.ndarray:
    """Plausible doses: IV 0.5 mg/kg (some escalate to 0.75), IM 40-80, SL titrated 100-300, esketamine 56/84."""
    step = np.minimum(k, c["n_ind"][course] - 1)  # boosters repeat the last induction dose
    escalate = c["escalate"][course]
    start, cap = c["dose_start"][course], c["dose_cap"][course]
    iv = c["weight_kg"][course] * np.where(escalate & (step >= 3), 0.75, 0.5)
    im = np.minimum(40.0 + 10.0 * start + np.where(escalate, 10.0 * np.maximum(step - 1, 0), 0.0), 80.0)
    sl = np.minimum(100.0 + 50.0 * np.minimum(start, 1) + 50.0 * step, 200.0 + 50.0 * cap)
    esk = np.where((step >= 1) & (start >= 1), 84.0, 56.0)
    return np.round(np.choose(mod, [iv, im, sl, esk]), 1)


def _clinicians(rng: np.random.Generator, primary: np.ndarray, site: np.ndarray) -> np.ndarray:
    """Mostly the client's own clinician; sometimes a colleague at the site, rarely cover from another site."""
    n = len(primary)
    u = rng.random(n)
    colleague = _uniform_int(rng, SITE_CLINICIANS[site, 0], SITE_CLINICIANS[site, 1] - 1, n)
    anyone = rng.integers(0, len(CLINICIANS), n)
    return np.where(u < 0.8, primary, np.where(u < 0.95, colleague, anyone))


def _madrs_times(rng: np.random.Generator, c: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clinician MADRS ratings for IV and IM courses (the clinic's two in-office injectable modalities): -1 h, +4 h,
    +24 h, +72 h after dose 1, +24 h after dose 2, week 4.

    Returns (course, minutes after dose 1, kind 0-5). Kinds 0-1 happen during the dosing visit."""
    iv = np.flatnonzero(np.isin(c["modality"], [IV, IM]))
    n = len(iv)
    n_ind = c["n_ind"][iv]
    dose2 = c["dose_off"][iv, 1]
    off = np.column_stack(
        [
            -rng.integers(45, 76, n),
            240 + rng.integers(-10, 11, n),
            MINUTES_PER_DAY + rng.integers(-120, 121, n),
            3 * MINUTES_PER_DAY + rng.integers(-180, 181, n),
            dose2 + MINUTES_PER_DAY + rng.integers(-120, 121, n),
            (28 + rng.integers(-3, 4, n)) * MINUTES_PER_DAY + _clock(rng, n, 9, 17) - c["start"][iv] % MINUTES_PER_DAY,
        ]
    )
    dropped = n_ind == 1
    u = rng.random((n, 6))
    present = np.column_stack(
        [
            np.ones(n, bool),
            np.ones(n, bool),
            u[:, 2] < np.where(dropped, 0.6, 0.95),
            u[:, 3] < np.where(dropped, 0.5, 0.9),
            (n_ind >= 2) & (u[:, 4] < 0.9),
            (c["horizon"][iv] >= 28) & (u[:, 5] < 0.85),
        ]
    )
    row, kind = np.nonzero(present)
    return iv[row], off[row, kind], kind


# --- scores -------------------------------------------------------------------------------------


def _scores(
    rng: np.random.Generator, c: dict, madrs: tuple, person: dict, cutoff: int
) -> tuple[pd.DataFrame, tuple[np.ndarray, np.ndarray]]:
    """Long-form scores: PHQ-9 (with items), GAD-7 (with items), PCL-5 for PTSD, MADRS for IV and IM.

    Also returns the confirmatory visits (course, minutes after dose 1), which are assessment sessions."""
    n = len(c["client"])
    # Questionnaire occasions: baseline plus the follow-up grid, jittered, up to the horizon.
    grid = FOLLOW_UP_DAYS[None, :] + np.where(
        FOLLOW_UP_DAYS <= 28,
        rng.integers(-2, 3, (n, len(FOLLOW_UP_DAYS))),
        rng.integers(-5, 6, (n, len(FOLLOW_UP_DAYS))),
    )
    answered = (grid <= c["horizon"][:, None]) & (rng.random(grid.shape) > MISSING_P)
    course, j = np.nonzero(answered)
    clock = rng.integers(7 * 60, 22 * 60, len(course))  # questionnaires are filled in at any hour
    grid_off = grid[course, j] * MINUTES_PER_DAY + clock - c["start"][course] % MINUTES_PER_DAY
    q_course = np.concatenate([np.arange(n), course])
    q_off = np.concatenate([c["baseline_off"], grid_off])
    q_day = np.concatenate([np.full(n, -1), FOLLOW_UP_DAYS[j]])

    gad = c["has_gad7"][q_course] & (rng.random(len(q_course)) < 0.95)
    # PCL-5 asks about the past month, so PTSD clients answer it at baseline and monthly only.
    pcl = (c["condition"][q_course] == PTSD) & ((q_day < 0) | (q_day >= 28))
    m_course, m_off, _ = madrs
    crs, off, inst = _stack(
        [
            (q_course, q_off, PHQ9),
            (q_course[gad], q_off[gad], GAD7),
            (q_course[pcl], q_off[pcl], PCL5),
            (m_course, m_off, MADRS),
        ]
    )
    f, score = _draw_scores(rng, c, crs, off, inst)

    # Confirmatory visits, decided on the questionnaire scores the clinic has seen (PHQ-9 and GAD-7).
    n_q = len(q_course)
    gad_score = np.full(n_q, -1)
    gad_score[gad] = score[n_q : n_q + np.count_nonzero(gad)]
    visits, rows = _confirmatory_visits(rng, c, grid, course, j, {PHQ9: score[:n_q], GAD7: gad_score})
    crs, off, inst, f, score = (np.concatenate([a, b]) for a, b in zip((crs, off, inst, f, score), rows, strict=True))

    items = np.zeros((len(crs), 9), dtype=np.int8)  # only PHQ-9 (9) and GAD-7 (7) carry items
    phq = np.flatnonzero(inst == PHQ9)
    items[phq] = _phq9_items(rng, c, crs[phq], off[phq] / MINUTES_PER_DAY, f[phq], score[phq])
    gad_rows = np.flatnonzero(inst == GAD7)
    items[gad_rows, :7] = _split_total(rng, score[gad_rows], GAD7_ITEM_WEIGHTS)

    client = c["client"][crs]
    at = c["start"][crs] + off
    rows = _row_order(at <= cutoff, person["id_number"][client], at, inst)
    inst, items = inst[rows], items[rows]
    n_items = np.select([inst == PHQ9, inst == GAD7], [9, 7], 0)
    columns = {
        "client_id": person["client_id"][client[rows]],
        "assessed_at": _iso(at[rows]),
        "instrument": INSTRUMENTS[inst],
        "score": score[rows],
    }
    for i in range(N_ITEM_COLUMNS):
        values = items[:, i].astype(np.int64) if i < items.shape[1] else np.zeros(len(rows), np.int64)
        columns[f"item_{i + 1}"] = pd.arrays.IntegerArray(values, n_items <= i)
    return pd.DataFrame(columns), visits


def _stack(parts: list[tuple[np.ndarray, np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(course, offset, instrument) parts concatenated into three row arrays."""
    crs = np.concatenate([p[0] for p in parts])
    off = np.concatenate([p[1] for p in parts])
    inst = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    return crs, off, inst


def _draw_scores(
    rng: np.random.Generator, c: dict, crs: np.ndarray, off: np.ndarray, inst: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Improvement fraction and observed total per row: the course's trajectory plus rating noise."""
    f = _improvement(c, crs, off / MINUTES_PER_DAY)
    is_madrs = inst == MADRS
    f[is_madrs] = np.minimum(f[is_madrs] + _acute(c, crs[is_madrs], off[is_madrs]), 0.97)
    f = np.minimum(f * c["gain"][crs, inst], 1.0)
    true = c["base"][crs, inst] * (1.0 - f)
    score = np.clip(np.rint(true + rng.normal(0.0, NOISE_SD[inst])), 0, SCORE_MAX[inst]).astype(np.int64)
    return f, score


def _confirmatory_visits(
    rng: np.random.Generator,
    c: dict,
    grid: np.ndarray,
    course: np.ndarray,
    j: np.ndarray,
    occasion_scores: dict[int, np.ndarray],
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]:
    """Re-assessment visits 6-14 days after a monthly questionnaire on which a client who had responded
    (a 50% reduction from the observed baseline) no longer does, on PHQ-9 or GAD-7, and their scores.

    `occasion_scores` maps PHQ9 and GAD7 to observed totals over the questionnaire occasions (the n
    baselines, then the answered grid cells (course, j) in row-major order), -1 where not given. Once a
    visit has confirmed an instrument's lapse, the clinic acts on that relapse rather than re-assessing
    its later lapses. Returns ((course, minutes after dose 1) per visit, (course, minutes, instrument,
    improvement f, score) per score row)."""
    n, n_grid = grid.shape
    base, lapsed = {}, {}  # per instrument: observed baseline (n,), lapse on the grid (n, n_grid)
    for instrument, values in occasion_scores.items():
        b = values[:n, None]
        follow = np.full((n, n_grid), -1)
        follow[course, j] = values[n:]
        given = (follow >= 0) & (b > 0)
        responded = given & (follow <= 0.5 * b)
        had_responded = np.zeros_like(responded)
        had_responded[:, 1:] = np.logical_or.accumulate(responded, axis=1)[:, :-1]
        base[instrument] = b[:, 0]
        lapsed[instrument] = had_responded & given & ~responded
    # Weekly questionnaires during induction re-assess anyway; from week 4 the next one is a month away.
    any_lapse = np.logical_or.reduce(list(lapsed.values())) & (FOLLOW_UP_DAYS >= CONFIRM_FROM_DAY)
    v_course, v_j = np.nonzero(any_lapse)  # sorted by course, then time
    m = len(v_course)
    day = grid[v_course, v_j] + rng.integers(CONFIRM_GAP_DAYS[0], CONFIRM_GAP_DAYS[1] + 1, m)
    v_off = day * MINUTES_PER_DAY + _clock(rng, m, 9, 17) - c["start"][v_course] % MINUTES_PER_DAY
    attended = (day <= c["confirm_until"][v_course]) & (rng.random(m) > CONFIRM_MISSED_P)

    # PHQ-9 at every visit, GAD-7 as at the client's other questionnaires; the trajectory decides.
    gad = c["has_gad7"][v_course] & (rng.random(m) < 0.95)
    visit = np.concatenate([np.arange(m), np.flatnonzero(gad)])
    crs, off, inst = _stack([(v_course, v_off, PHQ9), (v_course[gad], v_off[gad], GAD7)])
    f, score = _draw_scores(rng, c, crs, off, inst)
    # A visit is kept when it re-assesses a lapse of an instrument that no earlier visit of the course has
    # confirmed (still under a 50% reduction). Counting confirmations of all attended visits is exact: a
    # visit dropped for that reason only re-confirms instruments that were confirmed already.
    first_visit = np.searchsorted(v_course, v_course)  # the course's first candidate visit
    kept = np.zeros(m, bool)
    for instrument, b in base.items():
        trigger = lapsed[instrument][v_course, v_j]
        confirmed = np.zeros(m, bool)
        at = np.flatnonzero(inst == instrument)
        confirmed[visit[at]] = score[at] > 0.5 * b[crs[at]]
        confirmed &= attended & trigger
        confirmed_before = np.cumsum(confirmed) - confirmed
        kept |= trigger & (confirmed_before == confirmed_before[first_visit])
    kept &= attended
    row_kept = kept[visit]
    scores = (crs[row_kept], off[row_kept], inst[row_kept], f[row_kept], score[row_kept])
    return (v_course[kept], v_off[kept]), scores


def _phq9_items(
    rng: np.random.Generator, c: dict, course: np.ndarray, t: np.ndarray, f: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """PHQ-9 items 1-9 (0-3) summing to `total`; item 9 follows the course's suicidal-ideation story."""
    si = c["si_base"][course]
    # Baseline ideation persists until improvement passes the client's threshold (and is sometimes
    # not endorsed on a given day); emergent ideation appears for a window in a few clients.
    present = (si > 0) & (f < c["si_resolve"][course]) & (rng.random(len(course)) > 0.1)
    item9 = np.where(present, si, 0)
    emergent = (t >= c["emerge_from"][course]) & (t <= c["emerge_to"][course])
    item9 = np.where(emergent, 1 + (rng.random(len(course)) < 0.25), item9)
    item9 = np.clip(item9, total - 24, total)  # the other eight items hold at most 24
    rest = _split_total(rng, total - item9, PHQ9_ITEM_WEIGHTS)
    return np.column_stack([rest, item9])


def _split_total(rng: np.random.Generator, totals: np.ndarray, weights: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Split each total into len(weights) items of 0-3 that sum to it, heavier-weighted items filling first.

    Each item is three one-point slots; a weighted random order of all slots (Efraimidis-Spirakis keys)
    takes the first `total` of them."""
    n_items = len(weights)
    slot_w = np.repeat(weights, 3)
    out = np.empty((len(totals), n_items), dtype=np.int8)
    for lo in range(0, len(totals), chunk):  # chunks only bound the memory of the sort
        t = totals[lo : lo + chunk]
        m = len(t)
        keys = np.log(1.0 - rng.random((m, slot_w.size))) / slot_w
        order = np.argsort(-keys, axis=1, kind="stable")
        taken = np.arange(slot_w.size) < t[:, None]
        flat = (np.arange(m)[:, None] * n_items + order // 3)[taken]
        out[lo : lo + chunk] = np.bincount(flat, minlength=m * n_items).reshape(m, n_items)
    return out


# --- output -------------------------------------------------------------------------------------


def _row_order(keep: np.ndarray, client: np.ndarray, at: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Indices of the kept rows sorted by (client, time, kind), keeping the first row of any repeated key.

    Independent draws could in principle land two rows of one kind on the same minute; the key must
    stay unique, so the rare repeat is dropped."""
    idx = np.flatnonzero(keep)
    idx = idx[np.lexsort((kind[idx], at[idx], client[idx]))]
    key = (client[idx], at[idx], kind[idx])
    repeat = np.zeros(len(idx), bool)
    repeat[1:] = np.logical_and.reduce([k[1:] == k[:-1] for k in key])
    return idx[~repeat]
