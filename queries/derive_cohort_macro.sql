-- The outcome cohort: cohort_outcomes filtered by the shared filters and labelled with the chosen group.
-- Params: (macro arguments) as cohort_courses, plus p_instrument and p_min_baseline; baseline > 0 always.
-- Grain: one row per client (first course) with a baseline above 0 for the instrument.
create or replace macro cohort(
    p_instrument, p_modalities, p_integration, p_conditions, p_sites, p_clinicians, p_age_bands,
    p_cohort_from, p_cohort_to, p_group_by, p_focus, p_min_baseline
) as table
select
    o.*,
    group_of(p_group_by, p_focus, o.modality, o.integration, o.condition, o.site, o.clinician_id, o.age_band,
             o.cohort_quarter) as group_label,
from cohort_outcomes o
where o.instrument = p_instrument
    and o.baseline > 0
    and (p_min_baseline is null or o.baseline >= p_min_baseline)
    and (p_modalities is null or list_contains(p_modalities, o.modality))
    and (p_integration is null or o.has_integration = p_integration)
    and (p_conditions is null or list_contains(p_conditions, o.condition))
    and (p_sites is null or list_contains(p_sites, o.site))
    and (p_clinicians is null or list_contains(p_clinicians, o.clinician_id))
    and (p_age_bands is null or list_contains(p_age_bands, o.age_band))
    and (p_cohort_from is null or o.cohort_month >= p_cohort_from)
    and (p_cohort_to is null or o.cohort_month <= p_cohort_to)
