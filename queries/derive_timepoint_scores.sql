-- Each client's score at every standard timepoint (nearest to the target within the window, ties to the later),
-- precomputed so that a filter change aggregates one row per client instead of scanning every score.
-- Params: $timepoints STRUCT(target_day DOUBLE, window_days DOUBLE)[] (the standard timepoints of the settings)
-- Grain: one row per client, course, instrument and standard timepoint that has a score in its window.
create or replace table timepoint_scores as
with targets as (
    select unnest($timepoints, recursive := true)
),

final as (
    select
        s.client_id,
        s.course_no,
        s.instrument,
        t.target_day,
        t.window_days,
        arg_min(s.score, (abs(s.days_since_first_dose - t.target_day), -s.days_since_first_dose)) as score,
    from scored s
    join targets t on abs(s.days_since_first_dose - t.target_day) <= t.window_days
    where s.days_since_first_dose > 0
    group by all
)

select * from final order by instrument, target_day, window_days
