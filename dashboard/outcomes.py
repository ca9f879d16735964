"""The outcome engine's Python face: each function takes a Cohort (dashboard/cohort.py), runs one named query of
queries/views/ (the name in the call is the file) with the cohort bound as $cohort, adds rates with Wilson
intervals, and applies small-cell suppression here so every consumer (views, downloads, reports, CLI) gets it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import duckdb
import numpy as np
import pandas as pd

from dashboard import privacy, stats
from dashboard.cohort import GROUP_BY, Cohort, Filters, OutcomeError
from dashboard.queries import run

__all__ = ["GROUP_BY", "Cohort", "Filters", "OutcomeError"]

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
    "response_itt_ci_low",
    "response_itt_ci_high",
    "n_remission_eligible",
    "n_remitters",
    "remission_rate",
    "remission_ci_low",
    "remission_ci_high",
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
    "response_itt_ci_low": "95% CI low (all who started)",
    "response_itt_ci_high": "95% CI high (all who started)",
    "n_remission_eligible": "Remission-eligible",
    "n_remitters": "Remitters",
    "remission_rate": "Remission",
    "remission_ci_low": "Remission 95% CI low",
    "remission_ci_high": "Remission 95% CI high",
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
    "response_itt_ci_low": ["n_responders", "n_started"],
    "response_itt_ci_high": ["n_responders", "n_started"],
    "remission_rate": ["n_remitters", "n_remission_eligible"],
    "remission_ci_low": ["n_remitters", "n_remission_eligible"],
    "remission_ci_high": ["n_remitters", "n_remission_eligible"],
    "mean_baseline": ["n_evaluable"],
    "mean_score": ["n_evaluable"],
    "mean_pct_change": ["n_evaluable"],
}


RATE_COLUMNS = [c for c in DEPENDENTS if not c.startswith("mean_")]
MEAN_COLUMNS = ["mean_baseline", "mean_score", "mean_pct_change"]


def _check(con: duckdb.DuckDBPyConnection, cohort: Cohort) -> None:
    if not isinstance(cohort, Cohort):
        raise OutcomeError("the engine's functions take a Cohort (dashboard.cohort.Cohort)")
    known = [r[0] for r in con.execute("select name from instruments order by name").fetchall()]
    if cohort.instrument not in known:
        raise OutcomeError(f"unknown instrument {cohort.instrument!r}; known: {', '.join(known)}")


def resolve(con: duckdb.DuckDBPyConnection, cohort: Cohort) -> Cohort:
    """A cohort asked for in words (the command line): the instrument by its name or an alias (`phq9`), each value
    of a filter on a label by the label stored (`IV infusion`), a modality also by its aliases (`iv`), compared
    without case, spaces, dashes or underscores. A value that is none of this database's labels is an
    OutcomeError that lists them; so is `clinician_vs_rest` without exactly one clinician, who becomes the focus
    (the rest of the practice is everyone else who passes the other filters)."""
    from dashboard import instruments
    from dashboard.cohort import FILTERS
    from dashboard.escape import shorten
    from dashboard.ingest.contract import MODALITY_LOOKUP

    labels = instruments.resolver(instruments.load(con))
    name = labels.get(instruments.normalise(cohort.instrument or ""), cohort.instrument)
    options = run(con, "views/filter_options")
    changes: dict = {}
    for f in FILTERS:
        values = getattr(cohort.filters, f.field)
        if not f.multi or not values:
            continue
        known = options.loc[options.dimension == f.column, "value"].tolist()
        folded = {instruments.normalise(v): v for v in known}
        resolved = []
        for value in values:
            key = instruments.normalise(value)
            if f.name == "modality" and key in MODALITY_LOOKUP:
                key = instruments.normalise(MODALITY_LOOKUP[key])
            if value not in known and key not in folded:
                listed = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
                asked = shorten(value, 60)
                raise OutcomeError(f"--{f.name.replace('_', '-')} '{asked}': not in this database; it has: {listed}")
            resolved.append(value if value in known else folded[key])
        changes[f.field] = tuple(dict.fromkeys(resolved))
    out = replace(cohort, instrument=name, filters=replace(cohort.filters, **changes))
    if out.by == "clinician_vs_rest":
        chosen = out.filters.clinicians
        if not chosen or len(chosen) != 1:
            raise OutcomeError("--by clinician_vs_rest compares one clinician with the rest: give one --clinician")
        out = out.where(clinicians=None, focus=chosen[0])
    return out


def _day_label(day: float, window: float, shared_day: bool) -> str:
    """'day_28'; 'day_28±7' when another timepoint of the same table has the same day with another window."""
    return f"day_{day:g}±{window:g}" if shared_day else f"day_{day:g}"


def timepoint_set(points) -> list[tuple[float, float]]:
    """Timepoints as a set: each (day, window) once, in the order first given (a timepoint asked for twice is
    counted once)."""
    unique: list[tuple[float, float]] = []
    for d, w in points:
        point = (float(d), float(w))
        if point not in unique:
            unique.append(point)
    return unique


def outcomes_table(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    timepoints: list[tuple[float, float]] | None = None,
    min_cell: int | None = None,
    include_last: bool = True,
) -> pd.DataFrame:
    """One row per group and timepoint (and one for the last observed score), with the columns of the
    `outcomes` command, suppressed. Rates are fractions; Wilson 95% interval of the evaluable rate.
    A rounded cohort (cohort.rounded, for what leaves the clinic; privacy.disclose): counts under k hidden, the
    others rounded to the nearest 5; rates and means shown to 2 and 1 decimals where their rounded denominator is
    at least k."""
    settings = cohort.settings
    _check(con, cohort)
    k = settings.min_cell if min_cell is None else min_cell
    points = timepoint_set(timepoints if timepoints is not None else settings.timepoints)
    days = [d for d, _ in points]
    targets = [{"target_day": float(d), "window_days": float(w)} for d, w in points]
    standard = [t for t in targets if settings.is_standard(t["target_day"], t["window_days"])]
    custom = [t for t in targets if t not in standard]
    table = run(
        con,
        "views/outcomes_by_group",
        cohort=cohort.sql(),
        instrument=cohort.instrument,
        standard_targets=standard or None,
        custom_targets=custom or None,
        include_last=include_last,
        response_pct=settings.response_pct,
    )
    if table.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    table.insert(
        1,
        "timepoint",
        [
            "last" if pd.isna(d) else _day_label(d, w, days.count(d) > 1)
            for d, w in zip(table.target_day, table.window_days, strict=True)
        ],
    )
    table["target_day"] = table.target_day.astype(object).where(table.target_day.notna(), None)
    table["window_days"] = table.window_days.astype(object).where(table.window_days.notna(), None)
    table = _rates(table)
    if cohort.rounded:
        shown, mask = privacy.disclose(table[OUTCOME_COLUMNS[:-1]], COUNTS, DEPENDENTS, k=k)
        shown = _coarse(shown)
    else:
        shown, mask = privacy.suppress_groups(
            table[OUTCOME_COLUMNS[:-1]], COUNTS, DEPENDENTS, k=k, partition="timepoint"
        )
    shown["suppressed"] = mask.any(axis=1)
    return shown[OUTCOME_COLUMNS]


def _coarse(frame: pd.DataFrame) -> pd.DataFrame:
    """Rates to whole percents (2 decimals of a fraction) and means to 1 decimal in rounded output: more digits
    would let a rate and its rounded denominator give an exact count back."""
    out = frame.copy()
    for columns, places in ((RATE_COLUMNS, 2), (MEAN_COLUMNS, 1)):
        for c in columns:
            out[c] = [None if v is None or pd.isna(v) else round(float(v), places) for v in out[c]]
    return out


def _rates(table: pd.DataFrame) -> pd.DataFrame:
    t = table.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        t["response_rate"] = np.where(t.n_evaluable > 0, t.n_responders / t.n_evaluable, np.nan)
        # the contract's intention to treat: responders / started (charts leave out timepoints nobody had)
        t["response_rate_itt"] = np.where(t.n_started > 0, t.n_responders / t.n_started, np.nan)
        t["remission_rate"] = np.where(t.n_remission_eligible > 0, t.n_remitters / t.n_remission_eligible, np.nan)
    t["response_ci_low"], t["response_ci_high"] = stats.wilson(t.n_responders, t.n_evaluable)
    t["response_itt_ci_low"], t["response_itt_ci_high"] = stats.wilson(t.n_responders, t.n_started)
    t["remission_ci_low"], t["remission_ci_high"] = stats.wilson(t.n_remitters, t.n_remission_eligible)
    for c in (*RATE_COLUMNS, *MEAN_COLUMNS):
        t[c] = t[c].astype(float)  # missing stays NaN (suppression then shows None where it hides a value)
    return t


def flow_table(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    target_day: float | None = None,
    window_days: float | None = None,
    min_cell: int | None = None,
) -> pd.DataFrame:
    """The flow per group, suppressed: n_first_dose -> n_with_baseline -> n_completed_induction ->
    n_followup_in_window -> n_included, at the primary timepoint unless another is given (a rounded cohort: as
    in outcomes_table)."""
    settings = cohort.settings
    _check(con, cohort)
    target = settings.primary_day if target_day is None else target_day
    window = settings.window_for(target) if window_days is None else window_days
    frame = run(
        con,
        "views/flow_by_group",
        cohort=cohort.sql(),
        instrument=cohort.instrument,
        target_day=target,
        window_days=window,
        standard=settings.is_standard(target, window),
        min_induction_doses=settings.min_induction_doses,
        response_pct=settings.response_pct,
    )
    stages = ["n_first_dose", "n_with_baseline", "n_completed_induction", "n_followup_in_window", "n_included"]
    k = settings.min_cell if min_cell is None else min_cell
    if cohort.rounded:
        shown, mask = privacy.disclose(frame, stages, {}, k=k)
    else:
        shown, mask = privacy.suppress_groups(frame, stages, {}, k=k)
    shown["suppressed"] = mask.any(axis=1)
    return shown


KM_COLUMNS = ["group", "time", "survival", "ci_low", "ci_high", "at_risk", "events", "censored", "remaining", "n_group"]
KM_QUERIES = {"response": "views/time_to_response", "relapse": "views/time_to_relapse"}
# what a KM download carries: the curve and the numbers at risk (>= k), not the per-day event counts
KM_SHOWN = ["group", "time", "survival", "ci_low", "ci_high", "at_risk"]


def kaplan_meier_table(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    event: str = "response",
    min_cell: int | None = None,
) -> pd.DataFrame:
    """Kaplan–Meier per group for time to first response ('response') or, among responders, time from
    response to relapse ('relapse'). One row per group and distinct time: group, time, survival, ci_low,
    ci_high, at_risk, events, censored, n_group. The curve is cut where fewer than k clients remain at risk
    (their steps would show small cells); a group smaller than k shows no curve at all."""
    settings = cohort.settings
    if event not in KM_QUERIES:
        raise OutcomeError(f"unknown event {event!r}; use one of {', '.join(KM_QUERIES)}")
    k = settings.min_cell if min_cell is None else min_cell
    out = _km_by(_rows(con, KM_QUERIES[event], cohort), ["group"], k)
    if cohort.rounded:
        out = _rounded_counts(out, ["at_risk", "events", "censored", "remaining", "n_group"], k)
    return out


def _km_by(counts: pd.DataFrame, keys: list[str], k: int) -> pd.DataFrame:
    """Kaplan–Meier per combination of `keys` (e.g. group) of rows (days, is_event, n_clients): the KM_COLUMNS after
    the keys, a combination of fewer than k clients left out and each curve cut where fewer than k are at risk."""
    frames = []
    for values, rows in counts.groupby(keys, sort=True):
        n_group = int(rows.n_clients.sum())
        if privacy.is_small(n_group, k):
            continue
        km = stats.kaplan_meier(rows.days, rows.is_event, weights=rows.n_clients)
        if k > 0:
            km = km[km.at_risk >= k]
        for key, value in reversed(list(zip(keys, values, strict=True))):
            km.insert(0, key, value)
        km["n_group"] = n_group
        km["remaining"] = km.at_risk - km.events - km.censored  # at risk just after the row's time
        frames.append(km)
    columns = [*keys[:-1], *KM_COLUMNS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _rounded_counts(frame: pd.DataFrame, columns: list[str], k: int) -> pd.DataFrame:
    """Count columns as they may leave the clinic (privacy.rounded_count: under k hidden, else to the nearest 5)."""
    out = frame.copy()
    for c in columns:
        out[c] = pd.Series([privacy.rounded_count(v, k) for v in out[c]], index=out.index, dtype=object)
    return out


def _rows(con, name: str, cohort: Cohort, **extra) -> pd.DataFrame:
    """A view query's rows for the cohort (bound as $cohort), after checking its instrument."""
    _check(con, cohort)
    params = {"cohort": cohort.sql(), "instrument": cohort.instrument, "response_pct": cohort.settings.response_pct}
    return run(con, name, **params, **extra)


def trajectory(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    bin_days: float = 7,
    max_day: float | None = None,
    measure: str = "score",
    min_cell: int | None = None,
) -> pd.DataFrame:
    """Mean (score or percent change) with 95% CI per group and time bin since the first dose; the baseline
    is the point at day 0. Bins with fewer than k clients are left out. Columns: group, bin_start, x, mean,
    ci_low, ci_high, n_clients."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    if float(bin_days) not in settings.trajectory_bins:
        raise OutcomeError(
            f"trajectory bins of {bin_days:g} days are not precomputed; use one of "
            f"{', '.join(f'{b:g}' for b in settings.trajectory_bins)} (settings.trajectory_bins)"
        )
    last = settings.trajectory_last_day(bin_days)
    max_day = last if max_day is None else max_day
    if max_day > last:
        raise OutcomeError(
            f"trajectory bins of {bin_days:g} days are precomputed up to day {last:g} "
            "(settings.trajectory_max_day, trajectory_max_bins)"
        )
    frame = _rows(con, "views/trajectory_by_bin", cohort, bin_days=float(bin_days), max_day=max_day)
    mean, sd = ("mean", "sd") if measure == "score" else ("mean_pct_change", "sd_pct_change")
    out = frame[["group", "bin_start", "x", "n_clients"]].copy()
    out["mean"] = frame[mean]
    out["ci_low"], out["ci_high"] = stats.mean_ci(frame[mean], frame[sd].fillna(0), frame.n_clients)
    if k > 0:
        out = out[out.n_clients >= k]
    out = out.reset_index(drop=True)[["group", "bin_start", "x", "mean", "ci_low", "ci_high", "n_clients"]]
    if cohort.rounded:
        out = _rounded_counts(out, ["n_clients"], k)
        out[["mean", "ci_low", "ci_high"]] = out[["mean", "ci_low", "ci_high"]].round(1)
    return out


def improvement_by_dose(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    max_dose: int = 6,
    min_cell: int | None = None,
) -> pd.DataFrame:
    """Share of clients improved by at least the early-improvement threshold at their first score after
    dose k, with Wilson CI. Columns: group, dose_no, rate, ci_low, ci_high, numerator, denominator,
    suppressed."""
    settings = cohort.settings
    if not 1 <= max_dose <= 12:
        raise OutcomeError("max_dose must be from 1 to 12 (the doses precomputed in dose_improvement)")
    k = settings.min_cell if min_cell is None else min_cell
    frame = _rows(
        con,
        "views/improvement_by_dose",
        cohort,
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
    return _with_rate(out, k, partition="dose_no", rounded=cohort.rounded)


def _with_rate(out: pd.DataFrame, k: int, partition: str | None, rounded: bool = False) -> pd.DataFrame:
    """Add rate and Wilson CI to numerator/denominator rows, then suppress (or, rounded, disclose)."""
    out = out.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate"] = np.where(out.denominator > 0, out.numerator / out.denominator, np.nan)
    out["ci_low"], out["ci_high"] = stats.wilson(out.numerator, out.denominator)
    counts, deps = (
        ["numerator", "denominator"],
        {c: ["numerator", "denominator"] for c in ("rate", "ci_low", "ci_high")},
    )
    if rounded:
        shown, mask = privacy.disclose(out, counts, deps, k=k)
        shown = _coarse_columns(shown, ["rate", "ci_low", "ci_high"], 2)
    else:
        shown, mask = privacy.suppress_groups(out, counts, deps, k=k, partition=partition)
    shown["suppressed"] = mask.any(axis=1)
    return shown


def _coarse_columns(frame: pd.DataFrame, columns: list[str], places: int) -> pd.DataFrame:
    out = frame.copy()
    for c in columns:
        out[c] = [None if v is None or pd.isna(v) else round(float(v), places) for v in out[c]]
    return out


def rate_rows(table: pd.DataFrame, measure: str = "response", denominator: str = "evaluable") -> pd.DataFrame:
    """Outcomes-table rows as chart rows (group, label, rate, ci_low, ci_high, numerator, denominator,
    suppressed) for response or remission, over evaluable clients or all who started (intention to treat).
    The rate and its Wilson interval are the table's own (computed from exact counts, also in a rounded table)."""
    num = {"response": "n_responders", "remission": "n_remitters"}[measure]
    if measure == "remission":
        den, rate, low, high = "n_remission_eligible", "remission_rate", "remission_ci_low", "remission_ci_high"
    elif denominator == "evaluable":
        den, rate, low, high = "n_evaluable", "response_rate", "response_ci_low", "response_ci_high"
    else:
        den, rate, low, high = "n_started", "response_rate_itt", "response_itt_ci_low", "response_itt_ci_high"
    out = pd.DataFrame(
        {
            "group": table["group"],
            "label": table["timepoint"].map(timepoint_label),
            "numerator": table[num],
            "denominator": table[den],
            "rate": pd.to_numeric(table[rate]),
            "ci_low": pd.to_numeric(table[low]),
            "ci_high": pd.to_numeric(table[high]),
        }
    )
    # a group with nobody assessed at a timepoint has no rate at all (not a suppressed one, and not 0% over all
    # who started): leave it out
    assessed = pd.to_numeric(table["n_evaluable"]).ne(0) & pd.to_numeric(out.denominator).ne(0)
    out = out[assessed.to_numpy()].reset_index(drop=True)
    # only this measure's own cells decide (a small remitter count hides remission, not response)
    out["suppressed"] = out.rate.isna()
    out.loc[out.suppressed, ["ci_low", "ci_high"]] = np.nan
    return out[["group", "label", "numerator", "denominator", "suppressed", "rate", "ci_low", "ci_high"]]


def timepoint_label(timepoint: str) -> str:
    """'day_28' -> 'Week 4', 'day_1' -> '24 h', 'day_28±3' -> 'Week 4 (± 3 days)', 'last' -> 'Last observed'."""
    if timepoint == "last":
        return "Last observed"
    day_text, _, window = timepoint.removeprefix("day_").partition("±")
    day = float(day_text)
    if day < 7:
        label = f"{day * 24:g} h"
    elif day % 7 == 0 and day >= 14:
        label = f"Week {day / 7:g}"
    else:
        label = f"Day {day:g}"
    return f"{label} (± {window} days)" if window else label


def band_transitions(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    target_day: float,
    window_days: float,
    min_cell: int | None = None,
) -> pd.DataFrame:
    """Clients by severity band at baseline and at a timepoint; small cells suppressed, with complements
    within each baseline band (its total is public). Columns: from_band, to_band, n_clients (None = hidden)."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    frame = _rows(
        con,
        "views/band_transitions",
        cohort.grouped("none"),
        target_day=target_day,
        window_days=window_days,
        standard=settings.is_standard(target_day, window_days),
    )
    if cohort.rounded:
        shown, _ = privacy.disclose(frame, ["n_clients"], {}, k=k)
    else:
        shown, _ = privacy.suppress_groups(frame, ["n_clients"], {}, k=k, partition="from_band")
    return shown


def maintenance_by_week(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    min_cell: int | None = None,
) -> pd.DataFrame:
    """Maintenance doses per week since the first dose; weeks with doses to fewer than k clients hidden."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    frame = run(con, "views/maintenance_doses_by_week", cohort=cohort.grouped("none").sql())
    if k > 0:
        frame = frame[frame.n_clients >= k]
    frame = frame.reset_index(drop=True)
    if cohort.rounded:
        frame = _rounded_counts(frame, [c for c in frame.columns if c.startswith("n_")], k)
    return frame


def doses_to_response(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    min_cell: int | None = None,
) -> pd.DataFrame:
    """Median (and quartiles of) dosing sessions before the first response, per group; groups with fewer
    than k responders are hidden."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    frame = _rows(con, "views/doses_to_response", cohort)
    deps = {c: ["n_responders"] for c in ("median_doses", "q1_doses", "q3_doses")}
    if cohort.rounded:
        shown, mask = privacy.disclose(frame, ["n_responders"], deps, k=k)
    else:
        shown, mask = privacy.suppress_groups(frame, ["n_responders"], deps, k=k)
    shown["suppressed"] = mask.any(axis=1)
    return shown


def suicidal_ideation(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    min_cell: int | None = None,
) -> pd.DataFrame:
    """Suicidal ideation at baseline, resolved and emerged, with Wilson intervals; suppressed."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    f = _rows(con, "views/suicidal_ideation_summary", cohort)
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
    if cohort.rounded:
        shown, mask = privacy.disclose(f, counts, deps, k=k)
        shown = _coarse_columns(shown, list(deps), 2)
    else:
        shown, mask = privacy.suppress_groups(f, counts, deps, k=k)
    shown["suppressed"] = mask.any(axis=1)
    return shown


def funnel(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    target_day: float,
    window_days: float,
    min_cell: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, float | None]:
    """Funnel-plot inputs for comparing clinicians or sites on response at one timepoint: the groups
    (group, n, rate, suppressed), the 95% / 99.8% exact binomial limits, and the overall rate p0."""
    settings = cohort.settings
    points = outcomes_table(con, cohort, timepoints=[(target_day, window_days)], min_cell=min_cell, include_last=False)
    overall = outcomes_table(
        con, cohort.grouped("none"), timepoints=[(target_day, window_days)], min_cell=min_cell, include_last=False
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


# --- case-mix adjustment: indirect standardisation on a logistic model of response ---------------------------------

CASE_MIX = ("baseline", "condition", "prior_treatments_band", "age_band")
CASE_MIX_MIN_EVENTS = 20  # the whole clinic needs at least this many responders and as many non-responders


@dataclass(frozen=True)
class CaseMixModel:
    """The case-mix logistic regression fitted on the whole clinic at one timepoint: its terms (after the
    intercept), coefficients (the intercept first), and the clients and responders it was fitted on."""

    timepoint: tuple[float, float]
    terms: tuple[str, ...]
    params: tuple[float, ...]
    n_clients: int
    n_responders: int
    converged: bool

    def expected(self, patterns: pd.DataFrame) -> np.ndarray:
        """Each pattern's expected responders: its clients times the predicted probability."""
        x = _case_mix_design(patterns, pd.Index(self.terms)).to_numpy(dtype=float)
        eta = self.params[0] + x @ np.asarray(self.params[1:], dtype=float)
        return patterns.n.to_numpy(dtype=float) / (1 + np.exp(-eta))


def _case_mix_timepoint(cohort: Cohort, target_day: float | None, window_days: float | None) -> tuple[float, float]:
    settings = cohort.settings
    day = float(settings.primary_day if target_day is None else target_day)
    window = float(settings.window_for(day) if window_days is None else window_days)
    if not settings.is_standard(day, window):
        raise OutcomeError(
            f"case-mix adjustment is computed at a precomputed timepoint (settings.timepoints); day {day:g} ± "
            f"{window:g} is not one"
        )
    return day, window


def case_mix_model(
    con: duckdb.DuckDBPyConnection, cohort: Cohort, target_day: float | None = None, window_days: float | None = None
) -> CaseMixModel:
    """Fit the case-mix model of `adjusted` on the whole clinic's evaluable first courses of the cohort's
    instrument (the cohort's filters and grouping are not used): the app fits it once per import."""
    import statsmodels.api as sm

    day, window = _case_mix_timepoint(cohort, target_day, window_days)
    params = {"target_day": day, "window_days": window}
    clinic = _rows(con, "views/case_mix_patterns", replace(cohort, filters=Filters(), by="none"), **params)
    n_all, events = int(clinic.n.sum()), int(clinic.responders.sum())
    if min(events, n_all - events) < CASE_MIX_MIN_EVENTS:
        raise OutcomeError(
            f"the case-mix model needs at least {CASE_MIX_MIN_EVENTS} responders and {CASE_MIX_MIN_EVENTS} "
            f"non-responders in the whole clinic at this timepoint; there are {events} of {n_all} evaluable clients"
        )
    design = _case_mix_design(clinic)
    endog = np.column_stack([clinic.responders, clinic.n - clinic.responders]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GLM(endog, sm.add_constant(design, has_constant="add"), family=sm.families.Binomial()).fit()
    return CaseMixModel(
        (day, window),
        tuple(design.columns),
        tuple(float(v) for v in np.asarray(fit.params)),
        n_all,
        events,
        bool(getattr(fit, "converged", True)),
    )


def adjusted(
    con: duckdb.DuckDBPyConnection,
    cohort: Cohort,
    target_day: float | None = None,
    window_days: float | None = None,
    min_cell: int | None = None,
    model: CaseMixModel | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Response at a precomputed timepoint per group, crude and adjusted for case mix by indirect standardisation:
    a logistic regression of response on baseline score, condition, prior-treatments band and age band, fitted on
    the whole clinic's evaluable first courses of the instrument (no filters; `case_mix_model`, or `model` when
    given); a group's expected responders E are the sum of its clients' predicted probabilities, O/E its observed
    over expected (exact Poisson interval on O, over E) and its adjusted rate O/E x the clinic's rate. Returns
    (table, model) where model says the variables, the clients and responders it was fitted on, the clinic's rate
    and whether the fit converged.
    Columns: group, n, observed, expected, crude_rate, crude_ci_low, crude_ci_high, oe, oe_ci_low, oe_ci_high,
    adjusted_rate, suppressed."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    day, window = _case_mix_timepoint(cohort, target_day, window_days)
    if model is None or model.timepoint != (day, window):
        model = case_mix_model(con, cohort, day, window)
    params = {"target_day": day, "window_days": window}
    n_all, events = model.n_clients, model.n_responders
    p_clinic = events / n_all
    mine = _rows(con, "views/case_mix_patterns", cohort, **params)
    mine = mine.assign(expected=model.expected(mine))
    sums = {"n": ("n", "sum"), "observed": ("responders", "sum"), "expected": ("expected", "sum")}
    f = mine.groupby("group", sort=True).agg(**sums).reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        f["crude_rate"] = np.where(f.n > 0, f.observed / f.n, np.nan)
        f["oe"] = np.where(f.expected > 0, f.observed / f.expected, np.nan)
    f["crude_ci_low"], f["crude_ci_high"] = stats.wilson(f.observed, f.n)
    f["oe_ci_low"], f["oe_ci_high"] = stats.poisson_ratio_ci(f.observed, f.expected)
    f["adjusted_rate"] = f.oe * p_clinic
    deps = {c: ["observed", "n"] for c in ("crude_rate", "crude_ci_low", "crude_ci_high", "expected", "oe")}
    deps |= {c: ["observed", "n"] for c in ("oe_ci_low", "oe_ci_high", "adjusted_rate")}
    if cohort.rounded:
        shown, mask = privacy.disclose(f, ["n", "observed"], deps, k=k)
        shown = _coarse_columns(shown, ["crude_rate", "crude_ci_low", "crude_ci_high", "adjusted_rate"], 2)
        shown = _coarse_columns(shown, ["expected"], 0)
        shown = _coarse_columns(shown, ["oe", "oe_ci_low", "oe_ci_high"], 1)
    else:
        shown, mask = privacy.suppress_groups(f, ["n", "observed"], deps, k=k)
    shown["suppressed"] = mask.any(axis=1)
    columns = ["group", "n", "observed", "expected", "crude_rate", "crude_ci_low", "crude_ci_high", "oe"]
    columns += ["oe_ci_low", "oe_ci_high", "adjusted_rate", "suppressed"]
    about = {
        "variables": list(CASE_MIX),
        "terms": list(model.terms),
        "n_clients": n_all,
        "n_responders": events,
        "clinic_rate": p_clinic,
        "converged": model.converged,
        "timepoint": (day, window),
    }
    if cohort.rounded:
        about["n_clients"], about["n_responders"] = privacy.rounded_count(n_all, k), privacy.rounded_count(events, k)
        about["clinic_rate"] = round(p_clinic, 2)
    return shown[columns].reset_index(drop=True), about


ADJUSTED_LABELS = {  # the adjusted comparison's columns as the app and the report head them (group: per caller)
    "n": "Evaluable",
    "observed": "Responders (O)",
    "expected": "Expected (E)",
    "crude_rate": "Crude rate",
    "oe": "O/E",
    "oe_ci_low": "O/E 95% CI low",
    "oe_ci_high": "O/E 95% CI high",
    "adjusted_rate": "Adjusted rate",
}


def _case_mix_design(patterns: pd.DataFrame, terms: pd.Index | None = None) -> pd.DataFrame:
    """The model's terms: the baseline score, and a 0/1 column per level of each category but its first (in the
    whole clinic's data; for a subset, `terms` gives the clinic's columns, so a subset's levels keep their meaning)."""
    categories = [c for c in CASE_MIX if c != "baseline"]
    dummies = pd.get_dummies(patterns[categories].astype(str), prefix=categories, prefix_sep="=", dtype=float)
    design = pd.concat([patterns[["baseline"]].astype(float), dummies], axis=1).reset_index(drop=True)
    if terms is not None:
        return design.reindex(columns=terms, fill_value=0.0)
    firsts = [f"{c}={sorted(patterns[c].astype(str).unique())[0]}" for c in categories if len(patterns)]
    return design.drop(columns=[c for c in firsts if c in design.columns])


# --- the trial-matched estimate: a mixed model for repeated measures -------------------------------------------------

MMRM_MIN_CLIENTS = 20  # a group's model needs at least this many clients with a score at some visit


def mmrm(
    con: duckdb.DuckDBPyConnection, cohort: Cohort, target_day: float | None = None, min_cell: int | None = None
) -> pd.DataFrame:
    """Mean change from baseline at a standard timepoint per group, as the trials report it: a mixed model for
    repeated measures of the change at every standard visit up to the target on visit (a factor) and the baseline
    score (centred on the mean baseline of the group's clients in the model), with a random intercept per client
    (compound symmetry), fitted by REML per group (stats.compound_symmetry_reml, from sums per visit pattern; the
    same fit as statsmodels MixedLM); the estimate is the model's mean change at the target visit for the group's
    mean baseline, with its 95% interval. Beside it the completers' mean change at the target (observed scores only)
    with its t interval. Columns: group, n_started, n_in_model, n_completers, mmrm_change, mmrm_ci_low, mmrm_ci_high,
    completer_change, completer_ci_low, completer_ci_high, suppressed."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    day = float(settings.primary_day if target_day is None else target_day)
    visits = [(float(d), float(w)) for d, w in settings.timepoints if float(d) <= day]
    if day not in [d for d, _ in visits]:
        raise OutcomeError(
            f"the mixed model's target must be a standard timepoint (settings.timepoints), not day {day:g}"
        )
    bits = {d: i for i, (d, _) in enumerate(visits)}
    params = [{"target_day": d, "window_days": w, "bit": bits[d]} for d, w in visits]
    patterns = _rows(con, "views/visit_patterns", cohort, visits=params)
    target = bits[day]
    window = dict(visits)[day]
    table = outcomes_table(con, replace(cohort, rounded=False), [(day, window)], min_cell=0, include_last=False)
    started = dict(zip(table["group"], table["n_started"], strict=True))
    out = []
    for group, g in patterns.groupby("group", sort=True):
        n_started = int(started.get(group, 0))
        done = [
            (r.clients, r.visit_sum_y[list(r.bits).index(target)], r.visit_sum_yy[list(r.bits).index(target)])
            for r in g.itertuples()
            if target in list(r.bits)
        ]
        n_done = int(sum(c for c, _, _ in done))
        total, squares = sum(s for _, s, _ in done), sum(q for _, _, q in done)
        mean = total / n_done if n_done else np.nan
        sd = np.sqrt(max(squares - n_done * mean * mean, 0.0) / (n_done - 1)) if n_done > 1 else np.nan
        record = {
            "group": group,
            "n_started": n_started,
            "n_in_model": int(g.clients.sum()),
            "n_completers": n_done,
            "completer_change": float(mean),
        }
        record["completer_ci_low"], record["completer_ci_high"] = (
            x.item() for x in stats.mean_ci([mean], [sd], [n_done])
        )
        record["mmrm_change"] = record["mmrm_ci_low"] = record["mmrm_ci_high"] = np.nan
        if record["n_in_model"] >= MMRM_MIN_CLIENTS and n_done >= 2:
            fit = stats.compound_symmetry_reml(g)
            at = fit.visits.index(target)
            estimate, se = float(fit.beta[at]), float(np.sqrt(fit.cov[at, at]))
            record["mmrm_change"] = estimate
            record["mmrm_ci_low"], record["mmrm_ci_high"] = estimate - 1.96 * se, estimate + 1.96 * se
        out.append(record)
    frame = pd.DataFrame(out, columns=MMRM_COLUMNS[:-1])
    deps = {c: ["n_completers"] for c in ("completer_change", "completer_ci_low", "completer_ci_high")}
    deps |= {c: ["n_in_model"] for c in ("mmrm_change", "mmrm_ci_low", "mmrm_ci_high")}
    counts = ["n_started", "n_in_model", "n_completers"]
    if cohort.rounded:
        shown, mask = privacy.disclose(frame, counts, deps, k=k)
        shown = _coarse_columns(shown, [c for c in deps], 1)
    else:
        shown, mask = privacy.suppress_groups(frame, counts, deps, k=k)
    shown["suppressed"] = mask.any(axis=1)
    return shown.reset_index(drop=True)


MMRM_COLUMNS = [
    "group",
    "n_started",
    "n_in_model",
    "n_completers",
    "completer_change",
    "completer_ci_low",
    "completer_ci_high",
    "mmrm_change",
    "mmrm_ci_low",
    "mmrm_ci_high",
    "suppressed",
]


# --- attrition: who stops, when, and the denominators each figure uses ---------------------------------------------

ATTRITION_MEASURES = {"dosing": "Still dosing", "assessed": "Still assessed"}


def attrition(con: duckdb.DuckDBPyConnection, cohort: Cohort, min_cell: int | None = None) -> pd.DataFrame:
    """Kaplan–Meier per measure and group of the share of clients who started (a baseline above 0) still dosing
    (a dose of the first course later than day t) and still assessed (a follow-up score of the instrument later
    than day t). A client whose last dose (or score) is course_gap_days or less before the end of the data may go
    on: censored there. Columns: measure, group, time, survival, ci_low, ci_high, at_risk, events, censored,
    remaining, n_group; cut where fewer than k remain at risk; rounded counts for a rounded cohort."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    counts = _rows(con, "views/attrition_by_group", cohort, course_gap_days=settings.course_gap_days)
    out = _km_by(counts, ["measure", "group"], k)
    if cohort.rounded:
        out = _rounded_counts(out, ["at_risk", "events", "censored", "remaining", "n_group"], k)
    return out


def share_at(km: pd.DataFrame, days: list[float]) -> pd.DataFrame:
    """A Kaplan–Meier table (one measure) read at given days: per group and day the survival, its interval and
    the number still at risk after that day (the step at or before it). Columns: group, day, share, ci_low,
    ci_high, remaining; a day past the shown curve (fewer than k at risk) has no share."""
    rows = []
    for group, g in km.groupby("group", sort=True):
        g = g.sort_values("time")
        for day in days:
            before = g[g.time <= day]
            last = before.iloc[-1] if len(before) else None
            past_end = len(g) and day > g.time.max() and (last is None or last.remaining is None)
            if last is None:
                rows.append((group, day, 1.0, 1.0, 1.0, None))
            elif past_end:
                rows.append((group, day, None, None, None, None))
            else:
                rows.append((group, day, last.survival, last.ci_low, last.ci_high, last.remaining))
    return pd.DataFrame(rows, columns=["group", "day", "share", "ci_low", "ci_high", "remaining"])


def stopping_dose(
    con: duckdb.DuckDBPyConnection, cohort: Cohort, max_dose: int = 8, min_cell: int | None = None
) -> pd.DataFrame:
    """The dose after which clients who started stopped: per group, the number of doses of their first course
    (max_dose meaning that many or more), over the courses that have ended (the last dose more than
    course_gap_days before the end of the data); n_doses None counts the courses that may go on. Columns: group,
    n_doses, n_clients, share (of the ended courses), ci_low, ci_high, suppressed."""
    settings = cohort.settings
    k = settings.min_cell if min_cell is None else min_cell
    frame = _rows(con, "views/stopping_dose", cohort, course_gap_days=settings.course_gap_days, max_dose=int(max_dose))
    ended = frame[frame.n_doses.notna()].groupby("group").n_clients.sum()
    out = pd.DataFrame(
        {
            "group": frame["group"],
            "n_doses": frame.n_doses.astype(object).where(frame.n_doses.notna(), None),
            "numerator": frame.n_clients,
            "denominator": frame["group"].map(ended).fillna(0).astype(int),
        }
    )
    out.loc[out.n_doses.isna(), "denominator"] = out.loc[out.n_doses.isna(), "numerator"]
    shown = _with_rate(out, k, partition="group", rounded=cohort.rounded)
    shown = shown.rename(columns={"numerator": "n_clients", "denominator": "n_ended", "rate": "share"})
    shown.loc[shown.n_doses.isna(), ["n_ended", "share", "ci_low", "ci_high"]] = None  # not an ended course
    return shown[["group", "n_doses", "n_clients", "n_ended", "share", "ci_low", "ci_high", "suppressed"]]


RECONCILIATION = [
    (
        "n_first_dose",
        "First dose",
        "Clients whose first course passes the filters.",
        "Overview: 'Clients started'; flow chart: first bar.",
    ),
    (
        "n_with_baseline",
        "A baseline score",
        "Of those, clients with a score of the instrument at or before the first dose, at most {lookback} days "
        "before it.",
        "Overview: 'With baseline'; flow chart: second bar.",
    ),
    (
        "n_started",
        "Started (baseline above 0)",
        "Of those, clients whose baseline is above 0 (and at least the minimum baseline, when one is set): a "
        "baseline of 0 cannot fall by half.",
        "'Started' in Compare and the outcomes command; the denominator of every rate over all who started.",
    ),
    (
        "n_evaluable",
        "Evaluable at the timepoint",
        "Of the started, clients with a score in the timepoint's window, whatever the number of doses.",
        "Overview: the response tile's 'k of n'; 'Evaluable' in Compare and the outcomes command.",
    ),
    (
        "n_completed_induction",
        "Completed induction",
        "Of the clients with a baseline (any value), those with at least {min_doses} doses before day "
        "{induction_days}.",
        "Flow chart: third bar.",
    ),
    (
        "n_followup_in_window",
        "Completed induction, scored at the timepoint",
        "Of those, clients with a score in the timepoint's window.",
        "Flow chart: fourth bar.",
    ),
    (
        "n_included",
        "Included (completers)",
        "Of those, clients whose baseline is above 0 (and at least the minimum baseline): the completers' analysis "
        "set, a subset of the evaluable.",
        "Flow chart: last bar.",
    ),
]


def reconciliation(
    con: duckdb.DuckDBPyConnection, cohort: Cohort, target_day: float | None = None, min_cell: int | None = None
) -> pd.DataFrame:
    """The client counts a user meets for one timepoint (the primary one unless another is given), in one table:
    stage, n_clients, rule, where (where in the app the number appears). All clients, not grouped; counts as the
    cohort shows them (rounded for a rounded cohort)."""
    settings = cohort.settings
    day = settings.primary_day if target_day is None else target_day
    window = settings.window_for(day)
    whole = cohort.grouped("none")
    flow = flow_table(con, whole, target_day=day, window_days=window, min_cell=min_cell)
    table = outcomes_table(con, whole, timepoints=[(day, window)], min_cell=min_cell, include_last=False)
    values = {**(flow.iloc[0].to_dict() if len(flow) else {}), **(table.iloc[0].to_dict() if len(table) else {})}
    when = timepoint_label(_day_label(day, window, False)).lower()
    words = {
        "lookback": settings.baseline_lookback_days,
        "min_doses": settings.min_induction_doses,
        "induction_days": settings.induction_days,
    }
    rows = [
        {
            "stage": stage.replace("the timepoint", when),
            "n_clients": values.get(column, 0),
            "rule": rule.replace("the timepoint", when).format(**words),
            "where": where,
        }
        for column, stage, rule, where in RECONCILIATION
    ]
    return pd.DataFrame(rows, columns=["stage", "n_clients", "rule", "where"])
