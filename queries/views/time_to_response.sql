-- Time from first dose to first response (event) or to the last assessment (censored), for Kaplan–Meier.
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql())
-- Grain: one row per group, day and event flag, with the number of clients (aggregated: never one row a client).
with cohort as (
    select
        c.group_label,
        ceil(c.days_to_response_or_censor) as days,  -- whole days: steps no finer than a day
        c.first_response_day is not null as is_event,
    from cohort($cohort) c
),

final as (
    select group_label as "group", days, is_event, count(*) as n_clients,
    from cohort
    group by all
    order by "group", days, is_event
)

select * from final
