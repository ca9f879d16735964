-- The case-mix model's data: evaluable clients at one precomputed timepoint per group and case-mix pattern (baseline
-- score, condition, prior-treatments band, age band), with their responders. Aggregated in DuckDB so that the model
-- (dashboard/outcomes.py, adjusted) gets one row per pattern, not one per client.
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $target_day DOUBLE, $window_days DOUBLE (a precomputed timepoint), $response_pct DOUBLE
-- Grain: one row per group and pattern.
select
    t.group_label as "group",
    t.baseline,
    t.condition,
    t.prior_treatments_band,
    t.age_band,
    count(*) as n,
    count(*) filter (where 100.0 * (t.score - t.baseline) / t.baseline <= -$response_pct) as responders,
from cohort_rows('timepoint_scores', $cohort) t
where t.target_day = $target_day and t.window_days = $window_days
group by all
order by all
