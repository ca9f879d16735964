-- The instruments with scores in the first 24 hours after the first dose (hours-level data, for the rapid-onset
-- view), most clients first.
-- Params: none
-- Grain: one row per instrument with such scores.
select instrument, count(distinct client_id) as n_clients,
from scored
where course_no = 1 and us_since_first_dose > 0 and us_since_first_dose <= days_us(1)
group by all
order by n_clients desc, instrument
