-- The expected course applied (dashboard/expected.py): a table macro over the cohort's follow-up scores up to
-- p_max_day of first courses, each with the upper bound from the model of the other folds: intercept (with the
-- modality's term) + baseline x b + log(1 + day) x t + log(1 + day)^2 x t2 + the condition's term (0 without
-- one); NULL where the client's fold has no model or no term for the modality. A client's fold: the first 8 hex
-- digits of the SHA-256 of their id, modulo p_folds. Off track: after the second dose (doses before >= 2) and
-- above the bound. Only the clients in the list p_clients, when it is not NULL. Used by
-- queries/views/expected_scores.sql and expected_alerts.sql.
-- Params: none (the macro takes the cohort, the models' coefficients, the folds, the last day, the response
-- threshold and the clients as its arguments)
create or replace macro expected_scores(
    p_cohort, p_coef, p_terms, p_folds, p_max_day, p_response_pct, p_clients
) as table
with coef as (
    select unnest(
        p_coef::struct(fold integer, modality varchar, intercept double, baseline double, t double, t2 double)[],
        recursive := true
    )
),

terms as (
    select unnest(p_terms::struct(fold integer, condition varchar, effect double)[], recursive := true)
),

clients as (
    select
        client_id,
        instrument,
        baseline,
        modality,
        condition,
        pct_change_primary <= -p_response_pct as responded_primary,
        (('0x' || sha256(client_id)[1:8])::ubigint % p_folds)::integer as fold,
    from cohort(p_cohort)
    where p_clients is null or client_id in (select unnest(p_clients::varchar[]))
),

scores as (
    select
        s.client_id,
        c.baseline,
        c.modality,
        c.condition,
        s.us_since_first_dose / 86400000000 as day,
        s.doses_before,
        s.score,
        c.responded_primary,
        c.fold,
    from scored s
    join clients c on c.client_id = s.client_id and c.instrument = s.instrument
    where s.course_no = 1
        and s.us_since_first_dose > 0
        and s.us_since_first_dose <= days_us(p_max_day)
),

banded as (
    select
        s.*,
        k.intercept + coalesce(d.effect, 0) + k.baseline * s.baseline + k.t * ln(1 + s.day)
        + k.t2 * ln(1 + s.day) ^ 2 as expected,
    from scores s
    left join coef k on k.fold = s.fold and k.modality = s.modality
    left join terms d on d.fold = s.fold and d.condition = s.condition
)

select *, coalesce(doses_before >= 2 and score > expected, false) as off_track,
from banded;
