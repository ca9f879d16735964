-- Early improvement by dose number: the first score after dose k (before dose k + 1) against baseline
-- (precomputed in dose_improvement).
-- Params: $instrument VARCHAR, $max_dose INTEGER, $improvement_pct DOUBLE, $min_baseline DOUBLE,
--         $group_by VARCHAR and the cohort filters of cohort_courses
-- Grain: one row per group and dose number.
with first_after as (
    -- dose_improvement carries the cohort's columns: filtered directly, no join
    select d.group_label, d.client_id, d.dose_no, d.pct_change,
    from cohort_rows(
        'dose_improvement', $instrument, $modalities, $integration, $conditions, $sites, $clinicians, $age_bands,
        $cohort_from, $cohort_to, $group_by, $focus, $min_baseline
    ) d
    where d.dose_no <= $max_dose
),

final as (
    select
        group_label as "group",
        dose_no,
        count(*) as n_clients,
        count(*) filter (where pct_change <= -$improvement_pct) as n_improved,
        count(*) filter (where pct_change <= -50) as n_responders,
        avg(pct_change) as mean_pct_change,
    from first_after
    group by group_label, dose_no
    order by "group", dose_no
)

select * from final
