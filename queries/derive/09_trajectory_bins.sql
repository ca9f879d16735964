-- Each client's mean score per time bin since the first dose, for the trajectory bin widths in the settings
-- (bins centred on multiples of the width), so a trajectory aggregates per-client bins, not every score; with
-- the cohort's columns and baseline copied from cohort_outcomes, so it needs no join to the cohort either.
-- Params: $bin_widths DOUBLE[], $max_day DOUBLE, $max_bins INTEGER (scores up to day max_day, and up to max_bins
--         widths of each bin width: half-day bins cover the first 26 days, weekly ones the year)
-- Grain: one row per client, instrument, bin width and bin (first course, after the first dose, baseline > 0).
create or replace table trajectory_bins as
with widths as (
    select unnest($bin_widths) as bin_days
),

binned as (
    select
        s.client_id,
        s.instrument,
        w.bin_days,
        round(s.us_since_first_dose / days_us(w.bin_days)) * w.bin_days as bin_start,
        s.days_since_first_dose as day,
        s.score,
        100.0 * (s.score - o.baseline) / o.baseline as pct_change,
    from scored s
    join (select client_id, instrument, baseline, columns(lambda c: list_contains(cohort_columns(), c)) from cohort_outcomes) o using (client_id, instrument)
    cross join widths w
    where s.course_no = 1
        and o.baseline > 0
        and s.us_since_first_dose > 0
        and s.us_since_first_dose <= days_us($max_day)
        and s.us_since_first_dose <= days_us(w.bin_days * $max_bins)
),

per_bin as (
    select client_id, instrument, bin_days, bin_start, avg(day) as day, avg(score) as score,
        avg(pct_change) as pct_change,
    from binned
    group by all
),

final as (
    select
        b.*,
        o.* exclude (client_id, instrument),
    from per_bin b
    join (select client_id, instrument, baseline, columns(lambda c: list_contains(cohort_columns(), c)) from cohort_outcomes) o using (client_id, instrument)
)

select * from final order by instrument, bin_days, client_id
