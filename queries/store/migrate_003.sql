-- Schema 3: the views' derived tables carry the cohort's columns (timepoint_scores now holds first courses only)
-- and maintenance_weeks is new. Derived tables only: the old shapes are dropped here and the migration's rebuild
-- (store._migrate) creates the new ones from the stored tables.
-- Params: none
-- Grain: no table of its own.
drop table if exists timepoint_scores;
drop table if exists trajectory_bins;
drop table if exists dose_improvement;
