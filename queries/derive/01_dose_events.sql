-- Dosing sessions numbered into courses: a gap of more than $course_gap_days without dosing starts a new course;
-- a dose $induction_days or more after the course's first (exact elapsed time) is maintenance.
-- Params: $course_gap_days INTEGER, $induction_days INTEGER
-- Grain: one row per dosing session.
create or replace table dose_events as
with dosing as (
    select
        client_id,
        session_at,
        modality,
        dose_mg,
        clinician_id,
        site,
        lag(session_at) over (partition by client_id order by session_at) as previous_dose_at,
    from sessions
    where session_type = 'dosing'
),

coursed as (
    select
        *,
        sum(case
            when previous_dose_at is null then 1
            when us_between(previous_dose_at, session_at) > days_us($course_gap_days) then 1
            else 0
        end) over (partition by client_id order by session_at rows unbounded preceding) as course_no,
    from dosing
),

numbered as (
    select
        *,
        row_number() over (partition by client_id, course_no order by session_at) as dose_no,
        min(session_at) over (partition by client_id, course_no) as first_dose_at,
    from coursed
),

final as (
    select
        client_id,
        course_no::integer as course_no,
        dose_no::integer as dose_no,
        session_at,
        us_between(first_dose_at, session_at) as us_since_first_dose,
        us_between(first_dose_at, session_at) / 86400000000 as days_since_first_dose,
        us_between(first_dose_at, session_at) >= days_us($induction_days) as is_maintenance,
        modality,
        dose_mg,
        clinician_id,
        site,
    from numbered
)

select * from final
