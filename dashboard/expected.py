"""Expected response from the clinic's own history, off-track alerts, and the alerts' quality (issue 17, parts 1
and 3).

The expected course of a score is its upper quantile (settings.expected_quantile, 0.75) by time since the first
dose, conditional on the baseline score, the modality and (where there is enough data) the condition: a linear
quantile regression (statsmodels QuantReg) of the score on the baseline, log(1 + day), log(1 + day)², a 0/1 column
per modality but the first, and a 0/1 column per condition with enough clients but the most common, fitted on the
follow-up scores up to day EXPECTED_MAX_DAY of the whole clinic's first courses (whatever the filters). Out of
sample: clients are split into FOLDS folds by a hash of their id, and each fold's band comes from the model fitted
on the other folds, so a client's own scores never inform their band. A fold's model needs expected_min_clients
clients in the others. The models are fitted once (`fit`; the app caches them until the next import) and applied
in DuckDB to whatever the view shows (queries/views/expected_scores.sql, expected_alerts.sql).

A client is off track at a follow-up score after their second dose (doses before it >= 2) that lies above their
band. The alert's quality on past courses: among clients evaluable at the primary timepoint who had a score in the
alert window (after the second dose, by dose ALERT_DOSE or day ALERT_DAY), PPV = the flagged who did not respond
there over the flagged, sensitivity = the non-responders who were flagged over the non-responders, each with its
Wilson interval."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from dashboard import privacy, stats
from dashboard.cohort import Cohort, Filters, OutcomeError
from dashboard.queries import run

FOLDS = 5
EXPECTED_MAX_DAY = 56.0  # the expected course covers the first eight weeks
ALERT_DOSE, ALERT_DAY = 4, 14.0  # "flagged by dose 4 or week 2"
SAMPLE_CLIENTS = 6_000  # the models read at most this many clients' scores (a stable sample by client)
SCORE_COLUMNS = ["client_id", "baseline", "modality", "condition", "day", "doses_before", "score", "responded_primary"]


def _fold(client_id: str) -> int:
    """The client's fold: the first 8 hex digits of the SHA-256 of the id, modulo FOLDS (as the SQL computes it)."""
    return int(hashlib.sha256(str(client_id).encode()).hexdigest()[:8], 16) % FOLDS


@dataclass(frozen=True)
class Model:
    """The expected course's fitted models, one per fold: `coefficients` rows (fold, modality, intercept, baseline,
    t, t2), the intercept including the modality's term, and `condition_terms` rows (fold, condition, effect) for
    the conditions with their own term (every other condition: 0)."""

    instrument: str
    quantile: float
    coefficients: tuple[dict, ...] = ()
    condition_terms: tuple[dict, ...] = ()
    conditions: tuple[str, ...] = ()  # the conditions with their own term
    clients: int = 0  # clients whose scores the models read

    @property
    def folds(self) -> set[int]:
        return {int(r["fold"]) for r in self.coefficients}


def fit(con, cohort: Cohort) -> Model:
    """Fit the expected course of the cohort's instrument on the whole clinic's first courses (the cohort's filters
    and grouping are not used): one QuantReg per fold, on the sampled clients of the other folds."""
    import statsmodels.api as sm

    settings = cohort.settings
    clinic = replace(cohort, filters=Filters(), by="none", rounded=False)
    rows = run(
        con,
        "views/expected_training",
        cohort=clinic.sql(),
        max_day=EXPECTED_MAX_DAY,
        folds=FOLDS,
        sample_clients=SAMPLE_CLIENTS,
    )
    if rows.empty:
        return Model(cohort.instrument, settings.expected_quantile)
    # clients per condition, most first (ties: alphabetical, as groupby sorts)
    per_condition = rows.groupby("condition").client_id.nunique().sort_values(ascending=False, kind="stable")
    own = sorted(c for c in per_condition.index[1:] if per_condition[c] >= settings.expected_min_clients)
    t = np.log1p(rows.day.to_numpy(dtype=float))
    coefficients, condition_terms = [], []
    for fold in range(FOLDS):
        train = rows.fold != fold
        if rows.client_id[train].nunique() < settings.expected_min_clients:
            continue
        modalities = sorted(rows.modality[train].astype(str).unique())
        columns = [np.ones(len(rows)), rows.baseline.to_numpy(dtype=float), t, t * t]
        columns += [(rows.modality == m).to_numpy(dtype=float) for m in modalities[1:]]
        conditions = [c for c in own if (rows.condition[train] == c).any()]
        columns += [(rows.condition == c).to_numpy(dtype=float) for c in conditions]
        design = np.column_stack(columns)[train.to_numpy()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = (
                sm.QuantReg(rows.score[train].to_numpy(dtype=float), design)
                .fit(q=settings.expected_quantile, max_iter=2000)
                .params
            )
        for i, m in enumerate(modalities):
            shift = params[3 + i] if i else 0.0
            coefficients.append(
                {
                    "fold": fold,
                    "modality": m,
                    "intercept": float(params[0] + shift),
                    "baseline": float(params[1]),
                    "t": float(params[2]),
                    "t2": float(params[3]),
                }
            )
        first = 4 + len(modalities) - 1
        for j, c in enumerate(conditions):
            condition_terms.append({"fold": fold, "condition": c, "effect": float(params[first + j])})
    return Model(
        cohort.instrument,
        settings.expected_quantile,
        tuple(coefficients),
        tuple(condition_terms),
        tuple(own),
        int(rows.client_id.nunique()),
    )


def _params(cohort: Cohort, model: Model) -> dict:
    return {
        "cohort": cohort.grouped("none").sql(),
        "coef": list(model.coefficients),
        "condition_terms": list(model.condition_terms),
        "folds": FOLDS,
        "max_day": EXPECTED_MAX_DAY,
        "response_pct": cohort.settings.response_pct,
    }


def bands(
    con, cohort: Cohort, model: Model | None = None, clients: list[str] | None = None, only_off_track: bool = False
) -> pd.DataFrame:
    """The cohort's follow-up scores of first courses (up to EXPECTED_MAX_DAY; only `clients`' when given, only the
    off-track ones with `only_off_track`) with the out-of-sample expected upper bound `expected` (NaN where the
    client's fold had no model or no term for their modality) and `off_track` (after the second dose, above the
    bound). Columns: client_id, baseline, modality, condition, day, doses_before, score, responded_primary, fold,
    expected, off_track."""
    model = fit(con, cohort) if model is None else model
    rows = run(
        con,
        "views/expected_scores",
        **_params(cohort, model),
        clients=None if clients is None else list(clients),
        only_off_track=only_off_track,
    )
    rows["expected"] = pd.to_numeric(rows.expected, errors="coerce").astype(float)
    rows["off_track"] = rows.off_track.fillna(False).astype(bool)
    return rows


def client_band(con, cohort: Cohort, client_id: str, model: Model | None = None) -> pd.DataFrame:
    """One client's follow-up scores with their expected upper bound (from the model of the other folds only)."""
    b = bands(con, cohort, model, clients=[client_id])
    return b[["day", "doses_before", "score", "expected", "off_track"]].reset_index(drop=True)


def off_track(con, cohort: Cohort, clients: list[str] | None = None, model: Model | None = None) -> pd.DataFrame:
    """Clients off track, each at their latest off-track score, with the reason, sorted by how far above their band.
    Columns: client_id, day, doses_before, score, expected, excess, reason. For use inside the clinic (client
    ids)."""
    b = bands(con, cohort, model, clients=clients, only_off_track=True)
    if b.empty:
        return pd.DataFrame(columns=["client_id", "day", "doses_before", "score", "expected", "excess", "reason"])
    flagged = b.sort_values(["client_id", "day"]).groupby("client_id").tail(1)
    out = flagged.assign(excess=flagged.score - flagged.expected)
    out["reason"] = [
        f"score {r.score:g} at dose {int(r.doses_before)} (day {r.day:.0f}); expected ≤ {np.floor(r.expected):g}"
        for r in out.itertuples()
    ]
    return out.sort_values("excess", ascending=False)[
        ["client_id", "day", "doses_before", "score", "expected", "excess", "reason"]
    ].reset_index(drop=True)


def alert_quality(con, cohort: Cohort, min_cell: int | None = None, model: Model | None = None) -> pd.DataFrame:
    """PPV and sensitivity of 'off track by dose ALERT_DOSE or day ALERT_DAY' for non-response at the primary
    timepoint, on the clinic's past first courses, with Wilson intervals. One row per measure: measure, numerator,
    denominator, rate, ci_low, ci_high, suppressed (counts rounded and small cells hidden for a rounded cohort)."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    model = fit(con, cohort) if model is None else model
    if not model.coefficients:
        raise OutcomeError(
            f"too little history for the expected course: a fold's model needs {settings.expected_min_clients} "
            "clients with follow-up scores in the other folds"
        )
    [counts] = run(
        con, "views/expected_alerts", **_params(cohort, model), alert_dose=ALERT_DOSE, alert_day=ALERT_DAY
    ).to_dict("records")
    rows = [
        {
            "measure": "PPV: flagged who did not respond",
            "numerator": int(counts["flagged_non_responders"]),
            "denominator": int(counts["flagged"]),
        },
        {
            "measure": "Sensitivity: non-responders flagged",
            "numerator": int(counts["flagged_non_responders"]),
            "denominator": int(counts["non_responders"]),
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
