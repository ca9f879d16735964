-- Response and remission per cohort group at one timepoint (nearest score to $target_day within ± $window_days,
-- ties to the later score), or at the last observed score when $target_day is NULL.
-- Params: $instrument VARCHAR, $target_day DOUBLE, $window_days DOUBLE, $min_baseline DOUBLE, $group_by VARCHAR,
--         $modalities VARCHAR[], $integration BOOLEAN, $conditions VARCHAR[], $sites VARCHAR[],
--         $clinicians VARCHAR[], $age_bands VARCHAR[], $cohort_from VARCHAR, $cohort_to VARCHAR
-- Grain: one row per group. Started = first dose and a baseline > 0 (and >= $min_baseline when given).
with cohort as (
    select c.group_label, o.*,
    from cohort_courses(
        $modalities, $integration, $conditions, $sites, $clinicians, $age_bands,
        $cohort_from, $cohort_to, $group_by, $focus
    ) c
    join client_outcomes o using (client_id, course_no)
    where o.instrument = $instrument
        and o.baseline > 0
        and ($min_baseline is null or o.baseline >= $min_baseline)
),

at_target as (
    select
        s.client_id,
        arg_min(s.score, (abs(s.days_since_first_dose - $target_day), -s.days_since_first_dose)) as score,
    from scored s
    where $target_day is not null
        and s.instrument = $instrument
        and s.course_no = 1
        and s.days_since_first_dose > 0
        and abs(s.days_since_first_dose - $target_day) <= $window_days
    group by s.client_id
),

per_client as (
    select
        c.group_label,
        c.baseline,
        c.is_remitted_at_baseline,
        i.remission_max,
        case when $target_day is null then c.last_score else t.score end as score,
    from cohort c
    left join at_target t using (client_id)
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
        count(*) as n_started,
        count(score) as n_evaluable,
        count(*) filter (where pct_change <= -50) as n_responders,
        count(*) filter (where score is not null and not is_remitted_at_baseline) as n_remission_eligible,
        count(*) filter (where not is_remitted_at_baseline and score <= remission_max) as n_remitters,
        avg(baseline) filter (where score is not null) as mean_baseline,
        avg(score) as mean_score,
        avg(pct_change) as mean_pct_change,
    from outcomes
    group by group_label
    order by group_label
)

select * from final
