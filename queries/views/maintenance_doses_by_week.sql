-- Maintenance doses (after the induction period) per week since the first dose (precomputed per client and week
-- in maintenance_weeks).
-- Params: $group_by VARCHAR, $focus VARCHAR and the cohort filters of cohort_courses
-- Grain: one row per week with maintenance doses.
with per_client as (
    -- maintenance_weeks carries the first course's cohort columns: filtered directly, no join
    select m.week, m.n_doses,
    from course_rows(
        'maintenance_weeks', $modalities, $integration, $conditions, $sites, $clinicians, $age_bands,
        $cohort_from, $cohort_to, $group_by, $focus
    ) m
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
