-- Suicidal ideation (the instrument's safety item > 0, PHQ-9 item 9): at baseline, resolved, emerged.
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql())
-- Grain: one row per group.
with cohort as (
    select c.*,
    from cohort($cohort) c
),

final as (
    select
        group_label as "group",
        count(*) filter (where has_si_at_baseline is not null) as n_with_safety_item,
        count(*) filter (where has_si_at_baseline) as n_si_at_baseline,
        count(*) filter (where is_si_resolved is not null) as n_si_followed,
        count(*) filter (where is_si_resolved) as n_si_resolved,
        count(*) filter (where is_si_emerged is not null) as n_without_si_followed,
        count(*) filter (where is_si_emerged) as n_si_emerged,
    from cohort
    group by group_label
    order by "group"
)

select * from final
