-- Dosing sessions given before the first response, for responders (median shown on the overview).
-- Params: $instrument VARCHAR, $min_baseline DOUBLE, $group_by VARCHAR, $focus VARCHAR, the cohort filters
-- Grain: one row per group: responders, and the median and quartiles of doses before the first response.
with cohort as (
    select c.group_label, o.client_id, o.course_no, o.first_response_day,
    from cohort_courses(
        $modalities, $integration, $conditions, $sites, $clinicians, $age_bands,
        $cohort_from, $cohort_to, $group_by, $focus
    ) c
    join client_outcomes o using (client_id, course_no)
    where o.instrument = $instrument
        and o.baseline > 0
        and ($min_baseline is null or o.baseline >= $min_baseline)
        and o.first_response_day is not null
),

doses as (
    select c.group_label, c.client_id, count(d.client_id) as n_doses_before,
    from cohort c
    left join dose_events d
        on d.client_id = c.client_id
        and d.course_no = c.course_no
        and d.days_since_first_dose < c.first_response_day
    group by all
),

final as (
    select
        group_label as "group",
        count(*) as n_responders,
        median(n_doses_before) as median_doses,
        quantile_cont(n_doses_before, 0.25) as q1_doses,
        quantile_cont(n_doses_before, 0.75) as q3_doses,
    from doses
    group by group_label
    order by "group"
)

select * from final
