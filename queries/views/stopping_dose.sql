-- The dose after which clients stopped: the number of doses in the first course of each client who started,
-- for courses that have ended (the last dose more than $course_gap_days before the end of the data).
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $course_gap_days INTEGER, $max_dose INTEGER (doses from this on are counted together)
-- Grain: one row per group and number of doses (1 .. $max_dose, the last meaning "$max_dose or more"), and one
--        per group with n_doses NULL for the courses that may still go on.
with data_end as (
    select greatest(
        (select max(session_at) from sessions), (select max(assessed_at) from scores)
    ) as end_at,
),

per_client as (
    select
        c.group_label,
        case when us_between(c.last_dose_at, e.end_at) > days_us($course_gap_days)
            then least(c.n_doses, $max_dose)
        end as n_doses,
    from cohort($cohort) c, data_end e
),

final as (
    select group_label as "group", n_doses, count(*) as n_clients,
    from per_client
    group by all
    order by "group", n_doses nulls last
)

select * from final
