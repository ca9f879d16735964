-- One client's scores of one instrument, in days since their first dose (no calendar dates).
-- Params: $client_id VARCHAR, $instrument VARCHAR
-- Grain: one row per score.
with first_dose as (
    select min(first_dose_at) as first_dose_at from courses where client_id = $client_id
),

final as (
    select
        s.course_no,
        round((epoch(s.assessed_at) - epoch(f.first_dose_at)) / 86400.0, 2) as day,
        s.score,
        s.doses_before,
        case when i.safety_item is not null and s.items is not null then s.items[i.safety_item] end as safety_answer,
    from scored s
    cross join first_dose f
    join instruments i on i.name = s.instrument
    where s.client_id = $client_id and s.instrument = $instrument
    order by day
)

select * from final
