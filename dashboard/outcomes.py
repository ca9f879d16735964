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
    "clinician_vs_rest": "This clinician and the rest of the practice",
    "none": "All clients",
}

OUTCOME_COLUMNS = [
    "group",
    "timepoint",
    "target_day",
    "window_days",
    "n_started",
    "n_evaluable",
    "n_responders",
    "response_rate",
    "response_rate_itt",
    "response_ci_low",
    "response_ci_high",
    "n_remission_eligible",
    "n_remitters",
    "remission_rate",
    "mean_baseline",
    "mean_score",
    "mean_pct_change",
    "suppressed",
]
# readable names of the outcome columns, for tables people read (the app, the report)
OUTCOME_LABELS = {
    "group": "Group",
    "n_started": "Started",
    "n_evaluable": "Evaluable",
    "n_responders": "Responders",
    "response_rate": "Response (evaluable)",
    "response_ci_low": "95% CI low",
    "response_ci_high": "95% CI high",
    "response_rate_itt": "Response (all who started)",
    "n_remission_eligible": "Remission-eligible",
    "n_remitters": "Remitters",
    "remission_rate": "Remission",
    "mean_baseline": "Mean baseline",
    "mean_score": "Mean score",
    "mean_pct_change": "Mean change (%)",
    "suppressed": "Any cell suppressed",
}
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
    focus: str | None = None  # the clinician compared with the rest of the practice (group 'clinician_vs_rest')

    def __post_init__(self):
        """Fail cleanly on a wrongly typed filter, before anything reaches the database."""
        for name in ("modalities", "conditions", "sites", "clinicians", "age_bands"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value)
            ):
                raise OutcomeError(f"filter {name} must be a list of labels")
        if self.integration is not None and not isinstance(self.integration, bool):
            raise OutcomeError("filter integration must be true, false or empty")
        if self.min_baseline is not None and (
            isinstance(self.min_baseline, bool) or not isinstance(self.min_baseline, int | float)
        ):
            raise OutcomeError("filter min_baseline must be a number")
        for name in ("cohort_from", "cohort_to", "focus"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise OutcomeError(f"filter {name} must be text")

    def params(self) -> dict:
        out = {}
        for key, value in asdict(self).items():
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def describe(self) -> str:
        """The filters as one line of text, for captions, subtitles and reports."""
        parts = []
        labels = {
            "modalities": "modality",
            "conditions": "condition",
            "sites": "site",
            "clinicians": "clinician",
            "age_bands": "age band",
        }
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


def outcomes_table(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    by: str = "modality",
    timepoints: list[tuple[float, float]] | None = None,
    filters: Filters | None = None,
    min_cell: int | None = None,
    settings: Settings | None = None,
    include_last: bool = True,
) -> pd.DataFrame:
    """One row per group and timepoint (and one for the last observed score), with the columns of the
    `outcomes` command, suppressed. Rates are fractions; Wilson 95% interval of the evaluable rate."""
    settings = settings or load()
    _check(con, instrument, by)
    filters = filters or Filters()
    k = settings.min_cell if min_cell is None else min_cell
    points = list(timepoints) if timepoints is not None else list(settings.timepoints)
    targets = [{"target_day": float(d), "window_days": float(w)} for d, w in points]
    standard = [t for t in targets if settings.is_standard(t["target_day"], t["window_days"])]
    custom = [t for t in targets if t not in standard]
    table = run(
        con,
        "outcomes_by_group",
        instrument=instrument,
        standard_targets=standard or None,
        custom_targets=custom or None,
        include_last=include_last,
        group_by=by,
        **filters.params(),
    )
    if table.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    table.insert(1, "timepoint", [("last" if pd.isna(d) else _day_label(d)) for d in table.target_day])
    table["target_day"] = table.target_day.astype(object).where(table.target_day.notna(), None)
    table["window_days"] = table.window_days.astype(object).where(table.window_days.notna(), None)
    table = _rates(table)
    shown, mask = privacy.suppress_groups(table[OUTCOME_COLUMNS[:-1]], COUNTS, DEPENDENTS, k=k, partition="timepoint")
    shown["suppressed"] = mask.any(axis=1)
    return shown[OUTCOME_COLUMNS]


def _rates(table: pd.DataFrame) -> pd.DataFrame:
    t = table.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        t["response_rate"] = np.where(t.n_evaluable > 0, t.n_responders / t.n_evaluable, np.nan)
        # the contract's intention to treat: responders / started (charts leave out timepoints nobody had)
        t["response_rate_itt"] = np.where(t.n_started > 0, t.n_responders / t.n_started, np.nan)
        t["remission_rate"] = np.where(t.n_remission_eligible > 0, t.n_remitters / t.n_remission_eligible, np.nan)
    t["response_ci_low"], t["response_ci_high"] = stats.wilson(t.n_responders, t.n_evaluable)
    for c in (
        "response_rate",
        "response_rate_itt",
        "remission_rate",
        "response_ci_low",
        "response_ci_high",
        "mean_baseline",
        "mean_score",
        "mean_pct_change",
    ):
        t[c] = t[c].astype(float)  # missing stays NaN (suppression then shows None where it hides a value)
    return t


def flow_table(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    by: str = "none",
    target_day: float | None = None,
    window_days: float | None = None,
    filters: Filters | None = None,
    min_cell: int | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """The flow per group, suppressed: n_first_dose -> n_with_baseline -> n_completed_induction ->
    n_followup_in_window -> n_included, at the primary timepoint unless another is given."""
    settings = settings or load()
    _check(con, instrument, by)
    filters = filters or Filters()
    target = settings.primary_day if target_day is None else target_day
    window = settings.window_for(target) if window_days is None else window_days
    frame = run(
        con,
        "flow_by_group",
        instrument=instrument,
        target_day=target,
        window_days=window,
        standard=settings.is_standard(target, window),
        min_induction_doses=settings.min_induction_doses,
        group_by=by,
        **filters.params(),
    )
    stages = ["n_first_dose", "n_with_baseline", "n_completed_induction", "n_followup_in_window", "n_included"]
    k = settings.min_cell if min_cell is None else min_cell
    shown, mask = privacy.suppress_groups(frame, stages, {}, k=k)
    shown["suppressed"] = mask.any(axis=1)
    return shown


KM_QUERIES = {"response": "time_to_response", "relapse": "time_to_relapse"}
# what a KM download carries: the curve and the numbers at risk (>= k), not the per-day event counts
KM_SHOWN = ["group", "time", "survival", "ci_low", "ci_high", "at_risk"]


def kaplan_meier_table(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    event: str = "response",
    by: str = "none",
    filters: Filters | None = None,
    min_cell: int | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Kaplan–Meier per group for time to first response ('response') or, among responders, time from
    response to relapse ('relapse'). One row per group and distinct time: group, time, survival, ci_low,
    ci_high, at_risk, events, censored, n_group. The curve is cut where fewer than k clients remain at risk
    (their steps would show small cells); a group smaller than k shows no curve at all."""
    settings = settings or load()
    if event not in KM_QUERIES:
        raise OutcomeError(f"unknown event {event!r}; use one of {', '.join(KM_QUERIES)}")
    filters = filters or Filters()
    k = settings.min_cell if min_cell is None else min_cell
    counts = _cohort(con, KM_QUERIES[event], instrument, by, filters)
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


def _cohort(con, name: str, instrument: str, by: str, filters: Filters | None, **extra) -> pd.DataFrame:
    _check(con, instrument, by)
    return run(con, name, instrument=instrument, group_by=by, **(filters or Filters()).params(), **extra)


def trajectory(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    by: str = "none",
    bin_days: float = 7,
    max_day: float = 364,
    measure: str = "score",
    filters: Filters | None = None,
    min_cell: int | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Mean (score or percent change) with 95% CI per group and time bin since the first dose; the baseline
    is the point at day 0. Bins with fewer than k clients are left out. Columns: group, bin_start, x, mean,
    ci_low, ci_high, n_clients."""
    settings = settings or load()
    k = settings.min_cell if min_cell is None else min_cell
    if float(bin_days) not in settings.trajectory_bins:
        raise OutcomeError(
            f"trajectory bins of {bin_days:g} days are not precomputed; use one of "
            f"{', '.join(f'{b:g}' for b in settings.trajectory_bins)} (settings.trajectory_bins)"
        )
    frame = _cohort(con, "trajectory_by_bin", instrument, by, filters, bin_days=float(bin_days), max_day=max_day)
    mean, sd = ("mean", "sd") if measure == "score" else ("mean_pct_change", "sd_pct_change")
    out = frame[["group", "bin_start", "x", "n_clients"]].copy()
    out["mean"] = frame[mean]
    out["ci_low"], out["ci_high"] = stats.mean_ci(frame[mean], frame[sd].fillna(0), frame.n_clients)
    if k > 0:
        out = out[out.n_clients >= k]
    return out.reset_index(drop=True)[["group", "bin_start", "x", "mean", "ci_low", "ci_high", "n_clients"]]


def improvement_by_dose(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    by: str = "none",
    max_dose: int = 6,
    filters: Filters | None = None,
    min_cell: int | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Share of clients improved by at least the early-improvement threshold at their first score after
    dose k, with Wilson CI. Columns: group, dose_no, rate, ci_low, ci_high, numerator, denominator,
    suppressed."""
    settings = settings or load()
    if not 1 <= max_dose <= 12:
        raise OutcomeError("max_dose must be from 1 to 12 (the doses precomputed in dose_improvement)")
    k = settings.min_cell if min_cell is None else min_cell
    frame = _cohort(
        con,
        "improvement_by_dose",
        instrument,
        by,
        filters,
        max_dose=max_dose,
        improvement_pct=settings.early_improvement_pct,
    )
    out = pd.DataFrame(
        {
            "group": frame["group"],
            "dose_no": frame.dose_no,
            "numerator": frame.n_improved,
            "denominator": frame.n_clients,
        }
    )
    return _with_rate(out, k, partition="dose_no")


def _with_rate(out: pd.DataFrame, k: int, partition: str | None) -> pd.DataFrame:
    """Add rate and Wilson CI to numerator/denominator rows, then suppress."""
    out = out.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate"] = np.where(out.denominator > 0, out.numerator / out.denominator, np.nan)
    out["ci_low"], out["ci_high"] = stats.wilson(out.numerator, out.denominator)
    shown, mask = privacy.suppress_groups(
        out,
        ["numerator", "denominator"],
        {c: ["numerator", "denominator"] for c in ("rate", "ci_low", "ci_high")},
        k=k,
        partition=partition,
    )
    shown["suppressed"] = mask.any(axis=1)
    return shown


def rate_rows(table: pd.DataFrame, measure: str = "response", denominator: str = "evaluable") -> pd.DataFrame:
    """Outcomes-table rows as chart rows (group, label, rate, ci_low, ci_high, numerator, denominator,
    suppressed) for response or remission, over evaluable clients or all who started (intention to treat).
    The interval is recomputed with Wilson for the chosen denominator."""
    num = {"response": "n_responders", "remission": "n_remitters"}[measure]
    if measure == "remission":
        den = "n_remission_eligible"
    else:
        den = "n_evaluable" if denominator == "evaluable" else "n_started"
    out = pd.DataFrame(
        {
            "group": table["group"],
            "label": table["timepoint"].map(timepoint_label),
            "numerator": table[num],
            "denominator": table[den],
        }
    )
    # a group with nobody assessed at a timepoint has no rate at all (not a suppressed one, and not 0% over all
    # who started): leave it out
    assessed = pd.to_numeric(table["n_evaluable"]).ne(0) & pd.to_numeric(out.denominator).ne(0)
    out = out[assessed.to_numpy()].reset_index(drop=True)
    hidden = out.numerator.isna() | out.denominator.isna()
    out["suppressed"] = hidden  # only this measure's own cells decide (a small remitter count hides remission)
    n, d = pd.to_numeric(out.numerator), pd.to_numeric(out.denominator)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate"] = np.where(~hidden & (d > 0), n / d, np.nan)
    low, high = stats.wilson(n, d)
    out["ci_low"], out["ci_high"] = np.where(hidden, np.nan, low), np.where(hidden, np.nan, high)
    return out


def timepoint_label(timepoint: str) -> str:
    """'day_28' -> 'Week 4', 'day_1' -> '24 h', 'last' -> 'Last observed'."""
    if timepoint == "last":
        return "Last observed"
    day = float(timepoint.removeprefix("day_"))
    if day < 7:
        return f"{day * 24:g} h"
    if day % 7 == 0 and day >= 14:
        return f"Week {day / 7:g}"
    return f"Day {day:g}"


def band_transitions(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    target_day: float,
    window_days: float,
    filters: Filters | None = None,
    min_cell: int | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Clients by severity band at baseline and at a timepoint; small cells suppressed, with complements
    within each baseline band (its total is public). Columns: from_band, to_band, n_clients (None = hidden)."""
    settings = settings or load()
    k = settings.min_cell if min_cell is None else min_cell
    frame = _cohort(
        con,
        "band_transitions",
        instrument,
        "none",
        filters,
        target_day=target_day,
        window_days=window_days,
        standard=settings.is_standard(target_day, window_days),
    )
    shown, _ = privacy.suppress_groups(frame, ["n_clients"], {}, k=k, partition="from_band")
    return shown


def maintenance_by_week(
    con: duckdb.DuckDBPyConnection,
    filters: Filters | None = None,
    min_cell: int | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Maintenance doses per week since the first dose; weeks with doses to fewer than k clients hidden."""
    settings = settings or load()
    k = settings.min_cell if min_cell is None else min_cell
    frame = run(con, "maintenance_doses_by_week", group_by="none", **(filters or Filters()).params())
    if k > 0:
        frame = frame[frame.n_clients >= k]
    return frame.reset_index(drop=True)


def doses_to_response(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    by: str = "none",
    filters: Filters | None = None,
    min_cell: int | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Median (and quartiles of) dosing sessions before the first response, per group; groups with fewer
    than k responders are hidden."""
    settings = settings or load()
    k = settings.min_cell if min_cell is None else min_cell
    frame = _cohort(con, "doses_to_response", instrument, by, filters)
    shown, mask = privacy.suppress_groups(
        frame, ["n_responders"], {c: ["n_responders"] for c in ("median_doses", "q1_doses", "q3_doses")}, k=k
    )
    shown["suppressed"] = mask.any(axis=1)
    return shown


def suicidal_ideation(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    by: str = "none",
    filters: Filters | None = None,
    min_cell: int | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Suicidal ideation at baseline, resolved and emerged, with Wilson intervals; suppressed."""
    settings = settings or load()
    k = settings.min_cell if min_cell is None else min_cell
    f = _cohort(con, "suicidal_ideation_summary", instrument, by, filters)
    counts = [
        "n_with_safety_item",
        "n_si_at_baseline",
        "n_si_followed",
        "n_si_resolved",
        "n_without_si_followed",
        "n_si_emerged",
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        f["resolved_rate"] = np.where(f.n_si_followed > 0, f.n_si_resolved / f.n_si_followed, np.nan)
        f["emerged_rate"] = np.where(f.n_without_si_followed > 0, f.n_si_emerged / f.n_without_si_followed, np.nan)
    f["resolved_ci_low"], f["resolved_ci_high"] = stats.wilson(f.n_si_resolved, f.n_si_followed)
    f["emerged_ci_low"], f["emerged_ci_high"] = stats.wilson(f.n_si_emerged, f.n_without_si_followed)
    deps = {c: ["n_si_resolved", "n_si_followed"] for c in ("resolved_rate", "resolved_ci_low", "resolved_ci_high")}
    deps |= {
        c: ["n_si_emerged", "n_without_si_followed"] for c in ("emerged_rate", "emerged_ci_low", "emerged_ci_high")
    }
    shown, mask = privacy.suppress_groups(f, counts, deps, k=k)
    shown["suppressed"] = mask.any(axis=1)
    return shown


def funnel(
    con: duckdb.DuckDBPyConnection,
    instrument: str,
    by: str,
    target_day: float,
    window_days: float,
    filters: Filters | None = None,
    min_cell: int | None = None,
    settings: Settings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, float | None]:
    """Funnel-plot inputs for comparing clinicians or sites on response at one timepoint: the groups
    (group, n, rate, suppressed), the 95% / 99.8% exact binomial limits, and the overall rate p0."""
    settings = settings or load()
    points = outcomes_table(
        con,
        instrument,
        by=by,
        timepoints=[(target_day, window_days)],
        filters=filters,
        min_cell=min_cell,
        settings=settings,
        include_last=False,
    )
    overall = outcomes_table(
        con,
        instrument,
        by="none",
        timepoints=[(target_day, window_days)],
        filters=filters,
        min_cell=min_cell,
        settings=settings,
        include_last=False,
    )
    if points.empty or overall.empty or overall.response_rate.isna().all():
        return pd.DataFrame(columns=["group", "n", "rate", "suppressed"]), pd.DataFrame(), None
    p0 = float(overall.response_rate.iloc[0])
    frame = pd.DataFrame(
        {
            "group": points["group"],
            "n": points.n_evaluable,
            "rate": points.response_rate,
            "suppressed": points.response_rate.isna(),
        }
    )
    largest = pd.to_numeric(frame.n, errors="coerce").max(skipna=True)
    n_max = 1 if pd.isna(largest) else int(largest)
    n_min = max(1, settings.min_cell if min_cell is None else min_cell)
    limits = stats.funnel_limits(p0, max(n_max, 10) + 5, n_min=n_min)
    return frame.reset_index(drop=True), limits, p0
