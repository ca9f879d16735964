-- Maintenance doses (after the induction period) per week since the first dose (precomputed per client and week
-- in maintenance_weeks).
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql())
-- Grain: one row per week with maintenance doses.
with per_client as (
    -- maintenance_weeks carries the first course's cohort columns: filtered directly, no join
    select m.week, m.n_doses,
    from course_rows('maintenance_weeks', $cohort) m
),

final as (
    select
        week,
        sum(n_doses)::bigint as n_doses,
        count(*) as n_clients,  -- one row per client and week
    from per_client
    group by week
    order by week
)

select * from final
