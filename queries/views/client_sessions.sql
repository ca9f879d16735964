-- One client's sessions since their first dose (days; whole minutes), dosing ones with mg, course and maintenance.
-- Params: $client_id VARCHAR
-- Grain: one row per session.
with first_dose as (
    select min(first_dose_at) as first_dose_at from courses where client_id = $client_id
),

final as (
    select
        round((epoch(s.session_at) - epoch(f.first_dose_at)) / 86400.0, 2) as day,
        trunc(us_between(f.first_dose_at, s.session_at) / 60000000)::integer as minutes_since_first_dose,
        s.session_type,
        s.modality,
        s.dose_mg,
        coalesce(d.is_maintenance, false) as is_maintenance,
        d.course_no,
        d.dose_no,
    from sessions s
    cross join first_dose f
    left join dose_events d
        on d.client_id = s.client_id and d.session_at = s.session_at and s.session_type = 'dosing'
    where s.client_id = $client_id
    order by day
)

select * from final
