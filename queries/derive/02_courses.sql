-- Courses: one per client and course, with everything a cohort is grouped or filtered by.
-- Params: $lookback_days INTEGER, $integration_min_sessions INTEGER
-- Grain: one row per client and course. A course's window runs from $lookback_days before its first dose
--        to $lookback_days before the next course's first dose (those days hold the next course's baseline).
create or replace table courses as
with per_course as (
    select
        client_id,
        course_no,
        min(session_at) as first_dose_at,
        max(session_at) as last_dose_at,
        count(*)::integer as n_doses,
        (count(*) filter (where not is_maintenance))::integer as n_induction_doses,
        (count(*) filter (where is_maintenance))::integer as n_maintenance_doses,
        arg_min(modality, session_at) as modality,
        arg_min(clinician_id, session_at) as clinician_id,
        arg_min(site, session_at) as dose_site,
    from dose_events
    group by client_id, course_no
),

windows as (
    select
        *,
        first_dose_at - to_days($lookback_days) as window_start,
        lead(first_dose_at) over (partition by client_id order by course_no) - to_days($lookback_days)
            as window_end,
    from per_course
),

integration as (
    select w.client_id, w.course_no, count(s.client_id)::integer as n_integration_sessions,
    from windows w
    left join sessions s
        on s.client_id = w.client_id
        and s.session_type = 'integration'
        and s.session_at >= w.window_start
        and s.session_at < coalesce(w.window_end, 'infinity'::timestamp) -- not an OR: it would make a nested-loop join
    group by w.client_id, w.course_no
),

final as (
    select
        w.client_id,
        w.course_no,
        w.first_dose_at,
        w.last_dose_at,
        w.window_start,
        w.window_end,
        w.n_doses,
        w.n_induction_doses,
        w.n_maintenance_doses,
        coalesce(w.modality, '(not recorded)') as modality,
        i.n_integration_sessions,
        i.n_integration_sessions >= $integration_min_sessions as has_integration,
        case when i.n_integration_sessions >= $integration_min_sessions
            then 'with integration therapy' else 'ketamine alone' end as integration,
        coalesce(w.clinician_id, '(not recorded)') as clinician_id,
        coalesce(c.site, w.dose_site, '(not recorded)') as site,
        coalesce(c.condition, '(not recorded)') as condition,
        coalesce(c.age_band, '(not recorded)') as age_band,
        coalesce(c.sex, '(not recorded)') as sex,
        c.prior_treatments,
        case
            when c.prior_treatments is null then '(not recorded)'
            when c.prior_treatments <= 2 then c.prior_treatments::varchar
            when c.prior_treatments <= 4 then '3-4'
            else '5+'
        end as prior_treatments_band,
        strftime(w.first_dose_at, '%Y-%m') as cohort_month,
        strftime(w.first_dose_at, '%Y') || '-Q' || quarter(w.first_dose_at) as cohort_quarter,
    from windows w
    join integration i using (client_id, course_no)
    left join clients c using (client_id)
)

select * from final
