-- Data quality per instrument: clients with a first dose, without a baseline, and with a baseline but no
-- follow-up score (first courses).
-- Params: none
-- Grain: one row per instrument with any score.
with started as (
    select client_id from courses where course_no = 1
),

instruments_used as (
    select distinct instrument from scores
),

per_instrument as (
    select
        i.instrument,
        count(*) as n_first_dose,
        count(*) filter (where o.client_id is null) as n_without_baseline,
        count(*) filter (where o.client_id is not null and o.n_followups = 0) as n_without_followup,
    from instruments_used i
    cross join started s
    left join client_outcomes o
        on o.client_id = s.client_id and o.course_no = 1 and o.instrument = i.instrument
    group by i.instrument
),

final as (select * from per_instrument order by instrument)

select * from final
