-- Dosing sessions given before the first response, for responders (median shown on the overview).
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql())
-- Grain: one row per group: responders, and the median and quartiles of doses before the first response.
with doses as (
    select c.group_label, c.n_doses_before_response,
    from cohort($cohort) c
    where c.first_response_day is not null
),

final as (
    select
        group_label as "group",
        count(*) as n_responders,
        median(n_doses_before_response) as median_doses,
        quantile_cont(n_doses_before_response, 0.25) as q1_doses,
        quantile_cont(n_doses_before_response, 0.75) as q3_doses,
    from doses
    group by group_label
    order by "group"
)

select * from final
