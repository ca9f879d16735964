-- Each client's score at the precomputed visits up to a target day, for the mixed model for repeated measures
-- (dashboard/outcomes.py, mmrm): one row per client and visit that has a score, with the baseline and the group.
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $visits STRUCT(target_day DOUBLE, window_days DOUBLE)[] (the standard timepoints up to the target)
-- Grain: one row per client and visit with a score (clients of the cohort: first course, baseline above 0).
with visits as (
    select unnest($visits::struct(target_day double, window_days double)[], recursive := true)
)

select t.group_label as "group", t.client_id, t.baseline, t.target_day as visit, t.score - t.baseline as change,
from cohort_rows('timepoint_scores', $cohort) t
join visits v on t.target_day = v.target_day and t.window_days = v.window_days
order by all
