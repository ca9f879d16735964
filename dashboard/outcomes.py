"""The outcome engine's Python face: cohort filters, the outcomes table with Wilson intervals, the flow,
and small-cell suppression applied here so every consumer (views, downloads, reports, CLI) gets it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import pandas as pd

from dashboard import privacy, stats
from dashboard.queries import run
from dashboard.settings import Settings, load

GROUP_BY = {
    "modality": "Modality",
    "integration": "Integration therapy",
    "condition": "Condition",
    "site": "Site",
    "clinician": "Clinician",
    "age_band": "Age band",
    "cohort_quarter": "Cohort quarter",
    "none": "All clients",
}

OUTCOME_COLUMNS = [
    "group", "timepoint", "target_day", "window_days", "n_started", "n_evaluable", "n_responders",
    "response_rate", "response_rate_itt", "response_ci_low", "response_ci_high", "n_remission_eligible",
    "n_remitters", "remission_rate", "mean_baseline", "mean_score", "mean_pct_change", "suppressed",
]
COUNTS = ["n_started", "n_evaluable", "n_responders", "n_remission_eligible", "n_remitters"]
DEPENDENTS = {
    "response_rate": ["n_responders", "n_evaluable"],
    "response_ci_low": ["n_responders", "n_evaluable"],
    "response_ci_high": ["n_responders", "n_evaluable"],
    "response_rate_itt": ["n_responders", "n_started"],
    "remission_rate": ["n_remitters", "n_remission_eligible"],
    "mean_baseline": ["n_evaluable"],
    "mean_score": ["n_evaluable"],
    "mean_pct_change": ["n_evaluable"],
}


class OutcomeError(ValueError):
    """A request the engine cannot answer (unknown instrument, bad grouping); one line."""


@dataclass(frozen=True)
class Filters:
    """The shared cohort filters. None means 'no filter'; lists select any of their values."""

    modalities: tuple[str, ...] | None = None
    integration: bool | None = None
    conditions: tuple[str, ...] | None = None
    sites: tuple[str, ...] | None = None
    clinicians: tuple[str, ...] | None = None
    age_bands: tuple[str, ...] | None = None
    cohort_from: str | None = None  # 'YYYY-MM'
    cohort_to: str | None = None
    min_baseline: float | None = None

    def params(self) -> dict:
        out = {}
        for key, value in asdict(self).items():
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def describe(self) -> str:
        """The filters as one line of text, for captions, subtitles and reports."""
        parts = []
        labels = {"modalities": "modality", "conditions": "condition", "sites": "site", "clinicians": "clinician",
                  "age_bands": "age band"}
        for key, label in labels.items():
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{label}: {', '.join(value) if value else 'none'}")
        if self.integration is not None:
            parts.append("with integration therapy" if self.integration else "ketamine alone")
        if self.cohort_from or self.cohort_to:
            parts.append(f"first dose {self.cohort_from or '…'} to {self.cohort_to or '…'}")
        if self.min_baseline is not None:
            parts.append(f"baseline ≥ {self.min_baseline:g}")
        return "; ".join(parts) if parts else "all clients"


def _check(con: duckdb.DuckDBPyConnection, instrument: str, by: str) -> None:
    if by not in GROUP_BY:
        raise OutcomeError(f"unknown grouping {by!r}; use one of {', '.join(GROUP_BY)}")
    known = [r[0] for r in con.execute("select name from instruments order by name").fetchall()]
    if instrument not in known:
        raise OutcomeError(f"unknown instrument {instrument!r}; known: {', '.join(known)}")


def _day_label(day: float) -> str:
    return f"day_{day:g}"


def outcomes_table(con: duckdb.DuckDBPyConnection, instrument: str, by: str = "modality",
                   timepoints: list[tuple[float, float]] | None = None, filters: Filters | None = None,
                   min_cell: int | None = None, settings: Settings | None = None) -> pd.DataFrame:
    """One row per group and timepoint (and one for the last observed score), with the columns of the
    `outcomes` command, suppressed. Rates are fractions; Wilson 95% interval of the evaluable rate."""
    settings = settings or load()
    _check(con, instrument, by)
    filters = filters or Filters()
    k = settings.min_cell if min_cell is None else min_cell
    points = list(timepoints) if timepoints is not None else list(settings.timepoints)
    frames = []
    for target, window in [*points, (None, None)]:
        frame = run(con, "outcomes_by_group", instrument=instrument, target_day=target, window_days=window,
                    group_by=by, **filters.params())
        frame.insert(1, "timepoint", "last" if target is None else _day_label(target))
        frame.insert(2, "target_day", target)
        frame.insert(3, "window_days", window)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    if table.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    table = _rates(table)
    shown, mask = privacy.suppress_groups(table[OUTCOME_COLUMNS[:-1]], COUNTS, DEPENDENTS, k=k,
                                          partition="timepoint")
    shown["suppressed"] = mask.any(axis=1)
    return shown[OUTCOME_COLUMNS]


def _rates(table: pd.DataFrame) -> pd.DataFrame:
    t = table.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        t["response_rate"] = np.where(t.n_evaluable > 0, t.n_responders / t.n_evaluable, np.nan)
        t["response_rate_itt"] = np.where(t.n_started > 0, t.n_responders / t.n_started, np.nan)
        t["remission_rate"] = np.where(t.n_remission_eligible > 0, t.n_remitters / t.n_remission_eligible, np.nan)
    t["response_ci_low"], t["response_ci_high"] = stats.wilson(t.n_responders, t.n_evaluable)
    for c in ("response_rate", "response_rate_itt", "remission_rate", "response_ci_low", "response_ci_high",
              "mean_baseline", "mean_score", "mean_pct_change"):
        t[c] = t[c].astype(float).where(t[c].notna(), None)
    return t


def flow_table(con: duckdb.DuckDBPyConnection, instrument: str, by: str = "none", target_day: float | None = None,
               window_days: float | None = None, filters: Filters | None = None, min_cell: int | None = None,
               settings: Settings | None = None) -> pd.DataFrame:
    """The flow per group, suppressed: n_first_dose -> n_with_baseline -> n_completed_induction ->
    n_followup_in_window -> n_included, at the primary timepoint unless another is given."""
    settings = settings or load()
    _check(con, instrument, by)
    filters = filters or Filters()
    target = settings.primary_day if target_day is None else target_day
    window = settings.window_for(target) if window_days is None else window_days
    frame = run(con, "flow_by_group", instrument=instrument, target_day=target, window_days=window,
                min_induction_doses=settings.min_induction_doses, group_by=by, **filters.params())
    stages = ["n_first_dose", "n_with_baseline", "n_completed_induction", "n_followup_in_window", "n_included"]
    k = settings.min_cell if min_cell is None else min_cell
    shown, mask = privacy.suppress_groups(frame, stages, {}, k=k)
    shown["suppressed"] = mask.any(axis=1)
    return shown


KM_QUERIES = {"response": "time_to_response", "relapse": "time_to_relapse"}


def kaplan_meier_table(con: duckdb.DuckDBPyConnection, instrument: str, event: str = "response",
                       by: str = "none", filters: Filters | None = None, min_cell: int | None = None,
                       settings: Settings | None = None) -> pd.DataFrame:
    """Kaplan–Meier per group for time to first response ('response') or, among responders, time from
    response to relapse ('relapse'). One row per group and distinct time: group, time, survival, ci_low,
    ci_high, at_risk, events, censored, n_group. The curve is cut where fewer than k clients remain at risk
    (their steps would show small cells); a group smaller than k shows no curve at all."""
    settings = settings or load()
    _check(con, instrument, by)
    if event not in KM_QUERIES:
        raise OutcomeError(f"unknown event {event!r}; use one of {', '.join(KM_QUERIES)}")
    filters = filters or Filters()
    k = settings.min_cell if min_cell is None else min_cell
    counts = run(con, KM_QUERIES[event], instrument=instrument, group_by=by, **filters.params())
    frames = []
    for group, rows in counts.groupby("group", sort=True):
        n_group = int(rows.n_clients.sum())
        if privacy.is_small(n_group, k):
            continue
        km = stats.kaplan_meier(rows.days, rows.is_event, weights=rows.n_clients)
        if k > 0:
            km = km[km.at_risk >= k]
        km.insert(0, "group", group)
        km["n_group"] = n_group
        frames.append(km)
    columns = ["group", "time", "survival", "ci_low", "ci_high", "at_risk", "events", "censored", "n_group"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
