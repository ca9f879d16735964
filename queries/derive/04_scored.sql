-- Every score placed in its course, with time since the course's first dose and the doses given before it.
-- Params: none (uses the courses and dose_events tables)
-- Grain: one row per score that falls in a course window (scores before any course's window are left out).
create or replace table scored as
with placed as (
    select
        s.client_id,
        c.course_no,
        s.instrument,
        s.assessed_at,
        s.score,
        s.items,
        us_between(c.first_dose_at, s.assessed_at) as us_since_first_dose,
        us_between(c.first_dose_at, s.assessed_at) / 86400000000 as days_since_first_dose,
    from scores s
    join courses c
        on s.client_id = c.client_id
        and s.assessed_at >= c.window_start
        and s.assessed_at < coalesce(c.window_end, 'infinity'::timestamp) -- not an OR: it would make a nested-loop join
),

with_doses as (
    select p.*, coalesce(d.dose_no, 0)::integer as doses_before,
    from placed p
    asof left join dose_events d
        on p.client_id = d.client_id
        and p.course_no = d.course_no
        and p.assessed_at > d.session_at
),

final as (
    select
        w.*,
        i.safety_item is not null and w.items is not null
            and w.items[i.safety_item] > 0 as has_safety_flag,
        w.items is not null and i.safety_item is not null as has_safety_item,
    from with_doses w
    join instruments i on i.name = w.instrument
)

select * from final
