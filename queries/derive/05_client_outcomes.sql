-- Person-level outcomes (DOMAIN.md §4) for every client, course and instrument with a baseline.
-- Params: $response_pct DOUBLE (response: a reduction of at least this many percent), $partial_pct DOUBLE
--         (partial response: at least this, short of a response), $rapid_day DOUBLE, $rapid_window_days DOUBLE,
--         $primary_day DOUBLE, $primary_window_days DOUBLE,
--         $induction_days INTEGER, $early_pct DOUBLE, $relapse_gap_min DOUBLE, $relapse_gap_max DOUBLE
-- Grain: one row per client, course and instrument that has a baseline score.
create or replace table client_outcomes as
with baselines as (
    -- the last score at or before the first dose (scored already starts $lookback_days before it)
    select
        client_id,
        course_no,
        instrument,
        arg_max(score, assessed_at) as baseline,
        max(days_since_first_dose) as baseline_day,
        arg_max(has_safety_item, assessed_at) as baseline_has_safety_item,
        arg_max(has_safety_flag, assessed_at) as baseline_safety_flag,
    from scored
    where us_since_first_dose <= 0
    group by client_id, course_no, instrument
),

followups as (
    select
        s.client_id,
        s.course_no,
        s.instrument,
        s.us_since_first_dose as us,
        s.days_since_first_dose as day,
        s.score,
        s.doses_before,
        s.has_safety_item,
        s.has_safety_flag,
        case when b.baseline > 0 then 100.0 * (s.score - b.baseline) / b.baseline end as pct_change,
    from scored s
    join baselines b using (client_id, course_no, instrument)
    where s.us_since_first_dose > 0
),

summary as (
    select
        client_id,
        course_no,
        instrument,
        count(*)::integer as n_followups,
        max(day) as last_day,
        max(us) as last_us,
        arg_max(score, day) as last_score,
        min(day) filter (where pct_change <= -$response_pct) as first_response_day,
        min(us) filter (where pct_change <= -$response_pct) as first_response_us,
        arg_min(doses_before, us) filter (where pct_change <= -$response_pct) as n_doses_before_response,
        -- the first score after dose k (before dose k + 1)
        arg_min(pct_change, us) filter (where doses_before = 1) as pct_change_after_dose1,
        arg_min(pct_change, us) filter (where doses_before = 2) as pct_change_after_dose2,
        arg_min(pct_change, us) filter (where doses_before = 4) as pct_change_after_dose4,
        -- nearest to the target within the window (both ends included), ties to the later score
        arg_min(pct_change, (abs(us - days_us($rapid_day)), -us))
            filter (where abs(us - days_us($rapid_day)) <= days_us($rapid_window_days)) as pct_change_24h,
        arg_min(pct_change, (abs(us - days_us($primary_day)), -us))
            filter (where abs(us - days_us($primary_day)) <= days_us($primary_window_days)) as pct_change_primary,
        arg_min(us, (abs(us - days_us($primary_day)), -us))
            filter (where abs(us - days_us($primary_day)) <= days_us($primary_window_days)) as primary_us_observed,
        bool_or(has_safety_flag) as safety_flag_any,
        min(day) filter (where has_safety_flag) as safety_flag_first_day,
        arg_max(has_safety_flag, day) filter (where has_safety_item) as safety_flag_last,
    from followups
    group by client_id, course_no, instrument
),

lapses as (
    -- non-response assessments between the first response and the primary timepoint's score
    select f.client_id, f.course_no, f.instrument, count(*)::integer as n_lapses,
    from followups f
    join summary s using (client_id, course_no, instrument)
    where f.us > s.first_response_us and f.us < s.primary_us_observed and f.pct_change > -$response_pct
    group by f.client_id, f.course_no, f.instrument
),

after_response as (
    select
        f.*,
        lead(f.us) over w as next_us,
        lead(f.pct_change) over w as next_pct_change,
    from followups f
    join summary s using (client_id, course_no, instrument)
    where f.us > s.first_response_us
    window w as (partition by f.client_id, f.course_no, f.instrument order by f.us)
),

relapses as (
    -- two consecutive assessments under a 50% reduction, 5 to 15 days apart (both ends included); relapse dates
    -- from the first of the two
    select client_id, course_no, instrument, min(day) as relapse_day,
    from after_response
    where pct_change > -$response_pct
        and next_pct_change > -$response_pct
        and next_us - us between days_us($relapse_gap_min) and days_us($relapse_gap_max)
    group by client_id, course_no, instrument
),

joined as (
    select
        b.*,
        i.remission_max,
        i.reliable_change,
        coalesce(s.n_followups, 0) as n_followups,
        s.last_day,
        s.last_us,
        s.last_score,
        s.first_response_day,
        s.first_response_us,
        s.n_doses_before_response,
        s.pct_change_after_dose1,
        s.pct_change_after_dose2,
        s.pct_change_after_dose4,
        s.pct_change_24h,
        s.pct_change_primary,
        s.safety_flag_any,
        s.safety_flag_first_day,
        s.safety_flag_last,
        coalesce(l.n_lapses, 0) as n_lapses,
        r.relapse_day,
    from baselines b
    join instruments i on i.name = b.instrument
    left join summary s using (client_id, course_no, instrument)
    left join lapses l using (client_id, course_no, instrument)
    left join relapses r using (client_id, course_no, instrument)
),

final as (
    select
        client_id,
        course_no,
        instrument,
        baseline,
        baseline_day,
        baseline > 0 as is_response_eligible,
        remission_max is not null and baseline <= remission_max as is_remitted_at_baseline,
        n_followups,
        last_day,
        last_us as last_us_since_first_dose,
        last_score,
        case when baseline > 0 then 100.0 * (last_score - baseline) / baseline end as last_pct_change,
        first_response_day,
        case when baseline > 0 then first_response_day is not null end as ever_responded,
        n_doses_before_response,
        coalesce(first_response_day, last_day, 0) as days_to_response_or_censor,
        pct_change_after_dose1,
        pct_change_after_dose2,
        pct_change_after_dose4,
        pct_change_after_dose1 <= -$early_pct as is_early_improvement_dose1,
        pct_change_after_dose2 <= -$early_pct as is_early_improvement_dose2,
        case
            when pct_change_after_dose1 is null and pct_change_after_dose2 is null then null
            else coalesce(pct_change_after_dose1 <= -$early_pct, false)
                or coalesce(pct_change_after_dose2 <= -$early_pct, false)
        end as is_early_improvement,
        pct_change_after_dose4 > -$early_pct as has_non_improvement_signal,
        pct_change_24h,
        pct_change_24h <= -$response_pct as is_rapid_response,
        pct_change_primary,
        case when pct_change_primary is not null
            then pct_change_primary <= -$partial_pct and pct_change_primary > -$response_pct
        end as is_partial_response_primary,
        case
            -- eligible: responded at 24 h or during induction; missing primary score = not met
            when coalesce(pct_change_24h <= -$response_pct, false) or first_response_us < days_us($induction_days)
                then coalesce(pct_change_primary <= -$response_pct, false) and n_lapses <= 1
        end as is_sustained_response,
        case when n_followups > 0 and reliable_change is not null
            then baseline - last_score >= reliable_change end as is_reliable_improvement,
        case when n_followups > 0 and reliable_change is not null
            then last_score - baseline >= reliable_change end as is_reliable_deterioration,
        case when first_response_day is not null then relapse_day is not null end as has_relapsed,
        relapse_day,
        case when first_response_day is not null
            then coalesce(relapse_day, last_day) - first_response_day end as days_response_to_relapse_or_censor,
        case when baseline_has_safety_item then baseline_safety_flag end as has_si_at_baseline,
        case when baseline_has_safety_item and baseline_safety_flag and safety_flag_last is not null
            then not safety_flag_last end as is_si_resolved,
        case when baseline_has_safety_item and not baseline_safety_flag
            then coalesce(safety_flag_any, false) end as is_si_emerged,
        safety_flag_first_day as si_first_day,
    from joined
)

select * from final
