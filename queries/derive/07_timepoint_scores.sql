-- Each client's score at every precomputed timepoint of the first course (nearest to the target within the window,
-- ties to the later), with the cohort's columns and baseline copied from cohort_outcomes, so that a filter change
-- filters and aggregates this one table (cohort_rows('timepoint_scores', ...)) instead of joining it to the cohort.
-- Params: $timepoints STRUCT(target_day DOUBLE, window_days DOUBLE)[] (the precomputed timepoints of the settings)
-- Grain: one row per client, instrument (with a baseline) and timepoint that has a score in its window.
create or replace table timepoint_scores as
with targets as (
    select unnest($timepoints, recursive := true)
),

at_target as (
    select
        s.client_id,
        s.instrument,
        t.target_day,
        t.window_days,
        arg_min(s.score, (abs(s.us_since_first_dose - days_us(t.target_day)), -s.us_since_first_dose)) as score,
    from scored s
    join targets t on abs(s.us_since_first_dose - days_us(t.target_day)) <= days_us(t.window_days)
    where s.course_no = 1 and s.us_since_first_dose > 0
    group by all
),

final as (
    select
        a.*,
        o.* exclude (client_id, instrument),
    from at_target a
    join (select client_id, instrument, baseline, is_remitted_at_baseline, columns(lambda c: list_contains(cohort_columns(), c)) from cohort_outcomes) o using (client_id, instrument)
)

select * from final order by instrument, target_day, window_days, client_id
