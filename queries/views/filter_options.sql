-- The values each sidebar filter can take, from the first courses in the database.
-- Params: none
-- Grain: one row per dimension and value.
with values_ as (
    select distinct 'modality' as dimension, modality as value from courses where course_no = 1
    union all select distinct 'condition', condition from courses where course_no = 1
    union all select distinct 'site', site from courses where course_no = 1
    union all select distinct 'clinician', clinician_id from courses where course_no = 1
    union all select distinct 'age_band', age_band from courses where course_no = 1
    union all select distinct 'cohort_month', cohort_month from courses where course_no = 1
    union all select distinct 'instrument', instrument from client_outcomes
),

final as (select * from values_ where value is not null order by dimension, value)

select * from final
