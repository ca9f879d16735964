-- The expected course applied to the cohort's follow-up scores (dashboard/expected.py, bands; the rule is the
-- expected_scores macro's, queries/derive/12_expected_macro.sql): only $clients' when given, only the off-track
-- scores when $only_off_track.
-- Params: $cohort STRUCT (dashboard/cohort.py, Cohort.sql()), $coef STRUCT(fold, modality, intercept, baseline, t,
--         t2)[], $condition_terms STRUCT(fold, condition, effect)[], $folds INTEGER, $max_day DOUBLE,
--         $response_pct DOUBLE, $clients VARCHAR[] (NULL: every client), $only_off_track BOOLEAN
-- Grain: one row per follow-up score (elapsed time > 0) of a client with a baseline above 0.
select *
from expected_scores($cohort, $coef, $condition_terms, $folds, $max_day, $response_pct, $clients)
where off_track or not $only_off_track
order by client_id, day
