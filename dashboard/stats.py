"""Statistics from well-kept libraries: Wilson intervals (statsmodels), Kaplan–Meier (lifelines), exact
binomial funnel limits (scipy), and means with t intervals.

The libraries are imported inside the functions that use them: scipy.stats alone takes about 0.6 s to import, and
the app's frame (sidebar, navigation) and the first chart of a cold start need none of them."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class MixedFit:
    """A compound-symmetry mixed model's REML fit: fixed effects `beta` (one mean per visit, then the centred
    baseline's slope), their covariance `cov`, the residual and client variances, and the clients and scores used."""

    visits: list[int]
    beta: np.ndarray
    cov: np.ndarray
    sigma2: float
    tau2: float
    clients: int
    scores: int


def compound_symmetry_reml(patterns: pd.DataFrame) -> MixedFit:
    """REML fit of y_ij = mu_visit(j) + theta * b_i + u_i + e_ij, u_i ~ N(0, tau2), e_ij ~ N(0, sigma2) (a random
    intercept per client: compound symmetry), from sums per visit pattern (queries/views/visit_patterns.sql), so
    its cost does not grow with the number of clients. The same model and estimates as statsmodels MixedLM with a
    visit factor, the covariate and groups=client (tests/test_mmrm.py compares them).

    With gamma = tau2 / sigma2, a client with n scores has V_i = sigma2 (I + gamma J) and
    V_i^-1 = (I - c_n J) / sigma2, c_n = gamma / (1 + n gamma), so X'V^-1 X, X'V^-1 y and y'V^-1 y are sums over
    clients of X_i'X_i - c_n (X_i'1)(1'X_i) and the like, which depend on the data only through per-pattern sums.
    sigma2 is profiled out: for each gamma, beta is the GLS solution, Q = y'Wy - beta'X'Wy, sigma2 = Q / (N - p), and
    -2 REML log-likelihood = (N - p) log sigma2 + sum_i log(1 + n_i gamma) + log det(X'WX) + constant; gamma is found
    by a bounded scalar search on log gamma (and gamma = 0 tried). cov(beta) = sigma2 (X'WX)^-1.

    Columns of `patterns`: n_visits, clients, sum_b, sum_bb, sum_t, sum_tt, sum_bt, sum_yy, bits, visit_sum_y (bits
    and visit sums as lists; b the centred baseline, t a client's total of y)."""
    from scipy import optimize

    visits = sorted({int(b) for bits in patterns.bits for b in bits})
    where = {v: i for i, v in enumerate(visits)}
    p = len(visits) + 1
    slope = p - 1
    per_n: dict[int, list] = {}  # n -> [A1, A2, B1, B2, C2, clients]
    c1 = 0.0
    for r in patterns.itertuples(index=False):
        n = int(r.n_visits)
        acc = per_n.setdefault(n, [np.zeros((p, p)), np.zeros((p, p)), np.zeros(p), np.zeros(p), 0.0, 0])
        idx = [where[int(b)] for b in r.bits]
        s = np.zeros(p)
        s[idx] = 1.0
        a1 = np.diag(s * r.clients)
        a1[idx, slope] = a1[slope, idx] = r.sum_b
        a1[slope, slope] = n * r.sum_bb
        ones = np.outer(s, s) * r.clients
        ones[idx, slope] = ones[slope, idx] = n * r.sum_b
        ones[slope, slope] = n * n * r.sum_bb
        b1 = np.zeros(p)
        b1[idx] = np.asarray(r.visit_sum_y, dtype=float)
        b1[slope] = r.sum_bt
        b2 = s * r.sum_t
        b2[slope] = n * r.sum_bt
        acc[0] += a1
        acc[1] += ones
        acc[2] += b1
        acc[3] += b2
        acc[4] += r.sum_tt
        acc[5] += int(r.clients)
        c1 += r.sum_yy
    ns = sorted(per_n)
    clients = sum(per_n[n][5] for n in ns)
    scores = sum(n * per_n[n][5] for n in ns)
    if scores - p <= 0:
        raise ValueError("too few scores for the mixed model")

    def solve(gamma: float):
        xwx, xwy, ywy, logdet_v = np.zeros((p, p)), np.zeros(p), c1, 0.0
        for n in ns:
            a1, a2, b1, b2, c2, m = per_n[n]
            c = gamma / (1 + n * gamma)
            xwx += a1 - c * a2
            xwy += b1 - c * b2
            ywy -= c * c2
            logdet_v += m * np.log1p(n * gamma)
        beta = np.linalg.solve(xwx, xwy)
        q = max(float(ywy - beta @ xwy), 1e-300)
        _sign, logdet = np.linalg.slogdet(xwx)
        return beta, xwx, q, (scores - p) * np.log(q / (scores - p)) + logdet_v + logdet

    found = optimize.minimize_scalar(
        lambda eta: solve(float(np.exp(eta)))[3], bounds=(-25.0, 12.0), method="bounded", options={"xatol": 1e-10}
    )
    gamma = float(np.exp(found.x))
    if solve(0.0)[3] <= solve(gamma)[3]:
        gamma = 0.0
    beta, xwx, q, _ = solve(gamma)
    sigma2 = q / (scores - p)
    return MixedFit(
        visits=visits,
        beta=beta,
        cov=sigma2 * np.linalg.inv(xwx),
        sigma2=sigma2,
        tau2=gamma * sigma2,
        clients=clients,
        scores=scores,
    )
