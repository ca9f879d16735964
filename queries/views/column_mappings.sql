-- The column mappings saved by name (dashboard/ingest/mapping.py), newest first.
-- Params: none
-- Grain: one row per saved mapping.
select name, spec, saved_at
from column_mappings
order by saved_at desc, name
