-- Mean score with its SD per group and time bin (centred on multiples of $bin_days) since the first dose (each client counted once per bin, by
-- the mean of their scores in it; precomputed in trajectory_bins for the widths in the settings), with the
-- baseline as its own point at day 0.
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $bin_days DOUBLE, $max_day DOUBLE
-- Grain: one row per group and bin (bin_start -1 = baseline).
with per_client as (
    -- trajectory_bins carries the cohort's columns: filtered directly, no join
    select b.group_label, b.bin_start, b.day, b.score, b.pct_change,
    from cohort_rows('trajectory_bins', $cohort) b
    where b.bin_days = $bin_days and b.day <= $max_day
    union all
    select c.group_label, -1 as bin_start, 0 as day, c.baseline as score, 0 as pct_change,
    from cohort($cohort) c
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
