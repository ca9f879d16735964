-- Durability: time from first response to relapse (event) or to the last assessment (censored), responders only.
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql())
-- Grain: one row per group, day and event flag, with the number of clients.
with cohort as (
    select
        c.group_label,
        ceil(c.days_response_to_relapse_or_censor) as days,  -- whole days
        c.has_relapsed as is_event,
    from cohort($cohort) c
    where c.first_response_day is not null
),

final as (
    select group_label as "group", days, is_event, count(*) as n_clients,
    from cohort
    group by all
    order by "group", days, is_event
)

select * from final
