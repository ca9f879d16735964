-- Response and remission per cohort group and timepoint: the score nearest each target day within its window
-- (ties to the later score) and the last observed score (the target with day NULL).
-- Params: $instrument VARCHAR, $standard_targets STRUCT(target_day DOUBLE, window_days DOUBLE)[] (precomputed timepoints),
--         $custom_targets STRUCT(target_day DOUBLE, window_days DOUBLE)[] (any others, found among all the scores),
--         $include_last BOOLEAN, $min_baseline DOUBLE, $group_by VARCHAR, $focus VARCHAR,
--         $modalities VARCHAR[], $integration BOOLEAN, $conditions VARCHAR[], $sites VARCHAR[],
--         $clinicians VARCHAR[], $age_bands VARCHAR[], $cohort_from VARCHAR, $cohort_to VARCHAR
-- Grain: one row per group and timepoint. Started = first dose and a baseline > 0 (>= $min_baseline if given).
with cohort as (
    select c.*,
    from cohort(
        $instrument, $modalities, $integration, $conditions, $sites, $clinicians, $age_bands,
        $cohort_from, $cohort_to, $group_by, $focus, $min_baseline
    ) c
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

-- standard timepoints are precomputed per client; any other is found among all the scores
at_target as (
    select t.target_day, t.window_days, t.client_id, t.score,
    from timepoint_scores t
    join standard x on t.target_day = x.target_day and t.window_days = x.window_days
    where t.instrument = $instrument and t.course_no = 1
    union all
    select
        x.target_day,
        x.window_days,
        s.client_id,
        arg_min(s.score, (abs(s.days_since_first_dose - x.target_day), -s.days_since_first_dose)) as score,
    from scored s
    join custom x on abs(s.days_since_first_dose - x.target_day) <= x.window_days
    where s.instrument = $instrument
        and s.course_no = 1
        and s.days_since_first_dose > 0
    group by all
),

per_client as (
    select
        c.group_label,
        t.target_day,
        t.window_days,
        c.baseline,
        c.is_remitted_at_baseline,
        i.remission_max,
        case when t.target_day is null then c.last_score else a.score end as score,
    from cohort c
    cross join targets t
    left join at_target a
        on a.client_id = c.client_id and a.target_day = t.target_day and a.window_days = t.window_days
    join instruments i on i.name = $instrument
),

outcomes as (
    select
        *,
        100.0 * (score - baseline) / baseline as pct_change,
    from per_client
),

final as (
    select
        group_label as "group",
        target_day,
        window_days,
        count(*) as n_started,
        count(score) as n_evaluable,
        count(*) filter (where pct_change <= -50) as n_responders,
        count(*) filter (where score is not null and not is_remitted_at_baseline) as n_remission_eligible,
        count(*) filter (where not is_remitted_at_baseline and score <= remission_max) as n_remitters,
        avg(baseline) filter (where score is not null) as mean_baseline,
        avg(score) as mean_score,
        avg(pct_change) as mean_pct_change,
    from outcomes
    group by group_label, target_day, window_days
    order by target_day nulls last, group_label
)

select * from final
