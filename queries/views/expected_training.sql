-- The expected course's training data (dashboard/expected.py, fit): the follow-up scores up to $max_day of the
-- first courses of the clinic's clients with a baseline above 0, for at most $sample_clients clients (taken in the
-- order of the SHA-256 of "s" and their id: a stable sample), each with their fold (the first 8 hex digits of the
-- SHA-256 of their id, modulo $folds) and what the model is conditioned on.
-- Params: $cohort STRUCT (the whole clinic's cohort of the instrument: no filters; dashboard/cohort.py),
--         $max_day DOUBLE, $folds INTEGER, $sample_clients INTEGER
-- Grain: one row per follow-up score (elapsed time > 0) of a sampled client.
with sampled as (
    select
        client_id,
        instrument,
        baseline,
        modality,
        condition,
        (('0x' || sha256(client_id)[1:8])::ubigint % $folds)::integer as fold,
    from cohort($cohort)
    qualify row_number() over (order by sha256('s' || client_id)) <= $sample_clients
)

select
    c.client_id,
    c.fold,
    c.baseline,
    c.modality,
    c.condition,
    s.us_since_first_dose / 86400000000 as day,
    s.score,
from scored s
join sampled c on c.client_id = s.client_id and c.instrument = s.instrument
where s.course_no = 1
    and s.us_since_first_dose > 0
    and s.us_since_first_dose <= days_us($max_day)
order by c.client_id, s.us_since_first_dose
