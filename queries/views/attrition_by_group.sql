-- Attrition: how long each client who started kept dosing, and kept being assessed, for Kaplan–Meier.
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $course_gap_days INTEGER (a client whose last dose, or last score, is this or less before the end of
--         the data may still be dosing, or assessed: censored at the end of the data)
-- Grain: one row per measure ('dosing', 'assessed'), group, day and event flag, with the number of clients.
--        Days are whole days since the first dose, rounded up: "still dosing at day t" = a dose later than day t.
with data_end as (
    select greatest(
        (select max(session_at) from sessions), (select max(assessed_at) from scores)
    ) as end_at,
),

cohort as (
    select
        c.group_label,
        c.first_dose_at,
        c.last_dose_at,
        c.first_dose_at + to_microseconds(coalesce(c.last_us_since_first_dose, 0)) as last_score_at,
    from cohort($cohort) c
),

per_client as (
    select
        'dosing' as measure,
        c.group_label,
        us_between(c.last_dose_at, e.end_at) > days_us($course_gap_days) as is_event,
        case when us_between(c.last_dose_at, e.end_at) > days_us($course_gap_days)
            then us_between(c.first_dose_at, c.last_dose_at)
            else us_between(c.first_dose_at, e.end_at)
        end as us_observed,
    from cohort c, data_end e
    union all
    select
        'assessed' as measure,
        c.group_label,
        us_between(c.last_score_at, e.end_at) > days_us($course_gap_days) as is_event,
        case when us_between(c.last_score_at, e.end_at) > days_us($course_gap_days)
            then us_between(c.first_dose_at, c.last_score_at)
            else us_between(c.first_dose_at, e.end_at)
        end as us_observed,
    from cohort c, data_end e
),

final as (
    select
        measure,
        group_label as "group",
        ceil(us_observed / 86400000000)::integer as days,
        is_event,
        count(*) as n_clients,
    from per_client
    group by all
    order by measure, "group", days, is_event
)

select * from final
