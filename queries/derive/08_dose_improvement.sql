-- Each client's change at the first score after dose k (before dose k + 1), for k = 1 to 12 (first course),
-- precomputed so the early-improvement chart aggregates one row per client and dose; with the cohort's columns
-- and baseline copied from cohort_outcomes, so it needs no join to the cohort.
-- Params: none (uses scored and cohort_outcomes)
-- Grain: one row per client, instrument and dose number with a score after that dose (baseline > 0).
create or replace table dose_improvement as
with first_after as (
    select
        s.client_id,
        s.instrument,
        s.doses_before as dose_no,
        arg_min(s.score, s.us_since_first_dose) as score,
    from scored s
    where s.course_no = 1 and s.us_since_first_dose > 0 and s.doses_before between 1 and 12
    group by all
),

final as (
    select
        f.client_id, f.instrument, f.dose_no, 100.0 * (f.score - o.baseline) / o.baseline as pct_change,
        o.* exclude (client_id, instrument),
    from first_after f
    join (select client_id, instrument, baseline, columns(lambda c: list_contains(cohort_columns(), c)) from cohort_outcomes) o using (client_id, instrument)
    where o.baseline > 0
)

select * from final order by instrument, dose_no, client_id
