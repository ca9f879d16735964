-- The groups a grouped chart of the cohort should show: every group of the cohort's first courses, whatever the
-- instrument (so that a group with no scores of the instrument, or none at a timepoint, can be named as missing).
-- Params: $cohort STRUCT (the cohort: grouping and filters; dashboard/cohort.py, Cohort.sql())
-- Grain: one row per group.
select group_label as "group", count(*) as n_clients,
from cohort_courses($cohort)
group by all
order by all
