-- One client's person-level outcomes per course and instrument (days, not dates).
-- Params: $client_id VARCHAR
-- Grain: one row per course and instrument.
with final as (
    select
        o.course_no,
        o.instrument,
        o.baseline,
        o.last_score,
        round(o.last_day, 1) as last_day,
        round(o.last_pct_change, 1) as last_pct_change,
        round(o.first_response_day, 1) as first_response_day,
        o.is_rapid_response,
        o.is_partial_response_primary,
        o.is_early_improvement,
        o.has_non_improvement_signal,
        o.is_sustained_response,
        o.has_relapsed,
        o.is_reliable_improvement,
        o.is_reliable_deterioration,
        o.has_si_at_baseline,
        o.is_si_resolved,
        o.is_si_emerged,
    from client_outcomes o
    where o.client_id = $client_id
    order by o.course_no, o.instrument
)

select * from final
