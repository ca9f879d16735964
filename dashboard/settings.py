"""Analysis settings (DOMAIN.md §3–5): defaults here, a clinic's own values in a TOML file.

Set OUTCOMES_SETTINGS to a TOML file with a [settings] table to change any of them, e.g.
    [settings]
    course_gap_days = 120
    min_cell = 5
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

ENV_VAR = "OUTCOMES_SETTINGS"


@dataclass(frozen=True)
class Settings:
    course_gap_days: int = 90  # a gap longer than this without dosing starts a new course
    induction_days: int = 28  # doses in the first 28 days of a course are induction, later ones maintenance
    baseline_lookback_days: int = 30  # baseline: last score at or before the first dose, no earlier than this
    min_induction_doses: int = 4  # "completed induction" in the flow
    integration_min_sessions: int = 1  # a course with at least this many integration sessions counts as KAP
    min_cell: int = 11  # small-cell suppression threshold k (0 disables)
    primary_day: int = 28  # the primary timepoint (week 4)
    rapid_day: float = 1.0  # rapid response: ~24 h after the first dose ...
    rapid_window_days: float = 1.0  # ... within ± this
    response_pct: float = 50.0  # response: a reduction from baseline of at least this many percent
    partial_response_pct: float = 25.0  # partial response: a reduction of at least this, short of a response
    early_improvement_pct: float = 20.0  # early improvement / non-improvement signal threshold (% reduction)
    relapse_gap_min_days: float = 5.0  # relapse: two consecutive non-response assessments this far apart ...
    relapse_gap_max_days: float = 15.0  # ... and no further
    # Standard timepoints (target day, ± window): 24 h, day 7, week 4, week 12, week 26.
    timepoints: tuple[tuple[float, float], ...] = ((1, 1), (7, 3), (28, 7), (84, 14), (182, 28))
    # Further timepoints precomputed per client for the views (72 h on the rapid-onset page).
    extra_timepoints: tuple[tuple[float, float], ...] = ((3, 1),)
    # Trajectory bin widths precomputed per client (days): half-days for the first week, weeks for the long term.
    trajectory_bins: tuple[float, ...] = (0.5, 7.0)
    trajectory_max_day: float = 364.0
    # ... and no more than this many bins of any width: 52 weeks, or the first 26 days in half-days (the rapid-onset
    # charts draw 7); a bin past both is not stored, and not asked for (outcomes.trajectory refuses).
    trajectory_max_bins: int = 52
    # off track: a score above this quantile of the expected course (dashboard/expected.py) ...
    expected_quantile: float = 0.75
    expected_min_clients: int = 100  # ... whose model is fitted on at least this many other clients
    max_upload_mb: int = 200  # the largest file the Data page imports (server.maxUploadSize caps uploads too)
    import_memory_mb: int = 4096  # an import that needs more memory is stopped (0: no limit); DuckDB gets half

    def derive_params(self) -> dict:
        """The parameters of the derived-table builds."""
        return {
            "course_gap_days": self.course_gap_days,
            "induction_days": self.induction_days,
            "lookback_days": self.baseline_lookback_days,
            "integration_min_sessions": self.integration_min_sessions,
            "rapid_day": self.rapid_day,
            "rapid_window_days": self.rapid_window_days,
            "primary_day": self.primary_day,
            "primary_window_days": self.window_for(self.primary_day),
            "early_pct": self.early_improvement_pct,
            "response_pct": self.response_pct,
            "partial_pct": self.partial_response_pct,
            "relapse_gap_min": self.relapse_gap_min_days,
            "relapse_gap_max": self.relapse_gap_max_days,
            "timepoints": [{"target_day": float(d), "window_days": float(w)} for d, w in self.precomputed()],
            "bin_widths": [float(b) for b in self.trajectory_bins],
            "max_day": self.trajectory_max_day,
            "max_bins": self.trajectory_max_bins,
        }

    def as_json(self) -> dict:
        """The settings as JSON values (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def precomputed(self) -> tuple[tuple[float, float], ...]:
        """The timepoints whose per-client scores the derived tables hold."""
        return self.timepoints + tuple(t for t in self.extra_timepoints if t not in self.timepoints)

    def is_standard(self, day: float, window: float) -> bool:
        """Whether a timepoint is precomputed (a standard one or an extra one)."""
        return any(float(d) == float(day) and float(w) == float(window) for d, w in self.precomputed())

    def trajectory_last_day(self, bin_days: float) -> float:
        """The last day whose scores the precomputed bins of this width hold."""
        return min(self.trajectory_max_day, self.trajectory_max_bins * float(bin_days))

    def window_for(self, day: float) -> float:
        """The standard window of a standard timepoint, else a quarter of the day rounded to the nearest whole day
        (halves up), at least 1."""
        for target, window in self.timepoints:
            if target == day:
                return window
        return max(1.0, float(math.floor(day / 4 + 0.5)))


def load(path: str | os.PathLike | None = None) -> Settings:
    """Defaults, overridden by the [settings] table of `path` or $OUTCOMES_SETTINGS when given."""
    path = path or os.environ.get(ENV_VAR)
    if not path:
        return Settings()
    data = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("settings", {})
    known = {f.name: f.type for f in fields(Settings)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for key in ("timepoints", "extra_timepoints"):
        if key in data:
            data[key] = tuple((float(d), float(w)) for d, w in data[key])
    if "trajectory_bins" in data:
        data["trajectory_bins"] = tuple(float(b) for b in data["trajectory_bins"])
    return replace(Settings(), **data)
