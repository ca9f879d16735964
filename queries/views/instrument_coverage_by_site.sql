-- Clients with at least one score of each instrument, by site (data quality).
-- Params: none
-- Grain: one row per site and instrument.
with client_site as (
    select client_id, coalesce(any_value(site), '(no site)') as site
    from (
        select client_id, site from clients
        union all
        select client_id, site from sessions
    )
    group by client_id
),

scored as (
    select distinct client_id, instrument from scores
),

final as (
    select
        coalesce(cs.site, '(no site)') as site,
        s.instrument,
        count(*) as n_clients,
    from scored s
    left join client_site cs using (client_id)
    group by all
    order by site, instrument
)

select * from final
