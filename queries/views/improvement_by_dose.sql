-- Early improvement by dose number: the first score after dose k (before dose k + 1) against baseline
-- (precomputed in dose_improvement).
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $max_dose INTEGER, $improvement_pct DOUBLE, $response_pct DOUBLE (the response threshold, %)
-- Grain: one row per group and dose number.
with first_after as (
    -- dose_improvement carries the cohort's columns: filtered directly, no join
    select d.group_label, d.client_id, d.dose_no, d.pct_change,
    from cohort_rows('dose_improvement', $cohort) d
    where d.dose_no <= $max_dose
),

final as (
    select
        group_label as "group",
        dose_no,
        count(*) as n_clients,
        count(*) filter (where pct_change <= -$improvement_pct) as n_improved,
        count(*) filter (where pct_change <= -$response_pct) as n_responders,
        avg(pct_change) as mean_pct_change,
    from first_after
    group by group_label, dose_no
    order by "group", dose_no
)

select * from final
