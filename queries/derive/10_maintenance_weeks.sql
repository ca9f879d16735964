-- Maintenance doses (after the induction period) of each client's first course per week since its first dose,
-- with the course's cohort columns copied from courses, so the maintenance chart filters one small table
-- (course_rows('maintenance_weeks', ...)) instead of joining every dose to the cohort.
-- Params: none (uses dose_events and courses)
-- Grain: one row per client and week with maintenance doses (first course).
create or replace table maintenance_weeks as
with per_week as (
    select
        d.client_id,
        (d.us_since_first_dose // days_us(7))::integer as week,
        count(*) as n_doses,
    from dose_events d
    where d.course_no = 1 and d.is_maintenance
    group by all
),

final as (
    select
        w.*,
        c.* exclude (client_id),
    from per_week w
    join (select client_id, columns(lambda c: list_contains(cohort_columns(), c)) from courses where course_no = 1) c using (client_id)
)

select * from final order by client_id, week
