-- Elapsed time in whole microseconds, the unit every boundary and tie is decided in (windows, ties, the lookback,
-- the course gap, the induction boundary, relapse gaps): integers compare exactly, floating-point days do not.
-- us_between(a, b): the microseconds from timestamp a to timestamp b; days_us(d): d days (a setting, possibly
-- fractional) as microseconds, rounded to the nearest one.
-- Params: none
create or replace macro us_between(p_from, p_to) as epoch_us(p_to) - epoch_us(p_from);

create or replace macro days_us(p_days) as round(p_days * 86400000000)::bigint;
