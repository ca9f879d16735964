-- The flow per group: first dose -> baseline -> completed induction -> score in the window -> included.
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $instrument VARCHAR (the cohort's instrument), $target_day DOUBLE, $window_days DOUBLE,
--         $standard BOOLEAN (a precomputed timepoint), $min_induction_doses INTEGER
-- Grain: one row per group; each stage is a subset of the one before. Included = the last stage with a baseline
--        above 0 (and >= $min_baseline when given): the completers' analysis set.
with cohort as (
    select
        c.group_label,
        c.client_id,
        c.n_induction_doses >= $min_induction_doses as completed_induction,
        o.baseline,
        o.baseline > 0 and ($cohort['min_baseline'] is null or o.baseline >= $cohort['min_baseline']::double) as has_eligible_baseline,
    from cohort_courses($cohort) c
    left join client_outcomes o on o.client_id = c.client_id and o.course_no = c.course_no
        and o.instrument = $instrument
),

in_window as (
    select distinct t.client_id,
    from timepoint_scores t  -- first courses of clients with a baseline: the only ones the flow counts here
    where $standard and t.instrument = $instrument
        and t.target_day = $target_day and t.window_days = $window_days
    union
    select distinct s.client_id,
    from scored s
    where not $standard
        and s.instrument = $instrument
        and s.course_no = 1
        and s.us_since_first_dose > 0
        and abs(s.us_since_first_dose - days_us($target_day)) <= days_us($window_days)
),

final as (
    select
        c.group_label as "group",
        count(*) as n_first_dose,
        count(*) filter (where c.baseline is not null) as n_with_baseline,
        count(*) filter (where c.baseline is not null and c.completed_induction) as n_completed_induction,
        count(*) filter (where c.baseline is not null and c.completed_induction and w.client_id is not null)
            as n_followup_in_window,
        count(*) filter (where c.has_eligible_baseline and c.completed_induction and w.client_id is not null)
            as n_included,
    from cohort c
    left join in_window w using (client_id)
    group by c.group_label
    order by c.group_label
)

select * from final
