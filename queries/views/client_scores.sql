-- One client's scores of one instrument since their first dose (days; whole minutes; no dates), with the dose before.
-- Params: $client_id VARCHAR, $instrument VARCHAR
-- Grain: one row per score.
with first_dose as (
    select min(first_dose_at) as first_dose_at from courses where client_id = $client_id
),

score_sessions as (
    -- the session a score was taken at: the one with its session_id, or at the same instant
    select
        sc.assessed_at,
        string_agg(distinct se.session_type, ' + ' order by se.session_type) as session_type,
    from scores sc
    join sessions se
        on se.client_id = sc.client_id
        and (se.session_id = sc.session_id or se.session_at = sc.assessed_at)
    where sc.client_id = $client_id and sc.instrument = $instrument
    group by sc.assessed_at
),

final as (
    select
        s.course_no,
        round((epoch(s.assessed_at) - epoch(f.first_dose_at)) / 86400.0, 2) as day,
        trunc(us_between(f.first_dose_at, s.assessed_at) / 60000000)::integer as minutes_since_first_dose,
        s.score,
        s.doses_before,
        d.modality as last_dose_modality,
        d.dose_mg as last_dose_mg,
        ss.session_type,
        case when i.safety_item is not null and s.items is not null then s.items[i.safety_item] end as safety_answer,
    from scored s
    cross join first_dose f
    join instruments i on i.name = s.instrument
    left join dose_events d
        on d.client_id = s.client_id and d.course_no = s.course_no and d.dose_no = s.doses_before
    left join score_sessions ss on ss.assessed_at = s.assessed_at
    where s.client_id = $client_id and s.instrument = $instrument
    order by day
)

select * from final
