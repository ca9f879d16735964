-- The cohort filters: group_of labels a row with the chosen group (a whitelisted dimension); course_rows filters
-- any table that carries a first course's cohort columns (modality, has_integration, integration, condition, site,
-- clinician_id, age_band, cohort_month, cohort_quarter): courses, and the per-client derived tables that copy
-- them so views need no joins; cohort_courses is the clients' first courses.
-- Params: (macro arguments) p_table, a table's name (a constant in the query, never user input); instrument-free
--         filters; p_group_by is one of modality, integration, condition, site, clinician, age_band,
--         cohort_quarter, clinician_vs_rest (p_focus against everyone else), none. Lists that are NULL do not filter.
-- Grain: one row per row of p_table kept; cohort_courses one row per client's first course (later courses are
--        re-treatments, shown on client timelines).
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

create or replace macro course_rows(
    p_table, p_modalities, p_integration, p_conditions, p_sites, p_clinicians, p_age_bands,
    p_cohort_from, p_cohort_to, p_group_by, p_focus
) as table
select
    c.*,
    group_of(p_group_by, p_focus, c.modality, c.integration, c.condition, c.site, c.clinician_id, c.age_band,
             c.cohort_quarter) as group_label,
from query_table(p_table) c
where (p_modalities is null or list_contains(p_modalities, c.modality))
    and (p_integration is null or c.has_integration = p_integration)
    and (p_conditions is null or list_contains(p_conditions, c.condition))
    and (p_sites is null or list_contains(p_sites, c.site))
    and (p_clinicians is null or list_contains(p_clinicians, c.clinician_id))
    and (p_age_bands is null or list_contains(p_age_bands, c.age_band))
    and (p_cohort_from is null or c.cohort_month >= p_cohort_from)
    and (p_cohort_to is null or c.cohort_month <= p_cohort_to);

create or replace macro cohort_courses(
    p_modalities, p_integration, p_conditions, p_sites, p_clinicians, p_age_bands,
    p_cohort_from, p_cohort_to, p_group_by, p_focus
) as table
select *
from course_rows(
    'courses', p_modalities, p_integration, p_conditions, p_sites, p_clinicians, p_age_bands,
    p_cohort_from, p_cohort_to, p_group_by, p_focus
)
where course_no = 1
