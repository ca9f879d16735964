-- How much is stored: clients, sessions, dosing sessions, scores, instruments in use, imports.
-- Params: none
-- Grain: one row.
with counts as (
    select
        (select count(*) from (select client_id from clients union select client_id from sessions
                               union select client_id from scores)) as n_clients,
        (select count(*) from sessions) as n_sessions,
        (select count(*) from sessions where session_type = 'dosing') as n_dosing_sessions,
        (select count(*) from scores) as n_scores,
        (select count(distinct instrument) from scores) as n_instruments_used,
        (select count(*) from import_log) as n_imports,
        (select strftime(max(assessed_at), '%Y-%m') from scores) as latest_score_month
),

final as (select * from counts)

select * from final
