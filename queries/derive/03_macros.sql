-- The cohort macros. A cohort is one STRUCT (dashboard/cohort.py, Cohort.sql()), bound as $cohort by the queries:
-- its fields are the instrument, the grouping (group_by, and focus for clinician_vs_rest) and one field per filter
-- of dashboard.cohort.FILTERS (NULL = no filter; a list selects any of its values). The filter conditions and the
-- column lists marked {{...}} are generated from that table when the derived tables are built (derive.rebuild),
-- so that a filter is declared once.
-- cohort_columns(): the first course's attributes every per-client derived table copies (so views filter them
--   without a join); option_columns(): the ones the sidebar offers the values of.
-- group_of: the group label of a row for the chosen grouping (a whitelisted dimension).
-- course_rows(p_table, p_cohort): the rows of a table carrying the cohort columns (courses, cohort_outcomes and the
--   per-client derived tables) that pass the filters, labelled with their group (group_label). p_table is a table's
--   name (a constant in the query, never user input).
-- cohort_courses(p_cohort): the clients' first courses that pass the filters (later courses are re-treatments).
-- cohort_rows(p_table, p_cohort): course_rows of a per-client table for the cohort's instrument, with a baseline
--   above 0 (and at least the minimum baseline, if one is set). cohort(p_cohort), the cohort_rows of
--   cohort_outcomes, is created once that table exists (11_cohort_macro.sql).
-- Params: none (the macros take the cohort as their argument)
create or replace macro cohort_columns() as {{cohort_columns}};

create or replace macro option_columns() as {{option_columns}};

create or replace macro group_of(
    p_group_by, p_focus, modality, integration, condition, site, clinician_id, age_band, cohort_quarter
) as case p_group_by
    when 'modality' then modality
    when 'integration' then integration
    when 'condition' then condition
    when 'site' then site
    when 'clinician' then clinician_id
    when 'age_band' then age_band
    when 'cohort_quarter' then cohort_quarter
    when 'clinician_vs_rest' then
        case when clinician_id = p_focus then 'this clinician' else 'rest of the practice' end
    else 'all'
end;

create or replace macro course_rows(p_table, p_cohort) as table
select
    c.*,
    group_of(
        p_cohort['group_by'], p_cohort['focus'], c.modality, c.integration, c.condition, c.site, c.clinician_id,
        c.age_band, c.cohort_quarter
    ) as group_label,
from query_table(p_table) c
where {{cohort_where}};

create or replace macro cohort_courses(p_cohort) as table
select * from course_rows('courses', p_cohort) where course_no = 1;

create or replace macro cohort_rows(p_table, p_cohort) as table
select *
from course_rows(p_table, p_cohort) o
where o.instrument = p_cohort['instrument']
    and o.baseline > 0
    and {{baseline_where}};
