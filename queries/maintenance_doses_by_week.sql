-- Maintenance doses (after the induction period) per week since the first dose.
-- Params: $group_by VARCHAR, $focus VARCHAR and the cohort filters of cohort_courses
-- Grain: one row per week with maintenance doses.
with cohort as (
    select c.client_id, c.course_no,
    from cohort_courses(
        $modalities, $integration, $conditions, $sites, $clinicians, $age_bands,
        $cohort_from, $cohort_to, $group_by, $focus
    ) c
),

final as (
    select
        floor(d.days_since_first_dose / 7)::integer as week,
        count(*) as n_doses,
        count(distinct d.client_id) as n_clients,
    from dose_events d
    join cohort c using (client_id, course_no)
    where d.is_maintenance
    group by all
    order by week
)

select * from final
