-- The outcome cohort: cohort_outcomes (or a per-client table with the same cohort columns, instrument and baseline)
-- filtered by the shared filters and labelled with the chosen group.
-- Params: (macro arguments) as course_rows, plus p_instrument and p_min_baseline; baseline > 0 always.
-- Grain: one row per client (first course) with a baseline above 0 for the instrument (per row of p_table).
create or replace macro cohort_rows(
    p_table, p_instrument, p_modalities, p_integration, p_conditions, p_sites, p_clinicians, p_age_bands,
    p_cohort_from, p_cohort_to, p_group_by, p_focus, p_min_baseline
) as table
select *
from course_rows(
    p_table, p_modalities, p_integration, p_conditions, p_sites, p_clinicians, p_age_bands,
    p_cohort_from, p_cohort_to, p_group_by, p_focus
) o
where o.instrument = p_instrument
    and o.baseline > 0
    and (p_min_baseline is null or o.baseline >= p_min_baseline);

create or replace macro cohort(
    p_instrument, p_modalities, p_integration, p_conditions, p_sites, p_clinicians, p_age_bands,
    p_cohort_from, p_cohort_to, p_group_by, p_focus, p_min_baseline
) as table
select *
from cohort_rows(
    'cohort_outcomes', p_instrument, p_modalities, p_integration, p_conditions, p_sites, p_clinicians,
    p_age_bands, p_cohort_from, p_cohort_to, p_group_by, p_focus, p_min_baseline
)
