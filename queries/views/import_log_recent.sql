-- The import log, newest first.
-- Params: $limit INTEGER
-- Grain: one row per imported file.
with log as (
    select
        import_id,
        file_name,
        kind,
        strftime(imported_at, '%Y-%m-%d %H:%M') as imported_at_utc,
        status,
        records_read,
        imported,
        rejected,
        unchanged_duplicates,
        replaced,
        left(sha256, 12) as sha256_prefix,
    from import_log
),

final as (select * from log order by import_id desc limit $limit)

select * from final
