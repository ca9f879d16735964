-- The values each sidebar filter can take, from the first courses in the database: one dimension per column of
-- option_columns() (the 'values' filters of dashboard.cohort.FILTERS), plus the cohort months and the instruments.
-- Params: none
-- Grain: one row per dimension and value.
with firsts as (
    select columns(lambda c: list_contains(option_columns(), c))
    from courses
    where course_no = 1
),

values_ as (
    select distinct dimension, value
    from (unpivot firsts on columns(*) into name dimension value value)
    union all select distinct 'cohort_month', cohort_month from courses where course_no = 1
    union all select distinct 'instrument', instrument from client_outcomes
),

final as (select * from values_ where value is not null order by dimension, value)

select * from final
