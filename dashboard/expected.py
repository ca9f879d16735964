"""Expected response from the clinic's own history, off-track alerts, and the alerts' quality (issue 17, parts 1
and 3).

The expected course of a score is its upper quantile (settings.expected_quantile, 0.75) by time since the first
dose, conditional on the baseline score and the modality: a linear quantile regression (statsmodels QuantReg) of
the score on the baseline, log(1 + day), log(1 + day)² and the modality (a 0/1 column per modality but the first),
fitted on the follow-up scores up to day EXPECTED_MAX_DAY of the clinic's first courses. Out of sample: clients are
split into FOLDS folds by a hash of their id, and each fold's band comes from the model fitted on the other folds,
so a client's own scores never inform their band. A fold's model needs expected_min_clients clients in the others.

A client is off track at a follow-up score after their second dose (doses before it >= 2) that lies above their
band. The alert's quality on past courses: among clients evaluable at the primary timepoint who had a score in the
alert window (after the second dose, by dose ALERT_DOSE or day ALERT_DAY), PPV = the flagged who did not respond
there over the flagged, sensitivity = the non-responders who were flagged over the non-responders, each with its
Wilson interval."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd

from dashboard import privacy, stats
from dashboard.cohort import Cohort, OutcomeError
from dashboard.queries import run

FOLDS = 5
EXPECTED_MAX_DAY = 56.0  # the expected course covers the first eight weeks
ALERT_DOSE, ALERT_DAY = 4, 14.0  # "flagged by dose 4 or week 2"
MAX_TRAINING_ROWS = 200_000  # a fold's model reads at most this many scores (a stable sample by client)


def _fold(client_id: str) -> int:
    return int(hashlib.sha256(str(client_id).encode()).hexdigest()[:8], 16) % FOLDS


def _design(rows: pd.DataFrame, modalities: list[str]) -> np.ndarray:
    t = np.log1p(rows.day.to_numpy(dtype=float))
    columns = [np.ones(len(rows)), rows.baseline.to_numpy(dtype=float), t, t * t]
    columns += [(rows.modality == m).to_numpy(dtype=float) for m in modalities[1:]]
    return np.column_stack(columns)


def bands(con, cohort: Cohort, folds: set[int] | None = None) -> pd.DataFrame:
    """Every follow-up score of the cohort's first courses (up to EXPECTED_MAX_DAY) with its out-of-sample expected
    upper bound `expected` (NaN where the fold's model lacked history) and `off_track` (after the second dose,
    above the bound). Columns: client_id, baseline, modality, day, doses_before, score, pct_change_primary,
    responded_primary, fold, expected, off_track."""
    import statsmodels.api as sm

    settings = cohort.settings
    rows = run(
        con,
        "views/expected_course_rows",
        cohort=cohort.grouped("none").sql(),
        max_day=EXPECTED_MAX_DAY,
        response_pct=settings.response_pct,
    )
    if rows.empty:
        return rows.assign(fold=[], expected=[], off_track=[])
    rows["fold"] = [_fold(c) for c in rows.client_id]
    modalities = sorted(rows.modality.astype(str).unique())
    rows["expected"] = np.nan
    for fold in sorted(folds) if folds is not None else range(FOLDS):
        train = rows[rows.fold != fold]
        if train.client_id.nunique() < settings.expected_min_clients:
            continue
        if len(train) > MAX_TRAINING_ROWS:
            keep = sorted(train.client_id.unique(), key=lambda c: hashlib.sha256(f"s{c}".encode()).hexdigest())
            share = MAX_TRAINING_ROWS / len(train)
            train = train[train.client_id.isin(set(keep[: max(1, int(len(keep) * share))]))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.QuantReg(train.score.to_numpy(dtype=float), _design(train, modalities)).fit(
                q=settings.expected_quantile, max_iter=2000
            )
        mine = rows.fold == fold
        rows.loc[mine, "expected"] = _design(rows[mine], modalities) @ fit.params
    rows["off_track"] = (rows.doses_before >= 2) & rows.expected.notna() & (rows.score > rows.expected)
    return rows


def client_band(con, cohort: Cohort, client_id: str) -> pd.DataFrame:
    """One client's follow-up scores with their expected upper bound (from the model of the other folds only)."""
    b = bands(con, cohort, folds={_fold(client_id)})
    return b[b.client_id == client_id][["day", "doses_before", "score", "expected", "off_track"]].reset_index(drop=True)


def off_track(con, cohort: Cohort, clients: list[str] | None = None) -> pd.DataFrame:
    """Clients off track, each at their latest off-track score, with the reason, sorted by how far above their band.
    Columns: client_id, day, doses_before, score, expected, excess, reason. For use inside the clinic (client
    ids)."""
    folds = None if clients is None else {_fold(c) for c in clients}
    b = bands(con, cohort, folds)
    if clients is not None:
        b = b[b.client_id.isin(set(clients))]
    if b.empty:
        return pd.DataFrame(columns=["client_id", "day", "doses_before", "score", "expected", "excess", "reason"])
    flagged = b[b.off_track].sort_values(["client_id", "day"]).groupby("client_id").tail(1)
    out = flagged.assign(excess=flagged.score - flagged.expected)
    out["reason"] = [
        f"score {r.score:g} at dose {int(r.doses_before)} (day {r.day:.0f}); expected ≤ {np.floor(r.expected):g}"
        for r in out.itertuples()
    ]
    return out.sort_values("excess", ascending=False)[
        ["client_id", "day", "doses_before", "score", "expected", "excess", "reason"]
    ].reset_index(drop=True)


def alert_quality(con, cohort: Cohort, min_cell: int | None = None) -> pd.DataFrame:
    """PPV and sensitivity of 'off track by dose ALERT_DOSE or day ALERT_DAY' for non-response at the primary
    timepoint, on the clinic's past first courses, with Wilson intervals. One row per measure: measure, numerator,
    denominator, rate, ci_low, ci_high, suppressed (counts rounded and small cells hidden for a rounded cohort)."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    b = bands(con, cohort)
    if b.empty or b.expected.isna().all():
        raise OutcomeError(
            f"too little history for the expected course: a fold's model needs {settings.expected_min_clients} "
            "clients with follow-up scores in the other folds"
        )
    window = b[(b.doses_before >= 2) & ((b.doses_before <= ALERT_DOSE) | (b.day <= ALERT_DAY)) & b.expected.notna()]
    per = window.groupby("client_id").agg(flagged=("off_track", "any"), responded=("responded_primary", "first"))
    per = per[per.responded.notna()]  # evaluable at the primary timepoint
    non = ~per.responded.astype(bool)
    flagged = per.flagged.astype(bool)
    rows = [
        {
            "measure": "PPV: flagged who did not respond",
            "numerator": int((flagged & non).sum()),
            "denominator": int(flagged.sum()),
        },
        {
            "measure": "Sensitivity: non-responders flagged",
            "numerator": int((flagged & non).sum()),
            "denominator": int(non.sum()),
        },
    ]
    f = pd.DataFrame(rows)
    f["rate"] = np.where(f.denominator > 0, f.numerator / f.denominator.clip(lower=1), np.nan)
    f["ci_low"], f["ci_high"] = stats.wilson(f.numerator, f.denominator)
    deps = {c: ["numerator", "denominator"] for c in ("rate", "ci_low", "ci_high")}
    if cohort.rounded:
        shown, mask = privacy.disclose(f, ["numerator", "denominator"], deps, k=k)
        for c in deps:  # whole percents, as every rounded rate
            shown[c] = [None if v is None or pd.isna(v) else round(float(v), 2) for v in shown[c]]
    else:
        shown, mask = privacy.suppress_groups(f, ["numerator", "denominator"], deps, k=k)
    shown["suppressed"] = mask.any(axis=1)
    return shown
