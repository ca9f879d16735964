-- The rejected rows of one import, as stored (values already masked).
-- Params: $import_id INTEGER
-- Grain: one row per rejected input row.
with rejects as (
    select l.file_name as file, r.line, r.column_name as "column", r.reason, r.value_masked as value
    from import_rejects r
    join import_log l using (import_id)
    where r.import_id = $import_id
),

final as (select * from rejects order by line)

select * from final
