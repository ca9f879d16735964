-- The mixed model for repeated measures' data (dashboard/outcomes.py, mmrm), summed per group and visit pattern so
-- that the model reads a few rows whatever the number of clients (dashboard/stats.py, compound_symmetry_reml). A
-- client's change is their score at a precomputed visit minus their baseline; their pattern is the set of visits
-- with a score (bit `bit` of the visit); their centred baseline is the baseline minus the mean baseline of the
-- group's clients in the model.
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $visits STRUCT(target_day DOUBLE, window_days DOUBLE, bit INTEGER)[] (the standard timepoints up to the
--         target, each with its bit)
-- Grain: one row per group and pattern; per-visit sums are lists in the order of the pattern's bits.
with visits as (
    select unnest($visits::struct(target_day double, window_days double, bit integer)[], recursive := true)
),

scores as (
    select t.group_label as "group", t.client_id, t.baseline, v.bit, t.score - t.baseline as change,
    from cohort_rows('timepoint_scores', $cohort) t
    join visits v on t.target_day = v.target_day and t.window_days = v.window_days
),

clients as (
    select
        "group",
        client_id,
        any_value(baseline) as baseline,
        bit_or(1 << bit) as pattern,
        count(*) as n_visits,
        sum(change) as total,
        sum(change * change) as squares,
    from scores
    group by all
),

centred as (
    select *, baseline - avg(baseline) over (partition by "group") as b,
    from clients
),

per_visit as (
    select s."group", c.pattern, s.bit, sum(s.change) as sum_y, sum(s.change * s.change) as sum_yy,
    from scores s
    join clients c on c."group" = s."group" and c.client_id = s.client_id
    group by all
),

per_pattern as (
    select
        "group",
        pattern,
        any_value(n_visits) as n_visits,
        count(*) as clients,
        sum(b) as sum_b,
        sum(b * b) as sum_bb,
        sum(total) as sum_t,
        sum(total * total) as sum_tt,
        sum(b * total) as sum_bt,
        sum(squares) as sum_yy,
    from centred
    group by all
)

select
    p.*,
    list(v.bit order by v.bit) as bits,
    list(v.sum_y order by v.bit) as visit_sum_y,
    list(v.sum_yy order by v.bit) as visit_sum_yy,
from per_pattern p
join per_visit v on v."group" = p."group" and v.pattern = p.pattern
group by all
order by p."group", p.pattern
