-- Durability: time from first response to relapse (event) or to the last assessment (censored), responders only.
-- Params: $instrument VARCHAR, $min_baseline DOUBLE, $group_by VARCHAR, and the cohort filters of cohort_courses
-- Grain: one row per group, day and event flag, with the number of clients.
with cohort as (
    select
        c.group_label,
        ceil(c.days_response_to_relapse_or_censor) as days,  -- whole days
        c.has_relapsed as is_event,
    from cohort(
        $instrument, $modalities, $integration, $conditions, $sites, $clinicians, $age_bands,
        $cohort_from, $cohort_to, $group_by, $focus, $min_baseline
    ) c
    where c.first_response_day is not null
),

final as (
    select group_label as "group", days, is_event, count(*) as n_clients,
    from cohort
    group by all
    order by "group", days, is_event
)

select * from final
