-- Follow-up scores of the first courses of the cohort's instrument (up to $max_day), with what the expected course
-- is conditioned on (baseline, modality) and what the alerts read (doses before the score, the response at the
-- primary timepoint): the data of dashboard/expected.py. One row per score; the caller caps how many it reads.
-- Params: $cohort STRUCT (the cohort: instrument, grouping and filters; dashboard/cohort.py, Cohort.sql()),
--         $max_day DOUBLE, $response_pct DOUBLE
-- Grain: one row per follow-up score (elapsed time > 0) of a client with a baseline above 0.
select
    s.client_id,
    c.baseline,
    c.modality,
    s.us_since_first_dose / 86400000000 as day,
    s.doses_before,
    s.score,
    c.pct_change_primary,
    c.pct_change_primary <= -$response_pct as responded_primary,
from scored s
join cohort($cohort) c on c.client_id = s.client_id and c.instrument = s.instrument
where s.course_no = 1
    and s.us_since_first_dose > 0
    and s.us_since_first_dose <= days_us($max_day)
order by s.client_id, s.us_since_first_dose
