-- The outcome cohort: one row per client (first course) and instrument of cohort_outcomes in the cohort $cohort
-- (see 03_macros.sql), labelled with its group; created last, once cohort_outcomes exists.
-- Params: none (the macro takes the cohort as its argument)
create or replace macro cohort(p_cohort) as table
select * from cohort_rows('cohort_outcomes', p_cohort);
