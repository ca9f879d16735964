-- Mean score with its SD per group and time bin (centred on multiples of $bin_days) since the first dose (each client counted once per bin, by
-- the mean of their scores in it), with the baseline as its own point at day 0.
-- Params: $instrument VARCHAR, $bin_days DOUBLE, $max_day DOUBLE, $min_baseline DOUBLE, $group_by VARCHAR,
--         $focus VARCHAR and the cohort filters of cohort_courses
-- Grain: one row per group and bin (bin_start -1 = baseline).
with cohort as (
    select c.group_label, o.client_id, o.course_no, o.baseline,
    from cohort_courses(
        $modalities, $integration, $conditions, $sites, $clinicians, $age_bands,
        $cohort_from, $cohort_to, $group_by, $focus
    ) c
    join client_outcomes o using (client_id, course_no)
    where o.instrument = $instrument
        and o.baseline > 0
        and ($min_baseline is null or o.baseline >= $min_baseline)
),

followups as (
    select
        c.group_label,
        s.client_id,
        round(s.days_since_first_dose / $bin_days) * $bin_days as bin_start,  -- bins centred on multiples
        s.days_since_first_dose as day,
        s.score,
        100.0 * (s.score - c.baseline) / c.baseline as pct_change,
    from scored s
    join cohort c using (client_id, course_no)
    where s.instrument = $instrument
        and s.days_since_first_dose > 0
        and s.days_since_first_dose <= $max_day
),

per_client as (
    select group_label, client_id, bin_start, avg(day) as day, avg(score) as score, avg(pct_change) as pct_change,
    from followups
    group by all
    union all
    select group_label, client_id, -1 as bin_start, 0 as day, baseline as score, 0 as pct_change,
    from cohort
),

final as (
    select
        group_label as "group",
        bin_start,
        avg(day) as x,
        count(*) as n_clients,
        avg(score) as mean,
        stddev_samp(score) as sd,
        avg(pct_change) as mean_pct_change,
        stddev_samp(pct_change) as sd_pct_change,
    from per_client
    group by group_label, bin_start
    order by "group", bin_start
)

select * from final
