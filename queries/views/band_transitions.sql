-- Severity band at baseline and at a timepoint (nearest score within the window, ties to the later).
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $instrument VARCHAR (the cohort's instrument), $target_day DOUBLE, $window_days DOUBLE,
--         $standard BOOLEAN (a precomputed timepoint)
-- Grain: one row per (baseline band, timepoint band); clients without a score in the window are 'no score'.
with cohort as (
    select c.client_id, c.baseline,
    from cohort($cohort) c
),

at_target as (
    -- standard timepoints are precomputed in timepoint_scores with the cohort's columns: filtered, not joined
    select t.baseline, t.score,
    from cohort_rows('timepoint_scores', $cohort) t
    where $standard and t.target_day = $target_day and t.window_days = $window_days
    union all
    select c.baseline, s.score,
    from (
        select
            s.client_id,
            arg_min(s.score, (abs(s.us_since_first_dose - days_us($target_day)), -s.us_since_first_dose)) as score,
        from scored s
        where not $standard
            and s.instrument = $instrument
            and s.course_no = 1
            and s.us_since_first_dose > 0
            and abs(s.us_since_first_dose - days_us($target_day)) <= days_us($window_days)
        group by s.client_id
    ) s
    join cohort c using (client_id)
),

scored_pairs as (
    select baseline, score, count(*) as n_clients,
    from at_target
    group by baseline, score
),

pairs as (
    -- clients by (baseline, follow-up score) first: few distinct pairs, so banding them is cheap; the clients
    -- of a baseline without a score in the window are those its scored pairs leave over
    select baseline, score, n_clients,
    from scored_pairs
    union all
    select b.baseline, null as score, b.n_clients - coalesce(sum(p.n_clients), 0) as n_clients,
    from (select baseline, count(*) as n_clients, from cohort group by baseline) b
    left join scored_pairs p using (baseline)
    group by b.baseline, b.n_clients
    having b.n_clients > coalesce(sum(p.n_clients), 0)
),

banded as (
    select
        list_filter(i.bands, lambda b: p.baseline <= b.max)[1].label as from_band,
        list_position(list_transform(i.bands, lambda b: p.baseline <= b.max), true) as from_order,
        coalesce(list_filter(i.bands, lambda b: p.score <= b.max)[1].label, 'no score in window') as to_band,
        coalesce(list_position(list_transform(i.bands, lambda b: p.score <= b.max), true), 99) as to_order,
        p.n_clients,
    from pairs p
    join instruments i on i.name = $instrument
    where len(i.bands) > 0
),

final as (
    select from_band, to_band, sum(n_clients)::bigint as n_clients,
    from banded
    group by from_band, from_order, to_band, to_order
    order by from_order, to_order
)

select * from final
