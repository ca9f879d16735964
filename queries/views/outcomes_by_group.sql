-- Response and remission per cohort group and timepoint: the score nearest each target day within its window
-- (ties to the later score) and the last observed score (the target with day NULL).
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $instrument VARCHAR (the cohort's instrument), $response_pct DOUBLE (the response threshold, %),
--         $standard_targets STRUCT(target_day DOUBLE, window_days DOUBLE)[] (precomputed timepoints),
--         $custom_targets STRUCT(target_day DOUBLE, window_days DOUBLE)[] (any others, found among all the scores),
--         $include_last BOOLEAN
-- Grain: one row per group and timepoint. Started = first dose and a baseline > 0 (>= $min_baseline if given).
with cohort as (
    select c.client_id, c.group_label, c.baseline, c.is_remitted_at_baseline, c.last_score,
    from cohort($cohort) c
),

standard as (
    select unnest($standard_targets::struct(target_day double, window_days double)[], recursive := true)
),

custom as (
    select unnest($custom_targets::struct(target_day double, window_days double)[], recursive := true)
),

targets as (
    select target_day, window_days from standard
    union all
    select target_day, window_days from custom
    union all
    select null::double as target_day, null::double as window_days where $include_last
),

-- any other timepoint is found among all the scores
at_custom as (
    select
        x.target_day,
        x.window_days,
        s.client_id,
        arg_min(s.score, (abs(s.us_since_first_dose - days_us(x.target_day)), -s.us_since_first_dose)) as score,
    from scored s
    join custom x on abs(s.us_since_first_dose - days_us(x.target_day)) <= days_us(x.window_days)
    where s.instrument = $instrument
        and s.course_no = 1
        and s.us_since_first_dose > 0
    group by all
),

evaluated as (
    -- only clients with a score at the target (and, for the last observed, any follow-up); standard timepoints
    -- are precomputed in timepoint_scores with the cohort's columns, so they are filtered there, not joined
    select t.group_label, t.target_day, t.window_days, t.baseline, t.is_remitted_at_baseline, t.score,
    from cohort_rows('timepoint_scores', $cohort) t
    join standard x on t.target_day = x.target_day and t.window_days = x.window_days
    union all
    select c.group_label, a.target_day, a.window_days, c.baseline, c.is_remitted_at_baseline, a.score,
    from cohort c
    join at_custom a using (client_id)
    union all
    select c.group_label, null, null, c.baseline, c.is_remitted_at_baseline, c.last_score,
    from cohort c
    where $include_last and c.last_score is not null
),

scored_groups as (
    select
        e.group_label,
        e.target_day,
        e.window_days,
        count(*) as n_evaluable,
        count(*) filter (where 100.0 * (e.score - e.baseline) / e.baseline <= -$response_pct) as n_responders,
        count(*) filter (where not e.is_remitted_at_baseline) as n_remission_eligible,
        count(*) filter (where not e.is_remitted_at_baseline and e.score <= i.remission_max) as n_remitters,
        avg(e.baseline) as mean_baseline,
        avg(e.score) as mean_score,
        avg(100.0 * (e.score - e.baseline) / e.baseline) as mean_pct_change,
    from evaluated e
    join instruments i on i.name = $instrument
    group by all
),

started as (
    select group_label, count(*) as n_started, from cohort group by group_label
),

final as (
    -- every group at every target, with zeros where nobody was evaluable
    select
        s.group_label as "group",
        t.target_day,
        t.window_days,
        s.n_started,
        coalesce(g.n_evaluable, 0) as n_evaluable,
        coalesce(g.n_responders, 0) as n_responders,
        coalesce(g.n_remission_eligible, 0) as n_remission_eligible,
        coalesce(g.n_remitters, 0) as n_remitters,
        g.mean_baseline,
        g.mean_score,
        g.mean_pct_change,
    from started s
    cross join targets t
    left join scored_groups g
        on g.group_label = s.group_label
        and g.target_day is not distinct from t.target_day
        and g.window_days is not distinct from t.window_days
    order by t.target_day nulls last, t.window_days, s.group_label
)

select * from final
