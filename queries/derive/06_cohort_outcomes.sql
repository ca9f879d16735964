-- The analysis cohort in one table: each client's first course with its grouping attributes and outcomes per
-- instrument, so the views' cohort filters and groupings need no joins.
-- Params: none (uses courses and client_outcomes)
-- Grain: one row per client and instrument with a baseline (first course only).
create or replace table cohort_outcomes as
select
    c.* exclude (course_no, window_start, window_end),
    o.* exclude (client_id),
from courses c
join client_outcomes o using (client_id, course_no)
where c.course_no = 1
order by o.instrument, c.client_id
