-- A clinician's clients who need attention: suicidal ideation emerging (safety item), reliable deterioration,
-- or the non-improvement signal after dose 4 (settings.early_improvement_pct, default < 20%).
-- Params: $clinician VARCHAR, $instrument VARCHAR
-- Grain: one row per client and reason (pseudonymous ids only).
with mine as (
    select o.*, c.n_doses,
    from client_outcomes o
    join courses c using (client_id, course_no)
    where c.clinician_id = $clinician and o.instrument = $instrument
        and c.course_no = (select max(course_no) from courses x where x.client_id = c.client_id)
),

reasons as (
    select client_id, 'suicidal ideation emerged' as reason, round(si_first_day, 1) as day, null as pct_change,
    from mine where is_si_emerged
    union all
    select client_id, 'reliable deterioration', round(last_day, 1), round(last_pct_change, 1),
    from mine where is_reliable_deterioration
    union all
    select client_id, 'non-improvement after dose 4', null, round(pct_change_after_dose4, 1),
    from mine where has_non_improvement_signal
),

final as (select * from reasons order by client_id, reason)

select * from final
