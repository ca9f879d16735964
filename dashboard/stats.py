"""Statistics from well-kept libraries: Wilson intervals (statsmodels), Kaplan–Meier (lifelines), exact
binomial funnel limits (scipy), and means with t intervals.

The libraries are imported inside the functions that use them: scipy.stats alone takes about 0.6 s to import, and
the app's frame (sidebar, navigation) and the first chart of a cold start need none of them."""

from __future__ import annotations

import numpy as np
import pandas as pd


def wilson(successes, n, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for each (successes, n); NaN where n is 0 or missing."""
    from statsmodels.stats.proportion import proportion_confint

    k = np.asarray(pd.to_numeric(pd.Series(successes), errors="coerce"), dtype=float)
    n = np.asarray(pd.to_numeric(pd.Series(n), errors="coerce"), dtype=float)
    ok = (n > 0) & np.isfinite(k) & np.isfinite(n)
    low = np.full(n.shape, np.nan)
    high = np.full(n.shape, np.nan)
    if ok.any():
        lo, hi = proportion_confint(k[ok], n[ok], alpha=alpha, method="wilson")
        low[ok], high[ok] = lo, hi
    return low, high


def mean_ci(mean, sd, n, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """t interval for a mean from its summary (mean, sample SD, n); NaN where n < 2."""
    from scipy import stats as sps

    mean, sd, n = (np.asarray(x, dtype=float) for x in (mean, sd, n))
    half = np.full(n.shape, np.nan)
    ok = n >= 2
    half[ok] = sps.t.ppf(1 - alpha / 2, n[ok] - 1) * sd[ok] / np.sqrt(n[ok])
    return mean - half, mean + half


def funnel_limits(p0: float, n_max: int, levels=(0.95, 0.998), n_min: int = 1) -> pd.DataFrame:
    """Exact binomial control limits around the overall rate p0 for n = n_min..n_max (Spiegelhalter 2005).

    Columns: n, and for each level L: lower_L, upper_L (as proportions)."""
    from scipy import stats as sps

    lo, hi = max(1, n_min), max(n_min, n_max)
    # every n up to 500, then a log-spaced grid: the limits are smooth there and the chart needs no more points
    n = np.unique(
        np.concatenate(
            [
                np.arange(lo, min(hi, 500) + 1),
                np.geomspace(max(lo, 500), hi, 200).round().astype(int) if hi > 500 else [],
            ]
        )
    )
    n = n.astype(int)
    out = {"n": n}
    for level in levels:
        tail = (1 - level) / 2
        out[f"lower_{level:g}"] = sps.binom.ppf(tail, n, p0) / n
        out[f"upper_{level:g}"] = sps.binom.ppf(1 - tail, n, p0) / n
    return pd.DataFrame(out)


def kaplan_meier(durations, events, weights=None, label: str = "km") -> pd.DataFrame:
    """Kaplan–Meier estimate with 95% CI and numbers at risk, one row per distinct time (lifelines).

    durations: time to event or censoring; events: 1 event / 0 censored; weights: counts of identical rows.
    Columns: time, survival, ci_low, ci_high, at_risk, events, censored."""
    from lifelines import KaplanMeierFitter

    durations = np.asarray(durations, dtype=float)
    if durations.size == 0:
        return pd.DataFrame(columns=["time", "survival", "ci_low", "ci_high", "at_risk", "events", "censored"])
    kmf = KaplanMeierFitter(label=label)
    kmf.fit(
        durations,
        event_observed=np.asarray(events, dtype=bool),
        weights=None if weights is None else np.asarray(weights, dtype=float),
    )
    table = kmf.event_table
    ci = kmf.confidence_interval_
    out = pd.DataFrame(
        {
            "time": kmf.survival_function_.index.to_numpy(dtype=float),
            "survival": kmf.survival_function_[label].to_numpy(),
            "ci_low": ci.iloc[:, 0].to_numpy(),
            "ci_high": ci.iloc[:, 1].to_numpy(),
            "at_risk": table["at_risk"].to_numpy(),
            "events": table["observed"].to_numpy(),
            "censored": table["censored"].to_numpy(),
        }
    )
    return out


def poisson_ratio_ci(observed, expected, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval for an observed / expected ratio: the Poisson interval of the observed count
    divided by the expected, as for a standardised ratio (NaN where nothing is expected)."""
    from scipy import stats as sps

    o, e = (np.asarray(x, dtype=float) for x in (observed, expected))
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(o > 0, sps.chi2.ppf(alpha / 2, 2 * o) / 2, 0.0) / e
        high = sps.chi2.ppf(1 - alpha / 2, 2 * (o + 1)) / 2 / e
    bad = ~(e > 0)
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def ratio_funnel_limits(e_max: float, levels=(0.95, 0.998), points: int = 200) -> pd.DataFrame:
    """Control limits for an observed / expected ratio around 1 as the expected count grows (Spiegelhalter 2005:
    the Poisson limits of the observed count given E, over E), on a grid up to e_max. Columns: expected, lower_L,
    upper_L."""
    grid = np.linspace(max(e_max / points, 0.5), max(e_max, 1.0) * 1.05, points)
    return ratio_funnel_limits_at(list(grid), levels)


def ratio_funnel_limits_at(expected: list[float], levels=(0.95, 0.998)) -> pd.DataFrame:
    """The same limits as ratio_funnel_limits at given expected counts (a group's own E, for where it falls)."""
    from scipy import stats as sps

    e = np.asarray([x for x in expected if x and x > 0], dtype=float)
    out = {"expected": e}
    for level in levels:
        tail = (1 - level) / 2
        out[f"lower_{level}"] = sps.poisson.ppf(tail, e) / e
        out[f"upper_{level}"] = sps.poisson.ppf(1 - tail, e) / e
    return pd.DataFrame(out)
