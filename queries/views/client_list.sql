-- Pseudonymous client ids with a first course, optionally of one clinician's cohort.
-- Params: $clinician VARCHAR (NULL for all)
-- Grain: one row per client.
with final as (
    select client_id, modality, clinician_id, n_doses,
    from courses
    where course_no = 1 and ($clinician is null or clinician_id = $clinician)
    order by client_id
)

select * from final
