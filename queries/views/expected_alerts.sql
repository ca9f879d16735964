-- The off-track alert's quality on past first courses (dashboard/expected.py, alert_quality): among the cohort's
-- clients evaluable at the primary timepoint (a percent change there) with a banded score in the alert window
-- (after the second dose, and at most $alert_dose doses before it or by day $alert_day), a client is flagged when
-- any of those scores is off track (queries/derive/12_expected_macro.sql).
-- Params: $cohort STRUCT, $coef STRUCT[], $condition_terms STRUCT[], $folds INTEGER, $max_day DOUBLE,
--         $response_pct DOUBLE, $alert_dose INTEGER, $alert_day DOUBLE
-- Grain: one row: flagged, non_responders, flagged_non_responders.
with per_client as (
    select client_id, bool_or(off_track) as flagged, any_value(responded_primary) as responded,
    from expected_scores($cohort, $coef, $condition_terms, $folds, $max_day, $response_pct, null)
    where doses_before >= 2
        and (doses_before <= $alert_dose or day <= $alert_day)
        and expected is not null
        and responded_primary is not null
    group by client_id
)

select
    count(*) filter (where flagged) as flagged,
    count(*) filter (where not responded) as non_responders,
    count(*) filter (where flagged and not responded) as flagged_non_responders,
from per_client
